"""Atomic writes: the old file or the new one, never half of one, and no litter."""

import pytest

from vaekit.files import atomic_write, atomic_write_via_path


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, interrupt):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")

    def half_write(f):
        f.write(b"half of the new")
        raise interrupt  # a kill, or a full disk, between write and rename

    with pytest.raises(interrupt):
        atomic_write(target, half_write)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.bin"]


def test_writes_text_and_bytes_and_replaces(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write(target, lambda f: f.write("one"), mode="w")
    atomic_write(target, lambda f: f.write(b"two"))
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_path_based_writers_are_atomic_too(tmp_path):
    target = tmp_path / "t.csv"
    atomic_write_via_path(target, lambda name: open(name, "w").write("a,b\n"))
    assert target.read_text() == "a,b\n"

    def failing(name):
        open(name, "w").write("partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write_via_path(target, failing)
    assert target.read_text() == "a,b\n" and [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "a.txt", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644

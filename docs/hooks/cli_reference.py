"""MkDocs hook: the CLI reference page (cli.md), generated from ``vaekit.cli.build_parser``.

Never hand-copied: every subcommand (nested ones like ``detect fit`` too) gets
a section with its description, its usage line and a table of its arguments,
read from the parser's actions, so the page is the ``--help`` of the installed code.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Iterator

from mkdocs.structure.files import File, Files

from vaekit.cli import build_parser

WIDTH = 100  # usage lines wrap here whatever the terminal the build runs in


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``(("detect", "fit"), parser)`` for every subcommand, depth first, in ``--help`` order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from subcommands(sub, (*path, name))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _argument_row(action: argparse.Action) -> str:
    if action.option_strings:
        name = ", ".join(f"`{s}`" for s in action.option_strings)
        if action.nargs != 0:
            name += f" `{action.metavar or action.dest.upper()}`"
    else:
        name = f"`{action.metavar or action.dest.upper()}`"
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        name += "<br>" + " \\| ".join(f"`{c}`" for c in action.choices)
    default = ""
    if action.required:
        default = "required"
    elif action.nargs != 0 and action.default not in (None, argparse.SUPPRESS) and action.option_strings:
        default = f"`{action.default}`"
    help_text = (action.help or "") % {"default": action.default, "prog": ""} if action.help else ""
    return f"| {_cell(name)} | {default} | {_cell(help_text)} |"


def _usage(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=WIDTH)
    return parser.format_usage().strip()


def render(parser: argparse.ArgumentParser) -> str:
    out = [
        "# CLI reference",
        "",
        "Generated from `vaekit.cli.build_parser` when the site is built: the same text as "
        "`vaekit COMMAND --help`.",
        "",
        f"```text\n{_usage(parser)}\n```",
        "",
        parser.description or "",
        "",
    ]
    commands = list(subcommands(parser))
    out += [f"- [`vaekit {' '.join(path)}`](#vaekit-{'-'.join(path)})" for path, _ in commands]
    for path, sub in commands:
        out += ["", f"## vaekit {' '.join(path)}", "", sub.description or "", "", f"```text\n{_usage(sub)}\n```", ""]
        rows = [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        if rows:
            out += ["| argument | default | meaning |", "|---|---|---|", *(_argument_row(a) for a in rows)]
    return "\n".join(out) + "\n"


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "cli.md", content=render(build_parser())))
    return files

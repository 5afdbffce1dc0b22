"""``python -m vaekit``: the command line, also as ``torchrun ... -m vaekit train ...``."""

import sys

from vaekit.cli import main

if __name__ == "__main__":
    sys.exit(main())

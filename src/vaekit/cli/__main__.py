"""``python -m vaekit.cli``: the command line, as the ``vaekit`` script runs it."""

import sys

from vaekit.cli import main

if __name__ == "__main__":
    sys.exit(main())

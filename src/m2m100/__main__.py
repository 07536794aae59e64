"""`python -m m2m100 ...`: the same as the `m2m100` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

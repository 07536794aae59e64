"""`python -m m2m100.train ...` = `m2m100 train ...`; the entry point for `torchrun -m m2m100.train`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

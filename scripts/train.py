"""`python scripts/train.py --help`: the same tool as `jaxgan-train`."""

import sys

from jaxgan.cli.train import entry

if __name__ == "__main__":
    sys.exit(entry())

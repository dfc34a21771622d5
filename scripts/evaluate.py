"""`python scripts/evaluate.py --help`: the same tool as `jaxgan-evaluate`."""

import sys

from jaxgan.cli.evaluate import entry

if __name__ == "__main__":
    sys.exit(entry())

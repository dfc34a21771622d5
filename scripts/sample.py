"""`python scripts/sample.py --help`: the same tool as `jaxgan-sample`."""

import sys

from jaxgan.cli.sample import entry

if __name__ == "__main__":
    sys.exit(entry())

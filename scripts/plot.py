"""`python scripts/plot.py --help`: the same tool as `jaxgan-plot`."""

import sys

from jaxgan.cli.plot import entry

if __name__ == "__main__":
    sys.exit(entry())

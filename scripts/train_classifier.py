"""`python scripts/train_classifier.py --help`: the same tool as `jaxgan-train-classifier`."""

import sys

from jaxgan.cli.train_classifier import entry

if __name__ == "__main__":
    sys.exit(entry())

"""Train (or retrain) the MNIST classifier behind jaxgan's metrics and cache it."""

from __future__ import annotations

import sys
from typing import Sequence

from jaxgan import cli


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.Parser(description=__doc__)
    cli.add_data_args(parser)
    parser.add_argument("--epochs", type=cli.positive_int, default=None,
                        help="training epochs (default: jaxgan's recipe, 5)")
    parser.add_argument("--force", action="store_true", help="retrain even if cached")
    args = parser.parse_args(argv)
    from jaxgan import classifier
    from jaxgan.data import default_cache_dir, load_dataset

    cache = cli.cache_dir(args) or default_cache_dir()
    path = classifier.checkpoint_path(cache)
    if path.exists() and not args.force:
        params = classifier.load(path)
    else:
        images, labels = load_dataset("mnist", "train", args.data_dir, cache)
        params = classifier.train(images, labels, epochs=args.epochs or classifier.TRAIN_EPOCHS)
        classifier.save(params, path)
    test_images, test_labels = load_dataset("mnist", "test", args.data_dir, cache)
    print(f"classifier {path}: test accuracy {classifier.accuracy(params, test_images, test_labels):.4f}")


if __name__ == "__main__":
    sys.exit(cli.run(main))

"""Train (or retrain) the MNIST classifier behind jaxgan's metrics with its fixed recipe and cache
it; with --export, write it and the test set's feature statistics as the files jaxgan ships, and
compare them with the shipped ones."""

from __future__ import annotations

from collections.abc import Sequence

from jaxgan import classifier, cli
from jaxgan.data import load_dataset
from jaxgan.files import default_cache_dir


def parse_args(argv: Sequence[str] | None):
    parser = cli.Parser(description=__doc__)
    cli.add_data_args(parser)
    parser.add_argument("--force", action="store_true", help="retrain even if cached")
    parser.add_argument(
        "--export",
        metavar="DIR",
        default=None,
        help="write mnist_classifier.npz and mnist_test_features.npz into DIR",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)

    cache = cli.cache_dir(args) or default_cache_dir()
    params, test_accuracy = classifier.load_or_train(cache, args.data_dir, force=args.force)
    print(f"evaluation classifier: test accuracy {test_accuracy:.4f}")
    if args.export:
        test_images, _ = load_dataset("test", args.data_dir, cache)
        for name, digest in classifier.export(params, test_images, args.export).items():
            same = (
                "the shipped file"
                if digest == classifier.SHIPPED_SHA256[name]
                else "differs from the shipped file"
            )
            print(f"{args.export}/{name}: sha256 {digest} ({same})")


def entry() -> int:
    return cli.execute(main)

"""Train (or retrain) the MNIST classifier behind jaxgan's metrics and cache it."""

from __future__ import annotations

from collections.abc import Sequence

from jaxgan import cli


def parse_args(argv: Sequence[str] | None):
    parser = cli.Parser(description=__doc__)
    cli.add_data_args(parser)
    parser.add_argument("--force", action="store_true", help="retrain even if cached")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    from jaxgan import classifier
    from jaxgan.data import default_cache_dir

    _, test_accuracy = classifier.load_or_train(cli.cache_dir(args) or default_cache_dir(),
                                                args.data_dir, force=args.force)
    print(f"evaluation classifier: test accuracy {test_accuracy:.4f}")


def entry() -> int:
    return cli.execute(main)

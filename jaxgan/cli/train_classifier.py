"""Train (or retrain) the two networks behind jaxgan's metrics, the MNIST classifier and the
label-free encoder, with their fixed recipes, and cache them; with --export, write them and the
test set's features as the files jaxgan ships, and compare them with the shipped ones."""

from __future__ import annotations

from collections.abc import Sequence

from jaxgan import classifier, cli, encoder
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
        help="write the four shipped files (the networks' weights, the test set's features) to DIR",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)

    cache = cli.cache_dir(args) or default_cache_dir()
    params, test_accuracy = classifier.load_or_train(cache, args.data_dir, force=args.force)
    print(f"evaluation classifier: test accuracy {test_accuracy:.4f}")
    encoder_params = encoder.load_or_train(cache, args.data_dir, force=args.force)
    if args.export:
        test_images, _ = load_dataset("test", args.data_dir, cache)
        for network, digests in [
            (classifier.CLASSIFIER, classifier.export(params, test_images, args.export)),
            (encoder.ENCODER, encoder.export(encoder_params, test_images, args.export)),
        ]:
            for name, digest in digests.items():
                same = network.shipped[name] == digest
                print(
                    f"{args.export}/{name}: sha256 {digest} "
                    f"({'the shipped file' if same else 'differs from the shipped file'})"
                )


def entry() -> int:
    return cli.execute(main)

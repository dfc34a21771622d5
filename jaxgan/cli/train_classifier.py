"""Train (or retrain) the networks behind jaxgan's metrics with their fixed recipes, and cache
them. MNIST's (the classifier and the label-free encoder): with --export, write them and the test
set's features as the files jaxgan ships, and compare them with the shipped ones. Another
dataset's (--dataset NAME, --data FILE.npz): build its reference, which evaluate.py then scores
its runs against."""

from __future__ import annotations

from collections.abc import Sequence

from jaxgan import classifier, cli, encoder, networks, references
from jaxgan.config import MNIST
from jaxgan.data import load_data, load_dataset, read_npz
from jaxgan.errors import ConfigError
from jaxgan.files import default_cache_dir


def parse_args(argv: Sequence[str] | None):
    parser = cli.Parser(description=__doc__)
    cli.add_data_args(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset", default=MNIST, help="a TFDS image dataset: its train and test splits (mnist)"
    )
    source.add_argument(
        "--data",
        metavar="FILE.npz",
        help="images of your own (as train.py --data): one in 6 is held out as the real reference",
    )
    parser.add_argument("--force", action="store_true", help="retrain even if cached")
    parser.add_argument(
        "--export",
        metavar="DIR",
        default=None,
        help="MNIST: write the four shipped files (the networks' weights, the test set's "
        "features) to DIR",
    )
    return parser.parse_args(argv)


def build_reference(args, cache) -> None:
    if args.export:
        raise ConfigError("--export writes MNIST's shipped files: it takes no --dataset or --data")
    if cache is None:
        raise ConfigError("a reference is kept in the cache: pass --cache-dir, not --no-cache")
    if args.data:
        train, test = references.held_out(read_npz(args.data, "--data"))
    else:
        train = load_data(args.dataset, "train", args.data_dir, cache)
        test = load_data(args.dataset, "test", args.data_dir, cache)
    folder, record = references.build(train, test, cache, force=args.force)
    accuracy = record.get("classifier_test_accuracy")
    print(
        f"evaluation reference for {train.name}: {folder} ("
        + (f"classifier test accuracy {accuracy:.4f}, " if accuracy is not None else "no labels: ")
        + f"encoder; {len(test.images)} real images held out)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.data or args.dataset != MNIST:
        build_reference(args, cli.cache_dir(args))
        return
    cache = cli.cache_dir(args) or default_cache_dir()
    params, test_accuracy = classifier.load_or_train(cache, args.data_dir, force=args.force)
    print(f"evaluation classifier: test accuracy {test_accuracy:.4f}")
    encoder_params = encoder.load_or_train(cache, args.data_dir, force=args.force)
    if args.export:
        test_images, _ = load_dataset("test", args.data_dir, cache)
        files = {
            **classifier.reference_files(params, test_images),
            **encoder.reference_files(encoder_params, test_images),
        }
        written = networks.write_files(args.export, {f"mnist_{n}": a for n, a in files.items()})
        shipped = {**classifier.CLASSIFIER.shipped, **encoder.ENCODER.shipped}
        for name, digest in written.items():
            same = shipped[name] == digest
            print(
                f"{args.export}/{name}: sha256 {digest} "
                f"({'the shipped file' if same else 'differs from the shipped file'})"
            )


def entry() -> int:
    return cli.execute(main)

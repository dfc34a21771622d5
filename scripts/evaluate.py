"""MNIST-FID, classifier score and mode coverage of a checkpoint or of exported samples."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Sequence

from jaxgan import cli
from jaxgan.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> None:
    parser = cli.Parser(description=__doc__)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--workdir", default="runs/mnist_gan", help="newest checkpoint of a run")
    source.add_argument("--checkpoint", help="one saved checkpoint folder (WORKDIR/checkpoints/N)")
    source.add_argument("--samples", help="an .npz from sample.py --export (images in [-1, 1] or uint8)")
    parser.add_argument("--n", type=cli.positive_int, default=10_000, help="samples to draw (10000)")
    parser.add_argument("--seed", type=int, default=0, help="latent noise seed (0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cas", action="store_true",
                        help="conditional models: also train the classifier on 60,000 generated "
                             "samples and report its real test accuracy (a few minutes on a CPU)")
    cli.add_data_args(parser)
    args = parser.parse_args(argv)

    import numpy as np

    from jaxgan.checkpoint import restore_path
    from jaxgan.data import default_cache_dir
    from jaxgan.evaluation import Evaluator
    from jaxgan.runlog import MetricsLog
    from jaxgan.sampling import from_uint8

    evaluator = Evaluator.for_mnist(cli.cache_dir(args) or default_cache_dir(), args.data_dir)
    if args.samples:
        try:
            images = np.load(args.samples)["images"]
        except (OSError, KeyError, ValueError) as e:
            raise ConfigError(f"cannot read images from {args.samples} ({type(e).__name__})") from None
        if images.dtype == np.uint8:
            images = from_uint8(images)
        scores, record = evaluator.score_images(images), {"samples": args.samples}
    else:
        state, meta = restore_path(args.checkpoint or args.workdir)
        scores = evaluator.score_generator(state, args.n, args.seed)
        if args.cas:
            from jaxgan.data import load_dataset
            from jaxgan.evaluation import classification_accuracy_score

            if not state.conditional:
                raise ConfigError("--cas needs a conditional model (trained with --conditional)")
            test_images, test_labels = load_dataset("mnist", "test", args.data_dir,
                                                    cli.cache_dir(args) or default_cache_dir())
            scores["cas"] = classification_accuracy_score(state, test_images, test_labels,
                                                          seed=args.seed)
        record = {"kind": "eval", "epoch": meta["epoch"], "seed": args.seed}
        workdir = Path(args.checkpoint).parent.parent if args.checkpoint else Path(args.workdir)
        MetricsLog(workdir).append({**record, **scores})
    if args.json:
        print(json.dumps({**record, **scores}))
    else:
        print(f"{record}: MNIST-FID {scores['fid']:.3f}, classifier score "
              f"{scores['classifier_score']:.3f}, classes covered {scores['classes_covered']}/10, "
              f"KL to uniform {scores['kl_to_uniform']:.3f}, histogram {scores['histogram']} "
              f"({scores['num_samples']} samples)"
              + (f", conditional accuracy {scores['conditional_accuracy']:.4f}"
                 if "conditional_accuracy" in scores else "")
              + (f", CAS {scores['cas']:.4f}" if "cas" in scores else "")
              + (f", code purity {scores['code_purity']:.4f} (digit per code {scores['code_digits']})"
                 if "code_purity" in scores else ""))


if __name__ == "__main__":
    sys.exit(cli.run(main))

"""MNIST-FID, classifier score and mode coverage of a checkpoint, of exported samples, or of every
member of a population (a table with mean ± std over seeds)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxgan import cli
from jaxgan.errors import ConfigError


def parse_args(argv: Sequence[str] | None):
    parser = cli.Parser(description=__doc__)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--workdir", default="runs/mnist_gan",
                        help="newest checkpoint of a run, or of a population (all its members)")
    source.add_argument("--checkpoint", help="one saved checkpoint folder (WORKDIR/checkpoints/N)")
    source.add_argument("--samples", help="an .npz from sample.py --export (or an .npy array): "
                                          "images in [-1, 1], [0, 1] or uint8 0..255")
    parser.add_argument("--n", type=cli.positive_int, default=10_000, help="samples to draw (10000)")
    parser.add_argument("--seed", type=int, default=0, help="latent noise seed (0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cas", action="store_true",
                        help="conditional models: also train the classifier on 60,000 generated "
                             "samples and report its real test accuracy (a few minutes on a CPU)")
    cli.add_data_args(parser)
    return parser.parse_args(argv)


def describe(record: dict[str, Any], scores: dict[str, Any]) -> str:
    extras = [f"conditional accuracy {scores['conditional_accuracy']:.4f}"
              if "conditional_accuracy" in scores else "",
              f"CAS {scores['cas']:.4f}" if "cas" in scores else "",
              f"code purity {scores['code_purity']:.4f} (digit per code {scores['code_digits']})"
              if "code_purity" in scores else ""]
    return (f"{record}: MNIST-FID {scores['fid']:.3f}, classifier score "
            f"{scores['classifier_score']:.3f}, classes covered {scores['classes_covered']}/10, "
            f"KL to uniform {scores['kl_to_uniform']:.3f}, histogram {scores['histogram']} "
            f"({scores['num_samples']} samples)" + "".join(f", {e}" for e in extras if e))


def evaluate_population(args, evaluator, cache) -> None:
    """Every member: a table (or --json), and each member's row in its own metrics.jsonl."""
    from jaxgan.data import load_dataset
    from jaxgan.evaluation import classification_accuracy_score, format_table, summarise
    from jaxgan.population import member_state, restore_population

    members, meta, population = restore_population(args.workdir)
    listed = population.members()
    if args.cas and not listed[0].config.conditional:
        raise ConfigError("--cas needs a conditional model (trained with --conditional)")
    rows = evaluator.score_members(members, args.n, args.seed)
    if args.cas:
        test_images, test_labels = load_dataset("test", args.data_dir, cache)
        for i, (member, row) in enumerate(zip(listed, rows, strict=True)):
            row["cas"] = classification_accuracy_score(member_state(members, i, member.config), test_images,
                                                       test_labels, seed=args.seed)
    for member, row in zip(listed, rows, strict=True):
        record = {"kind": "eval", "epoch": meta["epoch"], "seed": args.seed}
        _record(Path(args.workdir) / "members" / member.id, {**record, **row})
        row["failed"] = meta.get("failures", {}).get(member.id)
    summary = summarise(population, rows)
    if args.json:
        print(json.dumps({"kind": "population_eval", "epoch": meta["epoch"], "seed": args.seed,
                          "members": [{"id": m.id, **m.values, **r} for m, r in zip(listed, rows, strict=True)],
                          **summary}))
    else:
        print(f"{args.workdir}: {len(listed)} members at epoch {meta['epoch']}, {args.n} samples each "
              f"(seed {args.seed})\n" + format_table(population, rows, summary))


def _record(run_dir: Path, row: dict) -> None:
    from jaxgan.runlog import MetricsLog

    try:
        MetricsLog(run_dir).append(row)
    except OSError as e:
        print(f"warning: the result is not recorded in {run_dir / 'metrics.jsonl'} ({e.strerror})",
              file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    from jaxgan.data import default_cache_dir, load_dataset
    from jaxgan.evaluation import Evaluator, classification_accuracy_score, read_samples
    from jaxgan.population import is_population, restore_path
    from jaxgan.workdir import workdir_of

    cache = cli.cache_dir(args) or default_cache_dir()
    if not (args.samples or args.checkpoint) and is_population(args.workdir):
        return evaluate_population(args, Evaluator.for_mnist(cache, args.data_dir), cache)
    images = read_samples(args.samples) if args.samples else None  # checked before any work
    state = meta = None
    if images is None:
        state, meta = restore_path(args.checkpoint or args.workdir)
        if args.cas and not state.conditional:
            raise ConfigError("--cas needs a conditional model (trained with --conditional)")
    evaluator = Evaluator.for_mnist(cache, args.data_dir)
    if images is not None:
        scores, record = evaluator.score_images(images), {"samples": args.samples}
    else:
        scores = evaluator.score_generator(state, args.n, args.seed)
        if args.cas:
            test_images, test_labels = load_dataset("test", args.data_dir, cache)
            scores["cas"] = classification_accuracy_score(state, test_images, test_labels, seed=args.seed)
        record = {"kind": "eval", "epoch": meta["epoch"], "seed": args.seed}
    print(json.dumps({**record, **scores}) if args.json else describe(record, scores))
    run_dir = None if images is not None else workdir_of(args.checkpoint or args.workdir)
    if run_dir is not None:
        _record(run_dir, {**record, **scores})


def entry() -> int:
    return cli.run(main)

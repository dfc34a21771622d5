"""Scores in both of jaxgan's feature spaces (the classifier's MNIST-FID, classifier score and mode
coverage; the label-free encoder's FID, precision, recall, density and coverage) of a checkpoint, of
exported samples, or of every member of a population (a table with mean ± std over seeds, and
where the two spaces rank the members differently). A run on other data is scored against that
data's reference (built by jaxgan-train-classifier --dataset/--data), its FID in its own
classifier's features."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxgan import cli
from jaxgan.data import load_dataset
from jaxgan.epoch import make_train
from jaxgan.errors import ConfigError
from jaxgan.evaluation import Evaluator, classification_accuracy_score
from jaxgan.files import default_cache_dir
from jaxgan.images import read_samples
from jaxgan.population import Population, member_state, restore_population
from jaxgan.runlog import MetricsLog, describe_scores
from jaxgan.sampling import restore_path
from jaxgan.selection import summarise
from jaxgan.workdir import is_population, workdir_of


def parse_args(argv: Sequence[str] | None):
    parser = cli.Parser(description=__doc__)
    source = cli.add_run_args(
        parser, "newest checkpoint of a run, or of a population (all its members)"
    )
    source.add_argument(
        "--samples",
        help="an .npz from sample.py --export (or an .npy array): "
        "images in [-1, 1], [0, 1] or uint8 0..255",
    )
    parser.add_argument(
        "--n", type=cli.positive_int, default=10_000, help="samples to draw (10000)"
    )
    parser.add_argument("--seed", type=cli.seed, default=0, help="latent noise seed (0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--cas",
        action="store_true",
        help="conditional models: also train the classifier on 60,000 generated "
        "samples and report its real test accuracy (a few minutes on a CPU)",
    )
    cli.add_data_args(parser)
    return parser.parse_args(argv)


def _generators(args) -> tuple[Any, dict[str, Any], Any, list[tuple[str | None, Path | None]]]:
    """(state, checkpoint record, population or None, and per member its id and run folder):
    a population's members, or a single run as a population of one."""
    if not args.checkpoint and is_population(args.workdir):
        state, record, population = restore_population(args.workdir)
        return (
            state,
            record,
            population,
            [(m.id, Path(args.workdir) / "members" / m.id) for m in population.members()],
        )
    state, record = restore_path(args.checkpoint or args.workdir)
    return state, record, None, [(None, workdir_of(args.checkpoint or args.workdir))]


def evaluate_generators(args, cache) -> None:
    """Every member's scores (a single run's: one), each recorded in its own metrics.jsonl; a
    population's printed as a table with mean ± std over seeds, a single run's as one line."""
    state, record, population, members = _generators(args)
    fns = make_train(population.program_config() if population else record.config)
    view = (lambda i: member_state(state, i)) if population else (lambda i: state)
    if args.cas and not fns.config.conditional:
        raise ConfigError("--cas needs a conditional model (trained with --conditional)")
    evaluator = Evaluator.for_config(fns.config, cache)
    rows = evaluator.score_members(fns, state, args.n, args.seed, population)
    if args.cas:
        test_images, test_labels = load_dataset("test", args.data_dir, cache)
        for i, row in enumerate(rows):
            row["cas"] = classification_accuracy_score(
                fns, view(i), test_images, test_labels, seed=args.seed
            )
    source = {"kind": "eval", "epoch": record.epoch, "seed": args.seed}
    for (member_id, folder), row in zip(members, rows, strict=True):
        if folder is not None:
            _record(folder, {**source, **row})
        if population:
            row["failed"] = record.failures.get(member_id)
    if population is None:
        print(
            json.dumps({**source, **rows[0]})
            if args.json
            else f"{source}: {describe_scores(rows[0], fns.config.dataset)}"
        )
        return
    summary = summarise(population, rows)
    listed = population.members()
    if args.json:
        print(
            json.dumps(
                {
                    "kind": "population_eval",
                    "epoch": record.epoch,
                    "seed": args.seed,
                    "members": [
                        {"id": m.id, **m.values, **r} for m, r in zip(listed, rows, strict=True)
                    ],
                    **summary,
                }
            )
        )
    else:
        print(
            f"{args.workdir}: {len(listed)} members at epoch {record.epoch}, {args.n} samples each "
            f"(seed {args.seed})\n" + format_table(population, rows, summary)
        )


NAMES = {
    "fid": "MNIST-FID",
    "encoder_fid": "encoder FID",
    "precision": "precision",
    "recall": "recall",
    "coverage": "coverage",
    "classifier_score": "score",
    "classes_covered": "classes",
    "conditional_accuracy": "conditional accuracy",
    "code_purity": "code purity",
    "cas": "CAS",
}


def _number(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_table(
    population: Population, rows: list[dict[str, Any]], summary: dict[str, Any]
) -> str:
    members, swept = population.members(), population.swept
    metrics = [k for k in NAMES if any(k in r for r in rows)]
    head = ["member", "seed", *swept, *(NAMES[k] for k in metrics)]
    body = [
        [
            m.id,
            str(m.values["seed"]),
            *(str(m.values[s]) for s in swept),
            *(_number(r[k]) if k in r else "-" for k in metrics),
        ]
        + ([f"failed in epoch {r['failed']['epoch']}"] if r.get("failed") else [])
        for m, r in zip(members, rows, strict=True)
    ]
    widths = [max(len(row[i]) for row in [head, *body] if i < len(row)) for i in range(len(head))]
    lines = [
        "  ".join([cell.ljust(w) for cell, w in zip(row, widths, strict=False)] + row[len(head) :])
        for row in [head, *body]
    ]
    for group in summary["groups"]:
        label = ", ".join(f"{k}={v}" for k, v in group["values"].items()) or "all members"
        n = group[metrics[0]]["n"] if metrics else 0
        lines.append(
            f"{label} ({n} member{'s' if n != 1 else ''}): "
            + "; ".join(
                f"{NAMES[k]} {s['mean']:.3f} ± {s['std']:.3f} (min {s['min']:.3f}, max "
                f"{s['max']:.3f})"
                for k, s in ((k, group[k]) for k in metrics)
            )
        )
    if summary["best"]:
        by_id = {m.id: r for m, r in zip(members, rows, strict=True)}
        lines.append(
            "best: "
            + "; ".join(
                f"{NAMES[k]} member {i} ({_number(by_id[i][k])})"
                for k, i in summary["best"].items()
            )
        )
    if "rankings" in summary:
        lines.append(describe_rankings(summary["rankings"]))
    return "\n".join(lines)


def describe_rankings(rankings: dict[str, Any]) -> str:
    """Where MNIST-FID and the encoder's FID rank members differently, in one line."""
    orders = f"MNIST-FID {' < '.join(rankings['fid'])}; encoder FID {' < '.join(rankings['encoder_fid'])}"
    swapped = rankings["swapped"]
    if not swapped:
        return f"the two spaces rank the members alike: {orders}"
    pairs = ", ".join(f"{a} before {b}" for a, b in swapped)
    return (
        f"the two spaces rank {len(swapped)} of {rankings['pairs']} pairs of members differently "
        f"(by MNIST-FID: {pairs}): {orders}"
    )


def _record(folder: Path, row: dict) -> None:
    try:
        MetricsLog(folder).append(row)
    except OSError as e:
        print(
            f"warning: the result is not recorded in {folder / 'metrics.jsonl'} ({e.strerror})",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)

    cache = cli.cache_dir(args) or default_cache_dir()
    if not args.samples:
        return evaluate_generators(args, cache)
    images = read_samples(args.samples)  # checked before any work
    scores, source = Evaluator.standard().score_images(images), {"samples": args.samples}
    print(json.dumps({**source, **scores}) if args.json else f"{source}: {describe_scores(scores)}")


def entry() -> int:
    return cli.execute(main)

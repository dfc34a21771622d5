"""Draw a run's loss, D-output and FID curves from WORKDIR/metrics.jsonl to a PNG; for a
population, every member's curves and their mean ± std. With --time-quality, MNIST-FID against
training seconds for groups of single runs (e.g. a preset's seeds): one line per group, mean ± std."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxgan import cli
from jaxgan.errors import ConfigError
from jaxgan.images import figure, image_path, save_figure
from jaxgan.runlog import MetricsLog
from jaxgan.workdir import read_index

TRAIN_KEYS = {"epoch", "d_loss", "g_loss", "d_real", "d_fake"}
EVAL_KEYS = {"epoch", "fid", "encoder_fid"}
SPACES = (("fid", "MNIST-FID"), ("encoder_fid", "encoder FID"))


def numbers(row: dict, keys: set[str]) -> bool:
    return all(
        isinstance(row.get(k), (int, float)) and not isinstance(row.get(k), bool) for k in keys
    )


def parse_args(argv: Sequence[str] | None):
    parser = cli.Parser(description=__doc__)
    parser.add_argument("--workdir", default="runs/mnist_gan")
    parser.add_argument("--out", default=None, help="PNG path (default: WORKDIR/curves.png)")
    parser.add_argument(
        "--time-quality",
        action="append",
        metavar="NAME=DIR[,DIR...]",
        default=[],
        help="a group of single runs trained with --eval-every (repeat for more groups): "
        "MNIST-FID and encoder FID against the training seconds, in place of WORKDIR's curves",
    )
    return parser.parse_args(argv)


def parse_group(text: str) -> tuple[str, list[Path]]:
    name, sep, dirs = text.partition("=")
    if not sep or not name or not dirs:
        raise ConfigError(f"--time-quality must be NAME=DIR[,DIR...], got {text!r}")
    return name, [Path(d) for d in dirs.split(",")]


def time_quality(
    train: list[dict], evals: list[dict], key: str = "fid"
) -> tuple[list[float], list[float]]:
    """(training seconds up to each evaluated epoch, its `key`: MNIST-FID or encoder FID)."""
    elapsed, total = {}, 0.0
    for row in train:
        total += row.get("seconds", float("nan"))
        elapsed[row["epoch"]] = total
    points = [(elapsed[r["epoch"]], r[key]) for r in evals if r["epoch"] in elapsed]
    return [t for t, _ in points], [f for _, f in points]


def draw_time_quality(groups: dict[str, list[tuple[list[dict], list[dict]]]]):
    """Per feature space, one line per group: the runs' mean FID at each evaluation they all
    reached, against their mean training seconds, with a ± std band."""
    fig = figure(figsize=(11, 4.2))
    for ax, (key, label) in zip(fig.subplots(1, len(SPACES)), SPACES, strict=True):
        for name, runs in groups.items():
            curves = [time_quality(*run, key) for run in runs]
            n = min(len(t) for t, _ in curves)
            if n == 0:
                raise ConfigError(
                    f"--time-quality {name}: a run has no evaluation (train it with --eval-every)"
                )
            seconds = np.mean([t[:n] for t, _ in curves], 0)
            fid = np.asarray([f[:n] for _, f in curves])
            (line,) = ax.plot(
                seconds,
                fid.mean(0),
                "o-",
                ms=3,
                label=f"{name} ({len(runs)} seed{'s' * (len(runs) > 1)})",
            )
            if len(runs) > 1:
                band = (fid.mean(0) - fid.std(0), fid.mean(0) + fid.std(0))
                ax.fill_between(seconds, *band, color=line.get_color(), alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlabel("training seconds")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    return fig


def read_rows(workdir: str) -> tuple[list[dict], list[dict]]:
    """The train rows and the newest eval row per epoch of WORKDIR/metrics.jsonl."""
    rows = MetricsLog(workdir).read()
    train = [r for r in rows if r.get("kind", "train") == "train" and numbers(r, TRAIN_KEYS)]
    evals = [r for r in rows if r.get("kind") == "eval" and numbers(r, EVAL_KEYS)]
    if skipped := len(rows) - len(train) - len(evals):
        print(
            f"warning: skipped {skipped} metrics rows without the numbers of a train or eval row",
            file=sys.stderr,
        )
    if not train:
        raise ConfigError(f"no training metrics in {Path(workdir) / 'metrics.jsonl'}")
    return train, sorted({r["epoch"]: r for r in evals}.values(), key=lambda r: r["epoch"])


def member_folders(workdir: str) -> dict[str | None, Path]:
    """A population's members (id -> folder), from WORKDIR/population.json; a single run is a
    population of one, with no id."""
    rows = read_index(workdir)
    return {None: Path(workdir)} if rows is None else {row["id"]: row["folder"] for row in rows}


def member_rows(folders: dict[str | None, Path]) -> dict[str | None, tuple[list[dict], list[dict]]]:
    """Each member's rows; a population member that failed before its first epoch ended has none."""
    if list(folders) == [None]:
        return {None: read_rows(str(folders[None]))}
    runs = {m: read_rows(str(f)) for m, f in folders.items() if MetricsLog(f).read()}
    if skipped := sorted(set(folders) - set(runs)):
        print(
            f"warning: members {', '.join(skipped)} have no training metrics (no epoch of "
            "theirs was recorded)",
            file=sys.stderr,
        )
    if not runs:
        raise ConfigError("no member of the population has training metrics")
    return runs


PANELS = (("d_loss", "D loss"), ("g_loss", "G loss"), ("d_real", "D(x)"), ("d_fake", "D(G(z))"))


def draw(runs: dict[str | None, tuple[list[dict], list[dict]]]):
    """Each member's curves and, for more than one, the members' mean ± std band over the epochs
    all reached; MNIST-FID per member where evaluations were recorded."""
    has_evals = any(evals for _, evals in runs.values())
    fig = figure(figsize=(4.2 * (len(PANELS) + has_evals), 3.6))
    axes = fig.subplots(1, len(PANELS) + has_evals)
    epochs = min(len(train) for train, _ in runs.values())
    x = [r["epoch"] for r in next(iter(runs.values()))[0][:epochs]]
    for ax, (key, label) in zip(axes, PANELS, strict=False):
        values = np.asarray([[r[key] for r in train[:epochs]] for train, _ in runs.values()])
        if len(values) == 1:
            ax.plot(x, values[0], label=label)
            continue
        for member_values in values:
            ax.plot(x, member_values, lw=0.6, alpha=0.5)
        mean, std = values.mean(0), values.std(0)
        ax.plot(x, mean, color="black", lw=1.5, label=f"{label}: mean of {len(values)}")
        ax.fill_between(x, mean - std, mean + std, color="black", alpha=0.15, label="± std")
    if has_evals:
        for member, (_, evals) in runs.items():
            for (key, label), style in zip(SPACES, ("o-", "s--"), strict=True):
                axes[-1].plot(
                    [r["epoch"] for r in evals],
                    [r[key] for r in evals],
                    style,
                    ms=3,
                    label=f"{member}: {label}" if member else label,
                )
        axes[-1].set_yscale("log")
        axes[-1].set_title("FID" + (" per member" if len(runs) > 1 else ""))
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    groups = dict(parse_group(g) for g in args.time_quality)
    if groups and not args.out:
        raise ConfigError("--time-quality needs --out")
    out = image_path(args.out or Path(args.workdir) / "curves.png")
    if groups:
        fig = draw_time_quality(
            {name: [read_rows(str(d)) for d in dirs] for name, dirs in groups.items()}
        )
        what = f"{len(groups)} groups of runs"
    else:
        fig, what = _curves(args.workdir)
    save_figure(fig, out)
    print(f"{what} -> {out}")


def _curves(workdir: str):
    runs = member_rows(member_folders(workdir))
    fig = draw(runs)
    if list(runs) == [None]:
        train, evals = runs[None]
        what = f"{len(train)} epochs, {len(evals)} evaluations"
    else:
        what = f"{len(runs)} members"
    return fig, what


def entry() -> int:
    return cli.execute(main)

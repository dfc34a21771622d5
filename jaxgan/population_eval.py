"""A population's scores: every member's samples from one generation program for all members,
then per member MNIST-FID, classifier score and classes, and for each swept value (over its
seeds) the mean ± std, min and max, and the best member per metric."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from jaxgan.evaluation import Evaluator
from jaxgan.members import Members
from jaxgan.models import latent_codes
from jaxgan.population import Population
from jaxgan.sampling import generate, latents

# The metrics summarised, and which way is better.
BETTER = {"fid": min, "classifier_score": max, "classes_covered": max, "conditional_accuracy": max,
          "code_purity": max, "cas": max}
NAMES = {"fid": "MNIST-FID", "classifier_score": "score", "classes_covered": "classes",
         "conditional_accuracy": "conditional accuracy", "code_purity": "code purity", "cas": "CAS"}
MEMBERS_PER_PROGRAM = 8  # members generated together: bounds host memory at 8 x n images


def member_samples(members: Members, n: int, seed: int) -> Iterator[tuple[int, np.ndarray, Any, Any]]:
    """(index, images (n, 28, 28), labels, codes) of every member: the samples `sample_images`
    draws from each member's own state with this seed, generated for several members at once."""
    template = jax.tree.map(lambda x: x[0], members.state)
    z = latents(jax.random.key(seed), n, template.latent_dim)
    labels = np.arange(n, dtype=np.int32) % 10 if template.conditional else None
    codes = np.asarray(latent_codes(z, template.codes)) if template.codes else None
    generate_members = jax.jit(jax.vmap(generate, in_axes=(0, None, None)))
    size = len(members.alive)
    for first in range(0, size, MEMBERS_PER_PROGRAM):
        part = jax.tree.map(lambda x, s=slice(first, first + MEMBERS_PER_PROGRAM): x[s], members.state)
        images = np.concatenate([np.asarray(generate_members(part, z[i:i + 1000],
                                                             None if labels is None else labels[i:i + 1000]))
                                 for i in range(0, n, 1000)], axis=1)
        for offset, member_images in enumerate(images):
            yield first + offset, member_images, labels, codes


def score_members(evaluator: Evaluator, members: Members, n: int, seed: int) -> list[dict[str, Any]]:
    """Each member's scores, in member order."""
    num_codes = jax.tree.map(lambda x: x[0], members.state).codes
    return [evaluator.score_images(images, labels, codes, num_codes)
            for _, images, labels, codes in member_samples(members, n, seed)]


def _stats(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, np.float64)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
            "min": float(array.min()), "max": float(array.max()), "n": len(array)}


def summarise(population: Population, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per swept value (all members when nothing is swept): mean ± std (n - 1), min and max of
    each metric over the members that did not fail; and the best such member per metric."""
    members = population.members()
    ok = [(m, r) for m, r in zip(members, rows, strict=True) if not r.get("failed")]
    metrics = [k for k in BETTER if ok and k in ok[0][1]]
    def point(member_row) -> tuple:
        return tuple(member_row[0].values[name] for name in population.swept)

    groups = []
    for values, group in itertools.groupby(ok, key=point):
        group = list(group)
        groups.append({"values": dict(zip(population.swept, values, strict=True)),
                       **{k: _stats([r[k] for _, r in group]) for k in metrics}})
    best = {k: BETTER[k](ok, key=lambda mr, k=k: mr[1][k])[0].id for k in metrics}
    return {"groups": groups, "best": best}


def _number(value: float) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_table(population: Population, rows: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    members, swept = population.members(), population.swept
    metrics = [k for k in BETTER if any(k in r for r in rows)]
    head = ["member", "seed", *swept, *(NAMES[k] for k in metrics)]
    body = [[m.id, str(m.values["seed"]), *(str(m.values[s]) for s in swept),
             *(_number(r[k]) if k in r else "-" for k in metrics)]
            + ([f"failed in epoch {r['failed']['epoch']}"] if r.get("failed") else [])
            for m, r in zip(members, rows, strict=True)]
    widths = [max(len(row[i]) for row in [head, *body] if i < len(row)) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) for row in [head, *body]]
    for group in summary["groups"]:
        label = ", ".join(f"{k}={v}" for k, v in group["values"].items()) or "all members"
        n = group[metrics[0]]["n"] if metrics else 0
        lines.append(f"{label} ({n} member{'s' if n != 1 else ''}): " + "; ".join(
            f"{NAMES[k]} {s['mean']:.3f} ± {s['std']:.3f} (min {s['min']:.3f}, max {s['max']:.3f})"
            for k, s in ((k, group[k]) for k in metrics)))
    if summary["best"]:
        by_id = {m.id: r for m, r in zip(members, rows, strict=True)}
        lines.append("best: " + "; ".join(f"{NAMES[k]} member {i} ({_number(by_id[i][k])})"
                                          for k, i in summary["best"].items()))
    return "\n".join(lines)

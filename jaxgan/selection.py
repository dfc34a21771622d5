"""Scored runs compared: a population summarised over seeds, where the two feature spaces rank its
members differently, and the rule that keeps a change only where both spaces agree."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from jaxgan.population import Population

# The metrics summarised, and which way is better.
BETTER = {
    "fid": min,
    "encoder_fid": min,
    "precision": max,
    "recall": max,
    "coverage": max,
    "classifier_score": max,
    "classes_covered": max,
    "conditional_accuracy": max,
    "code_purity": max,
    "cas": max,
}


def _stats(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, np.float64)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
        "n": len(array),
    }


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
        groups.append(
            {
                "values": dict(zip(population.swept, values, strict=True)),
                **{k: _stats([r[k] for _, r in group]) for k in metrics},
            }
        )
    best = {k: BETTER[k](ok, key=lambda mr, k=k: mr[1][k])[0].id for k in metrics}
    summary = {"groups": groups, "best": best}
    if {"fid", "encoder_fid"} <= set(metrics):
        summary["rankings"] = rankings([m.id for m, _ in ok], [r for _, r in ok])
    return summary


def rankings(ids: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Members best first by MNIST-FID and by the encoder's FID, and the pairs the two spaces
    order differently (the first better in MNIST-FID, the second in the encoder's)."""
    fid = {i: r["fid"] for i, r in zip(ids, rows, strict=True)}
    encoder_fid = {i: r["encoder_fid"] for i, r in zip(ids, rows, strict=True)}
    swapped = [
        [a, b] if fid[a] < fid[b] else [b, a]
        for a, b in itertools.combinations(ids, 2)
        if (fid[a] - fid[b]) * (encoder_fid[a] - encoder_fid[b]) < 0
    ]
    return {
        "fid": sorted(ids, key=fid.get),
        "encoder_fid": sorted(ids, key=encoder_fid.get),
        "swapped": swapped,
        "pairs": len(ids) * (len(ids) - 1) // 2,
    }


# The rule for keeping a change (a preset, an option, a default), measured over seeds: better in
# both feature spaces, and neither fidelity nor diversity lost, so that no one space's features
# can be matched without better images.
BETTER_IN_BOTH = ("fid", "encoder_fid")


NOT_LOST = ("precision", "recall")


def keeps(candidate: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> list[str]:
    """Why a change measured by `candidate`'s scores (one row per seed) is not kept against
    `baseline`'s: its mean MNIST-FID or encoder FID is not lower, or its mean precision or recall
    falls by more than the baseline's spread over seeds (its std). Empty: kept."""
    reasons = []
    for key in (*BETTER_IN_BOTH, *NOT_LOST):
        new, old = _stats([r[key] for r in candidate]), _stats([r[key] for r in baseline])
        if key in BETTER_IN_BOTH and new["mean"] >= old["mean"]:
            reasons.append(f"{key} {new['mean']:.3f} is not below {old['mean']:.3f}")
        if key in NOT_LOST and new["mean"] < old["mean"] - old["std"]:
            reasons.append(
                f"{key} {new['mean']:.3f} falls below {old['mean']:.3f} - {old['std']:.3f}"
            )
    return reasons

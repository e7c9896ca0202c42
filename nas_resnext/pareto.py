"""Objectives normalised once at the edge, and the Pareto fronts and hypervolume of the results.

Every objective is turned into a loss (lower is better) here and nowhere else: a maximised objective is
negated, a missing or NaN value becomes +inf (so it can never look good). ``losses`` goes one step further
for hypervolume: ``1 - accuracy`` and each cost divided by a scale (e.g. the budget), so that the volume
against the reference point (1, 1, ...) lies in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nas_resnext.compat import compute_hypervolume, is_pareto_front

# Whether each objective the search knows is maximised or minimised.
OBJECTIVE_MODES = {
    "val_accuracy": "max",
    "flops": "min",
    "params": "min",
    "activations": "min",
    "latency_ms": "min",
}


def study_direction(objective: str) -> str:
    """Optuna's direction for an objective: ``maximize`` or ``minimize``."""
    return "maximize" if OBJECTIVE_MODES.get(objective, "min") == "max" else "minimize"


def loss_of(value: Any, mode: str) -> float:
    """One objective value as a loss: negated when maximised; None or NaN as +inf."""
    if value is None or math.isnan(float(value)):
        return math.inf
    return -float(value) if mode == "max" else float(value)


def losses(
    accuracy: Sequence[float], costs: Sequence[Sequence[float]], scales: Sequence[float]
) -> np.ndarray:
    """Rows of ``(1 - accuracy, cost_1 / scale_1, ...)``; a missing or NaN value becomes +inf."""
    columns = [1.0 - np.asarray(accuracy, dtype=float)]
    columns += [np.asarray(c, dtype=float) / s for c, s in zip(costs, scales, strict=True)]
    table = np.column_stack(columns) if columns[0].size else np.empty((0, len(columns)))
    return np.where(np.isnan(table), np.inf, table)


def pareto_mask(loss_rows: np.ndarray) -> np.ndarray:
    """True for rows no other row dominates (duplicates of a front point are all on the front).

    Optuna's non-dominated sort (the one its samplers use) is O(n log n) for two objectives, where
    comparing every pair of 10,000 trials takes seconds.
    """
    rows = np.asarray(loss_rows, dtype=float)
    if len(rows) == 0:
        return np.zeros(0, dtype=bool)
    return is_pareto_front(rows)


def hypervolume(loss_rows: np.ndarray, reference: Sequence[float] | None = None) -> float:
    """Volume dominated by ``loss_rows`` and bounded by ``reference`` (default all ones)."""
    rows = np.asarray(loss_rows, dtype=float)
    if rows.size == 0:
        return 0.0
    ref = np.ones(rows.shape[1]) if reference is None else np.asarray(reference, dtype=float)
    inside = rows[np.all(rows < ref, axis=1)]
    if len(inside) == 0:
        return 0.0
    front = inside[pareto_mask(inside)]
    # Optuna's WFG implementation is exact in any dimension; it is the one its own samplers use.
    return compute_hypervolume(np.unique(front, axis=0), ref)

"""Pareto masks and hypervolume on small hand-made tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nas_resnext.pareto import hypervolume, losses, pareto_mask


@pytest.mark.parametrize(
    ("rows", "mask"),
    [
        ([[0.2, 0.6], [0.6, 0.2], [0.7, 0.7]], [True, True, False]),
        ([[0.2, 0.6], [0.2, 0.6]], [True, True]),  # duplicates of a front point are both on it
        ([[0.2, 0.6], [0.2, 0.7]], [True, False]),  # a tie in one objective, worse in the other
        ([[0.5, 0.5]], [True]),
        ([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], [True, False, False]),
        ([], []),
    ],
)
def test_pareto_mask(rows: list, mask: list) -> None:
    assert pareto_mask(np.array(rows, dtype=float).reshape(-1, 2)).tolist() == mask


@pytest.mark.parametrize(
    ("rows", "volume"),
    [
        ([[0.5, 0.5]], 0.25),
        ([[0.2, 0.6], [0.6, 0.2], [0.7, 0.7]], 0.8 * 0.4 + 0.4 * 0.8 - 0.4 * 0.4),
        ([[0.2, 0.6], [0.2, 0.6]], 0.8 * 0.4),  # a duplicate adds nothing
        ([[1.5, 0.1]], 0.0),  # outside the reference box
        ([], 0.0),
    ],
)
def test_hypervolume(rows: list, volume: float) -> None:
    assert math.isclose(hypervolume(np.array(rows, dtype=float).reshape(-1, 2)), volume)


def test_losses_normalise_once_and_mark_missing_values_worst() -> None:
    rows = losses([0.9, float("nan")], [[5e6, 1e7]], [1e7])
    assert rows.tolist() == [[pytest.approx(0.1), 0.5], [math.inf, 1.0]]

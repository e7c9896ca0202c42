"""The MO-ASHA ranking rule: fronts, crowding, selection order and promotion, checked over tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nas_resnext.search import ranking

INF = math.inf
NAN = math.nan


@pytest.fixture(params=["optuna", "pairwise"])
def sorter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with Optuna's non-dominated sort and again with the pairwise fallback."""
    if request.param == "pairwise":
        monkeypatch.setattr(ranking, "fast_non_domination_rank", lambda losses: None)
    else:
        assert ranking.fast_non_domination_rank(np.zeros((1, 2))) is not None, (
            "Optuna's sorter is gone: only the fallback runs"
        )
    return request.param


RANK_TABLE = {
    "empty": ([], []),
    "single point": ([[0.1, 5.0]], [0]),
    "all-dominated chain": ([[1, 1], [2, 2], [3, 3]], [0, 1, 2]),
    "chain arriving worst first": ([[3, 3], [2, 2], [1, 1]], [2, 1, 0]),
    "trade-off front": ([[1, 3], [2, 2], [3, 1]], [0, 0, 0]),
    "exact duplicates share a rank": ([[1, 1], [1, 1], [2, 2], [2, 2]], [0, 0, 1, 1]),
    "tie in one objective is weak dominance": ([[1, 2], [1, 3], [0, 4]], [0, 1, 0]),
    "+inf ranks behind every finite point": ([[INF, 0], [1, 5], [2, 6]], [2, 0, 1]),
    "NaN reads as +inf": ([[NAN, 0], [1, 5]], [1, 0]),
    "incomplete points form their own fronts": ([[INF, 1], [INF, 2], [1, 1]], [1, 2, 0]),
    "all incomplete duplicates": ([[INF, INF], [NAN, INF]], [0, 0]),
    "-inf is a best value, not missing": ([[-INF, 5], [0, 1], [1, 6]], [0, 0, 1]),
    "one objective: dense ranks by value": ([[3], [1], [1], [2]], [2, 0, 0, 1]),
    "three objectives": (
        [[1, 2, 3], [3, 2, 1], [2, 2, 2], [2, 3, 3], [3, 3, 3], [2, 2, 2]],
        [0, 0, 0, 1, 2, 0],
    ),
}


@pytest.mark.parametrize(("losses", "expected"), RANK_TABLE.values(), ids=RANK_TABLE.keys())
def test_non_dominated_ranks(sorter: str, losses: list, expected: list[int]) -> None:
    assert ranking.non_dominated_ranks(losses).tolist() == expected


def test_optuna_sorter_agrees_with_pairwise_fallback() -> None:
    generator = np.random.default_rng(0)
    for n_objectives in (1, 2, 3):
        # Small integers make ties and exact duplicates frequent.
        losses = generator.integers(0, 4, size=(40, n_objectives)).astype(float)
        assert ranking._front_ranks(losses).tolist() == ranking.pairwise_front_ranks(losses).tolist()


def test_ranks_follow_the_points_when_rows_are_permuted(sorter: str) -> None:
    losses = np.array([[1, 5], [2, 3], [4, 1], [3, 4], [5, 5], [2, 6]], dtype=float)
    permutation = np.array([3, 0, 5, 1, 4, 2])
    ranks = ranking.non_dominated_ranks(losses)
    assert ranking.non_dominated_ranks(losses[permutation]).tolist() == ranks[permutation].tolist()


CROWDING_TABLE = {
    "two points are both boundaries": ([[1, 2], [2, 1]], [INF, INF]),
    "three-point front": ([[1, 3], [2, 2], [3, 1]], [INF, 2.0, INF]),
    "four-point front": ([[0, 4], [1, 2], [3, 1], [4, 0]], [INF, 1.5, 1.25, INF]),
    "duplicates share a distance": ([[1, 3], [2, 2], [2, 2], [3, 1]], [INF, 2.0, 2.0, INF]),
    "each front on its own": ([[1, 3], [2, 2], [3, 1], [2, 4], [4, 2]], [INF, 2.0, INF, INF, INF]),
    "-inf clipped to the finite range": ([[-INF, 3], [1, 2], [2, 1], [3, 0]], [INF, 7 / 6, 5 / 3, INF]),
    "identical column adds nothing": ([[1, 0, 3], [2, 0, 2], [3, 0, 1]], [INF, 2.0, INF]),
}


@pytest.mark.parametrize(("losses", "expected"), CROWDING_TABLE.values(), ids=CROWDING_TABLE.keys())
def test_crowding_distances(losses: list, expected: list[float]) -> None:
    assert ranking.crowding_distances(losses).tolist() == pytest.approx(expected)


ORDER_TABLE = {
    "chain by rank": ([[3, 3], [1, 1], [2, 2]], [1, 2, 0]),
    "duplicates by arrival": ([[1, 1], [1, 1], [1, 1]], [0, 1, 2]),
    "front: boundaries, then the more isolated": (
        [[0, 4], [1, 2], [3, 1], [4, 0], [5, 5]],
        [0, 3, 1, 2, 4],
    ),
    "boundaries tie, earlier first": ([[4, 0], [1, 2], [0, 4]], [0, 2, 1]),
    "diverged point last despite the best cost": ([[NAN, 0], [0.5, 10]], [1, 0]),
    "three objectives": ([[2, 3, 3], [1, 2, 3], [3, 2, 1], [2, 2, 2]], [1, 2, 3, 0]),
}


@pytest.mark.parametrize(("losses", "expected"), ORDER_TABLE.values(), ids=ORDER_TABLE.keys())
def test_selection_order_by_crowding(sorter: str, losses: list, expected: list[int]) -> None:
    assert ranking.selection_order(losses).tolist() == expected  # crowding is the default


CONTRIBUTION_TABLE = {
    # reference point: a tenth of each objective's range beyond its worst value (1 when the range is 0)
    "single point": ([[0.1, 5.0]], [1.0]),
    "two points": ([[1, 2], [2, 1]], [0.1, 0.1]),
    "three-point front": ([[1, 3], [2, 2], [3, 1]], [0.2, 1.0, 0.2]),
    "duplicates share a contribution": ([[1, 3], [2, 2], [2, 2], [3, 1]], [0.2, 1.0, 1.0, 0.2]),
    "each front on its own": ([[1, 3], [2, 2], [3, 1], [2, 4], [4, 2]], [1.3, 1.0, 1.3, 0.6, 0.6]),
    "incomplete points add nothing": ([[INF, 1], [1, 1]], [0.0, 1.0]),
    "-inf sits one margin beyond the best": ([[-INF, 3], [1, 2], [2, 1], [3, 0]], [0.06, 1.0, 1.0, 0.2]),
    "three objectives": ([[1, 2, 2], [2, 1, 2], [2, 2, 1]], [0.01] * 3),
}


@pytest.mark.parametrize(("losses", "expected"), CONTRIBUTION_TABLE.values(), ids=CONTRIBUTION_TABLE.keys())
def test_hypervolume_contributions(losses: list, expected: list[float]) -> None:
    assert ranking.hypervolume_contributions(losses).tolist() == pytest.approx(expected)


# (-accuracy, GFLOPs): a front of three, one dominated point, and a new cheapest but poor candidate.
POOR_CHEAPEST = [[-0.9, 5], [-0.85, 3], [-0.8, 2], [-0.7, 4], [-0.6, 6], [-0.2, 1.9]]

HYPERVOLUME_ORDER_TABLE = {
    "chain by rank": ([[3, 3], [1, 1], [2, 2]], [1, 2, 0]),
    "duplicates by arrival": ([[1, 1], [1, 1], [1, 1]], [0, 1, 2]),
    "front: the larger contribution first": ([[1, 3], [2, 2], [3, 1], [3.5, 3.5]], [1, 0, 2, 3]),
    "diverged point last despite the best cost": ([[NAN, 0], [0.5, 10]], [1, 0]),
    "a poor new extreme comes last on the front": (POOR_CHEAPEST, [2, 1, 0, 5, 3, 4]),
}


@pytest.mark.parametrize(
    ("losses", "expected"), HYPERVOLUME_ORDER_TABLE.values(), ids=HYPERVOLUME_ORDER_TABLE.keys()
)
def test_selection_order_by_hypervolume(sorter: str, losses: list, expected: list[int]) -> None:
    assert ranking.selection_order(losses, "hypervolume").tolist() == expected


@pytest.mark.parametrize(("selection", "promoted"), [("crowding", True), ("hypervolume", False)])
def test_a_poor_new_extreme_is_promoted_only_by_crowding(selection: str, promoted: bool) -> None:
    # Six results, quota two: crowding promotes both boundary points (infinite distance), the poor
    # cheapest one included; by hypervolume contribution it adds least to the front and stops.
    assert ranking.is_promoted(POOR_CHEAPEST, 5, 3, selection) is promoted


@pytest.mark.parametrize(
    ("n_points", "reduction_factor", "quota"),
    [(1, 3, 1), (2, 3, 1), (3, 3, 1), (5, 3, 1), (6, 3, 2), (9, 3, 3), (4, 2, 2), (10, 2.5, 4)],
)
def test_promotion_quota(n_points: int, reduction_factor: float, quota: int) -> None:
    assert ranking.promotion_quota(n_points, reduction_factor) == quota


CHAIN_OF_SIX = [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [1.5, 1.5]]
FRONT_AND_TWO = [[0, 4], [1, 2], [3, 1], [4, 0], [5, 5], [6, 6]]

PROMOTION_TABLE = {
    "first at a rung continues": ([[3, 3]], 0, 3, True),
    "first continues even if diverged": ([[NAN, NAN]], 0, 3, True),
    "second continues if better": ([[2, 2], [1, 1]], 1, 3, True),
    "second stops if worse": ([[1, 1], [2, 2]], 1, 3, False),
    "duplicate of an earlier point stops": ([[1, 1], [1, 1]], 1, 3, False),
    "the earlier of two duplicates keeps its place": ([[1, 1], [1, 1]], 0, 3, True),
    "second-best of six is within 6/3": (CHAIN_OF_SIX, 5, 3, True),
    "third-best of six is not": (CHAIN_OF_SIX, 1, 3, False),
    "front boundary within quota": (FRONT_AND_TWO, 3, 3, True),
    "crowded front point outside quota": (FRONT_AND_TWO, 1, 3, False),
    "diverged point with the lowest cost stops": ([[-0.5, 10], [NAN, 1]], 1, 3, False),
    "eta 2: two of four continue": ([[1, 1], [4, 4], [3, 3], [2, 2]], 3, 2, True),
    "three objectives, dominated": ([[1, 2, 3], [3, 2, 1], [2, 2, 2], [2, 3, 3]], 3, 2, False),
    "three objectives, on the front": ([[1, 2, 3], [3, 2, 1], [2, 3, 3], [2, 2, 2]], 3, 2, False),
    "three objectives, boundary": ([[2, 2, 2], [2, 3, 3], [1, 2, 3], [3, 2, 1]], 2, 2, True),
}


@pytest.mark.parametrize(
    ("losses", "candidate", "reduction_factor", "expected"),
    PROMOTION_TABLE.values(),
    ids=PROMOTION_TABLE.keys(),
)
def test_is_promoted_by_crowding(
    sorter: str, losses: list, candidate: int, reduction_factor: float, expected: bool
) -> None:
    assert ranking.is_promoted(losses, candidate, reduction_factor, "crowding") is expected


@pytest.mark.parametrize("selection", ranking.SELECTIONS)
@pytest.mark.parametrize(
    ("arrival", "promoted"), [("improving", [True] * 8), ("worsening", [True] + [False] * 7)]
)
def test_asynchronous_promotion_depends_on_arrival(
    arrival: str, promoted: list[bool], selection: str
) -> None:
    # As in ASHA: a point better than all before it always continues; one worse than all never does.
    chain = np.arange(8, dtype=float)[:, None].repeat(2, axis=1)
    points = chain[::-1] if arrival == "improving" else chain
    assert [ranking.is_promoted(points[: i + 1], i, 3, selection) for i in range(len(points))] == promoted


def test_bad_inputs_raise() -> None:
    with pytest.raises(IndexError, match="candidate 2"):
        ranking.is_promoted([[1, 1], [2, 2]], 2, 3)
    with pytest.raises(ValueError, match="at least one result"):
        ranking.promotion_quota(0, 3)
    with pytest.raises(ValueError, match="2-D"):
        ranking.non_dominated_ranks(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="selection must be one of"):
        ranking.selection_order([[1, 1]], "random")


EPSNET_TABLE = {
    # best in the first objective first, then the far end, then the middle, then the one next to the start
    "a front of four": ([[0, 1], [0.5, 0.5], [1, 0], [0.1, 0.9]], [0, 2, 1, 3]),
    # each front is ordered on its own; the scale is over every point, so units do not matter
    "two fronts": ([[0, 10], [10, 0], [5, 5], [10, 10], [20, 20]], [0, 1, 2, 0, 0]),
    "an exact duplicate comes last in its front": ([[0, 1], [0, 1], [1, 0]], [0, 2, 1]),
    "ties go to the earlier arrival": ([[0, 2], [1, 1], [2, 0], [1, 1]], [0, 2, 1, 3]),
    "a diverged point is its own front": ([[NAN, 0], [1, 1], [0, 2]], [0, 1, 0]),
}


@pytest.mark.parametrize(("losses", "positions"), EPSNET_TABLE.values(), ids=EPSNET_TABLE.keys())
def test_epsilon_net_positions(losses: list, positions: list[int]) -> None:
    assert ranking.epsilon_net_positions(losses).tolist() == positions


def test_epsnet_selection_orders_by_front_then_net() -> None:
    losses = [[3, 3], [0, 1], [0.5, 0.5], [1, 0], [0.1, 0.9]]
    # front {1, 2, 3, 4} in net order 1, 3, 2, 4; then the dominated point 0
    assert ranking.selection_order(losses, "epsnet").tolist() == [1, 3, 2, 4, 0]


def test_epsnet_does_not_depend_on_the_units() -> None:
    losses = np.array([[0.1, 2e6], [0.05, 5e6], [0.02, 9e6], [0.3, 1e6], [0.04, 6e6]])
    rescaled = losses * [100, 1e-6]
    assert (
        ranking.selection_order(losses, "epsnet").tolist()
        == ranking.selection_order(rescaled, "epsnet").tolist()
    )


FRONT_GRACE_TABLE = {
    # six results, quota 2: the crowded front points 1 and 2 are past the quota, yet on the front
    "a crowded front point continues": (FRONT_AND_TWO, 1, True),
    "every front point continues": (FRONT_AND_TWO, 2, True),
    "a dominated point still needs the quota": (FRONT_AND_TWO, 4, False),
    "a diverged point is never on the front": ([[-0.5, 10], [-0.4, 12], [NAN, 1]], 2, False),
}


@pytest.mark.parametrize(
    ("losses", "candidate", "expected"), FRONT_GRACE_TABLE.values(), ids=FRONT_GRACE_TABLE.keys()
)
def test_front_grace(losses: list, candidate: int, expected: bool) -> None:
    assert ranking.is_promoted(losses, candidate, 3, "crowding", front_grace=True) is expected
    if candidate in (1, 2) and losses is FRONT_AND_TWO:
        assert ranking.is_promoted(losses, candidate, 3, "crowding") is False  # the quota alone stops it

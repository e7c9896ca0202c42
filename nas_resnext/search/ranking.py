"""The ranking rule of multi-objective successive halving: non-dominated fronts and top-1/eta promotion.

Every function here works on a loss array of shape ``(n_points, n_objectives)`` in which lower is better in
every column; the scheduler normalises results into this form once (accuracy negated, a diverged or missing
value as +inf). NaN is read as +inf so a stray NaN can never make a point look good. Row ``i`` is the ``i``-th
result recorded at a rung, in arrival order; arrival order is the last tie-break, so every decision is
deterministic.

Two kinds of integer array come out of this module, and the names keep them apart:

- ``ranks[i]``: the front index of point ``i`` (0 = the Pareto front); equal points share a rank.
- ``order[k]``: the index of the point in ``k``-th place, best first (a permutation of ``range(n_points)``).

Selection follows NSGA-II (Deb et al. 2002), one of the two selection rules of MO-ASHA (Schmucker et al.
2021): points are ordered by front, then within a front by crowding distance (isolated points first, so the
promoted set spreads along the front), then by arrival order.
"""

from __future__ import annotations

import math

import numpy as np

from nas_resnext.compat import compute_hypervolume, fast_non_domination_rank
from nas_resnext.space import SELECTIONS


def as_losses(losses: np.ndarray | list) -> np.ndarray:
    """A float copy of ``losses`` as a 2-D ``(n_points, n_objectives)`` array, with NaN replaced by +inf."""
    array = np.array(losses, dtype=float)
    if array.ndim == 1:
        array = array.reshape(-1, 1) if array.size else array.reshape(0, 0)
    if array.ndim != 2:
        raise ValueError(f"losses must be 2-D (n_points, n_objectives); got shape {array.shape}")
    array[np.isnan(array)] = np.inf
    return array


def dominates(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether loss vector ``first`` Pareto-dominates ``second``: no worse anywhere and better somewhere."""
    return bool(np.all(first <= second) and np.any(first < second))


def pairwise_front_ranks(losses: np.ndarray) -> np.ndarray:
    """Front index of every point by repeated peeling of the non-dominated set.

    O(n^2) per front; rungs hold at most a few hundred results, so this is cheap. It is the fallback for
    Optuna's private sorter and the reference the tests compare it with.
    """
    n_points = len(losses)
    ranks = np.full(n_points, -1, dtype=int)
    remaining = list(range(n_points))
    front = 0
    while remaining:
        on_front = [
            i for i in remaining if not any(dominates(losses[j], losses[i]) for j in remaining if j != i)
        ]
        ranks[on_front] = front
        remaining = [i for i in remaining if ranks[i] < 0]
        front += 1
    return ranks


def _front_ranks(losses: np.ndarray) -> np.ndarray:
    if len(losses) == 0:
        return np.zeros(0, dtype=int)
    # Optuna's sorter when it has one; the pairwise peeling gives identical ranks.
    ranks = fast_non_domination_rank(losses)
    return pairwise_front_ranks(losses) if ranks is None else np.asarray(ranks, dtype=int)


def non_dominated_ranks(losses: np.ndarray | list) -> np.ndarray:
    """``ranks``: the non-dominated front index of every point (0 = Pareto front).

    Exact duplicates share a rank. A point with any +inf (missing or diverged) objective ranks behind every
    fully measured point, even if its other objectives are the best seen: a diverged trial is never promoted
    ahead of one that produced numbers. Points with +inf are sorted into fronts among themselves.
    """
    losses = as_losses(losses)
    ranks = np.zeros(len(losses), dtype=int)
    incomplete = np.isposinf(losses).any(axis=1)
    complete = ~incomplete
    ranks[complete] = _front_ranks(losses[complete])
    first_incomplete_rank = ranks[complete].max() + 1 if complete.any() else 0
    ranks[incomplete] = first_incomplete_rank + _front_ranks(losses[incomplete])
    return ranks


def _crowding_of_unique(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of distinct points: the normalised side lengths of the cuboid around each."""
    n_points = len(points)
    distances = np.zeros(n_points)
    if n_points <= 2:
        return np.full(n_points, np.inf)
    for column in points.T:
        order = np.argsort(column, kind="stable")
        distances[order[0]] = distances[order[-1]] = np.inf
        # Infinite values keep their place in the sort but are clipped to the finite range for the gaps,
        # so one +-inf neither swamps nor NaN-poisons the distances of the others.
        finite = column[np.isfinite(column)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        clipped = np.clip(column, low, high)
        span = high - low
        if span > 0:
            distances[order[1:-1]] += (clipped[order[2:]] - clipped[order[:-2]]) / span
    return distances


def crowding_distances(losses: np.ndarray | list, ranks: np.ndarray | None = None) -> np.ndarray:
    """Crowding distance of every point within its own front (larger = more isolated; boundary = inf).

    Computed over the distinct points of each front, so exact duplicates share one distance instead of
    getting an arbitrary 0 from sitting next to their twin.
    """
    losses = as_losses(losses)
    if ranks is None:
        ranks = non_dominated_ranks(losses)
    distances = np.zeros(len(losses))
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        unique_points, inverse = np.unique(losses[members], axis=0, return_inverse=True)
        distances[members] = _crowding_of_unique(unique_points)[inverse.reshape(-1)]
    return distances


def hypervolume_contributions(losses: np.ndarray | list, ranks: np.ndarray | None = None) -> np.ndarray:
    """Exclusive hypervolume contribution of every point within its own front (larger = adds more).

    The reference point lies a tenth of each objective's range beyond the worst finite value seen, so a
    front's extreme point counts for the area it really adds: a new cheapest candidate with poor accuracy
    adds little, where its crowding distance would be infinite. Exact duplicates share one (the distinct
    point's) contribution. Points with a +inf objective (missing or diverged) contribute 0. Ordering by
    contribution does not depend on the objectives' units.
    """
    losses = as_losses(losses)
    if ranks is None:
        ranks = non_dominated_ranks(losses)
    contributions = np.zeros(len(losses))
    complete = ~np.isposinf(losses).any(axis=1)
    if not complete.any():
        return contributions
    finite = losses[complete]
    finite = np.where(np.isneginf(finite), np.nan, finite)
    low, high = np.nanmin(finite, axis=0), np.nanmax(finite, axis=0)
    low, high = np.where(np.isnan(low), 0.0, low), np.where(np.isnan(high), 0.0, high)
    span = high - low
    margin = np.where(span > 0, span / 10, 1.0)
    reference = high + margin
    for front in np.unique(ranks[complete]):
        members = np.flatnonzero(complete & (ranks == front))
        # -inf is a best value: it sits one margin beyond the best finite value.
        points = np.maximum(losses[members], low - margin)
        unique_points, inverse = np.unique(points, axis=0, return_inverse=True)
        if len(unique_points) == 1:
            exclusive = np.array([float(np.prod(reference - unique_points[0]))])
        else:
            total = compute_hypervolume(unique_points, reference)
            exclusive = np.array(
                [
                    total - compute_hypervolume(np.delete(unique_points, i, axis=0), reference)
                    for i in range(len(unique_points))
                ]
            )
        contributions[members] = exclusive[inverse.reshape(-1)]
    return contributions


def epsilon_net_positions(losses: np.ndarray | list, ranks: np.ndarray | None = None) -> np.ndarray:
    """Place of every point in the greedy epsilon-net order of its own front (0 = first picked).

    The epsilon-net of MO-ASHA (Schmucker et al. 2021, after Salinas et al.): objectives are scaled to
    [0, 1] over the finite values seen; within a front the point best in the first objective comes first,
    then repeatedly the point farthest (Euclidean) from those already picked, so any prefix of the order
    covers the front as evenly as its length allows. Ties go to the earlier arrival; an exact duplicate of
    a picked point is at distance 0 and comes last.
    """
    losses = as_losses(losses)
    if ranks is None:
        ranks = non_dominated_ranks(losses)
    positions = np.zeros(len(losses), dtype=int)
    if len(losses) == 0:
        return positions
    scaled = np.zeros_like(losses)
    for column in range(losses.shape[1]):
        values = losses[:, column]
        finite = values[np.isfinite(values)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        span = high - low
        scaled[:, column] = (np.clip(values, low, high) - low) / span if span > 0 else 0.0
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        points = scaled[members]
        picked = [int(np.lexsort((np.arange(len(members)), points[:, 0]))[0])]
        nearest = np.linalg.norm(points - points[picked[0]], axis=1)
        while len(picked) < len(members):
            nearest[picked] = -1.0
            farthest = int(np.argmax(nearest))  # argmax takes the first of equals: the earlier arrival
            picked.append(farthest)
            nearest = np.minimum(nearest, np.linalg.norm(points - points[farthest], axis=1))
        positions[members[picked]] = np.arange(len(members))
    return positions


def selection_order(losses: np.ndarray | list, selection: str = "crowding") -> np.ndarray:
    """``order``: point indices best first, by front rank, then within a front by the larger crowding
    distance (``selection="crowding"``, as NSGA-II), the larger exclusive hypervolume contribution
    (``"hypervolume"``, as SMS-EMOA) or the earlier place in the epsilon-net (``"epsnet"``), then by
    earlier arrival."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}; got {selection!r}")
    losses = as_losses(losses)
    ranks = non_dominated_ranks(losses)
    if selection == "crowding":
        spread = crowding_distances(losses, ranks)
    elif selection == "hypervolume":
        spread = hypervolume_contributions(losses, ranks)
    else:
        spread = -epsilon_net_positions(losses, ranks).astype(float)
    # np.lexsort sorts by its last key first.
    return np.lexsort((np.arange(len(losses)), -spread, ranks))


def promotion_quota(n_points: int, reduction_factor: float) -> int:
    """How many of ``n_points`` results at a rung may continue: ``max(1, floor(n_points / eta))``.

    The floor of one matches ASHA: the first trial to reach a rung always continues.
    """
    if n_points < 1:
        raise ValueError(f"a rung needs at least one result; got {n_points}")
    return max(1, math.floor(n_points / reduction_factor))


def is_promoted(
    losses: np.ndarray | list,
    candidate: int,
    reduction_factor: float,
    selection: str = "crowding",
    front_grace: bool = False,
) -> bool:
    """Whether point ``candidate`` is among the top ``promotion_quota`` points of ``losses``, or, with
    ``front_grace``, on the rung's Pareto front (non-dominated by every result recorded there).

    ``losses`` holds every result recorded at the rung, the candidate's included.
    """
    losses = as_losses(losses)
    if not 0 <= candidate < len(losses):
        raise IndexError(f"candidate {candidate} is not a row of {len(losses)} losses")
    if front_grace and non_dominated_ranks(losses)[candidate] == 0:
        return True
    quota = promotion_quota(len(losses), reduction_factor)
    return bool(candidate in selection_order(losses, selection)[:quota])

"""Sampling that is feasible by construction and uniform over the feasible set.

Optuna's constraints are soft (an infeasible trial still runs), so instead every axis is drawn as a
quantile ``q`` in [0, 1): the axes are decoded in order (depths, width, cardinality, bottleneck width), and
``q`` picks a value of the next axis with probability proportional to the number of in-budget architectures
that value still leaves (its feasible completions, counted with the analytic counter). Independent uniform
quantiles therefore draw every in-budget architecture with the same probability: the product of the
conditional shares is one over the size of the feasible set. A value that leaves no completion is never
picked.

For a model-based sampler (TPE, NSGA-II, QMC) a quantile keeps its meaning along one axis: a low ``q``
picks a small value, a high one a large value, and the value's share of the interval is its share of the
feasible architectures, so a region of ``q`` maps to a region of the space of the same probability mass.

Counting is exact (memoised, with whole sub-spaces settled from their cheapest and dearest corners) for
spaces up to ``EXACT_COUNT_LIMIT`` architectures; above it, each value's completions are estimated from
``ESTIMATE_SAMPLES`` uniformly drawn completions (seeded by the prefix, so decoding stays a function of the
quantiles), and a value whose estimate is zero but which has a feasible completion keeps a small share.

The Optuna distributions stay static (one ``FloatDistribution`` per axis), so every sampler works
unchanged, and the natural values are stored beside them as user attributes.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import Architecture
from nas_resnext.complexity import Complexity, count_analytic
from nas_resnext.errors import ConfigError
from nas_resnext.space import SAMPLERS, Budget, DesignSpace

if TYPE_CHECKING:
    from nas_resnext.rundir import RunOptions

QUANTILE_PREFIX = "q_"
GRID_PARAM = "architecture_index"
MAX_GRID_SIZE = 100_000
EXACT_COUNT_LIMIT = 10_000_000  # spaces up to this size count feasible completions exactly
ESTIMATE_SAMPLES = 256  # completions drawn per value to estimate its share in larger spaces


class FeasibleSampler:
    """Maps quantiles (or a grid index) to architectures of ``space`` that satisfy its budget.

    The candidate sampler of a search (:class:`~nas_resnext.search.candidates.CandidateSampler`).
    """

    activity = "searching"
    per_trial_seed = False  # every trial trains with the run's seed

    def __init__(self, space: DesignSpace) -> None:
        self.space = space
        depth_axes = (
            [("depth", space.depths[0].values)]
            if space.shared_depth
            else [(f"depth_{i + 1}", d.values) for i, d in enumerate(space.depths)]
        )
        self.axes: list[tuple[str, tuple[int, ...]]] = depth_axes + [
            (name, axis.values) for name, axis in space.axis_ranges.items()
        ]
        self._stages = len(space.depths)

    # -- points of the space -------------------------------------------------------------------------

    def architecture(self, point: tuple[int, ...]) -> Architecture:
        """The architecture at a full point (one value per axis, in ``self.axes`` order)."""
        depth_count = 1 if self.space.shared_depth else self._stages
        depths = point[:depth_count] * (self._stages if self.space.shared_depth else 1)
        return self.space.architecture(depths, *point[depth_count:])

    def _admits(self, point: tuple[int, ...]) -> bool:
        return self.space.budget.admits(count_analytic(self.architecture(point)))

    @functools.lru_cache(maxsize=200_000)  # noqa: B019 - one sampler per search; the cache is the point
    def _has_feasible_completion(self, prefix: tuple[int, ...]) -> bool:
        rest = self.axes[len(prefix) :]
        if not rest:
            return self._admits(prefix)
        # Complexity (FLOPs, params and activations alike) grows along every axis: if the cheapest
        # completion is in budget or over an upper limit, or the dearest is under a lower limit, the answer
        # follows from the two corners without enumerating.
        cheapest = prefix + tuple(values[0] for _, values in rest)
        cheapest_cx = count_analytic(self.architecture(cheapest))
        budget = self.space.budget
        if budget.admits(cheapest_cx):
            return True
        if budget.exceeds(cheapest_cx):
            return False
        dearest = prefix + tuple(values[-1] for _, values in rest)
        if budget.falls_short(count_analytic(self.architecture(dearest))):
            return False
        return any(self._has_feasible_completion((*prefix, v)) for v in rest[0][1])

    def feasible_values(self, prefix: tuple[int, ...]) -> tuple[int, ...]:
        """Values of the next axis after ``prefix`` that leave at least one in-budget completion."""
        _, values = self.axes[len(prefix)]
        return tuple(v for v in values if self._has_feasible_completion((*prefix, v)))

    @functools.lru_cache(maxsize=200_000)  # noqa: B019 - one sampler per search; the cache is the point
    def completions(self, prefix: tuple[int, ...]) -> int:
        """The number of in-budget architectures whose first axes are ``prefix`` (exact)."""
        rest = self.axes[len(prefix) :]
        if not rest:
            return int(self._admits(prefix))
        if not self._has_feasible_completion(prefix):
            return 0
        # Complexity grows along every axis: when the dearest completion is in budget too, so is every
        # completion between the two corners.
        dearest = prefix + tuple(values[-1] for _, values in rest)
        cheapest = prefix + tuple(values[0] for _, values in rest)
        if self._admits(cheapest) and self._admits(dearest):
            return math.prod(len(values) for _, values in rest)
        return sum(self.completions((*prefix, value)) for value in rest[0][1])

    @property
    def exact(self) -> bool:
        """Whether completions are counted exactly (else estimated; see the module's docstring)."""
        return self.space.size <= EXACT_COUNT_LIMIT

    @functools.lru_cache(maxsize=200_000)  # noqa: B019 - one sampler per search; the cache is the point
    def completion_weight(self, prefix: tuple[int, ...]) -> float:
        """The share a value (the last of ``prefix``) gets when the next axis is drawn: its number of
        feasible completions, exact or (above ``EXACT_COUNT_LIMIT``) estimated."""
        if self.exact:
            return float(self.completions(prefix))
        if not self._has_feasible_completion(prefix):
            return 0.0
        rest = self.axes[len(prefix) :]
        total = math.prod(len(values) for _, values in rest)
        rng = random.Random(repr(prefix))  # decoding must stay a function of the quantiles
        admitted = sum(
            self._admits(prefix + tuple(rng.choice(values) for _, values in rest))
            for _ in range(ESTIMATE_SAMPLES)
        )
        # A feasible value no draw happened to hit keeps half a draw's share rather than none.
        return total * max(admitted, 0.5) / ESTIMATE_SAMPLES

    def feasible_count(self) -> int | None:
        """How many architectures of the space are in budget; None when the space is too large to count."""
        return self.completions(()) if self.exact else None

    def check_feasible(self) -> None:
        """Raise a ConfigError naming the smallest architecture when the budget admits none."""
        if self._has_feasible_completion(()):
            return
        smallest = self.space.smallest()
        cx = count_analytic(smallest)
        raise ConfigError(
            "budget",
            self.space.budget.describe(),
            "a budget that admits at least one architecture",
            note=f"no architecture of the space is within the budget ({self.space.budget.describe()}); "
            f"the smallest is {smallest.name} at {_complexity_text(cx, self.space.budget)}",
        )

    # -- Optuna parametrisation ----------------------------------------------------------------------

    def distributions(self, grid: bool = False) -> dict[str, Any]:
        """One quantile per axis; or, for grid search, one index into the feasible architectures."""
        from optuna.distributions import FloatDistribution, IntDistribution

        if grid:
            return {GRID_PARAM: IntDistribution(0, len(self.feasible_architectures()) - 1)}
        return {QUANTILE_PREFIX + name: FloatDistribution(0.0, 1.0) for name, _ in self.axes}

    def decode(self, params: Mapping[str, float]) -> Architecture:
        """The architecture that quantile parameters (``q_depth``, ``q_width``, ...) select."""
        if GRID_PARAM in params:
            return self.feasible_architectures()[int(params[GRID_PARAM])]
        prefix: tuple[int, ...] = ()
        for name, values in self.axes:
            weights = [self.completion_weight((*prefix, value)) for value in values]
            quantile = min(max(float(params[QUANTILE_PREFIX + name]), 0.0), 1.0)
            prefix += (_pick(values, weights, quantile),)
        return self.architecture(prefix)

    def seed_of(self, params: Mapping[str, Any]) -> int | None:
        """None: every trial of a search trains with the run's seed."""
        return None

    def chosen_by(self, options: RunOptions) -> str:
        return f"sampler {options.sampler}, scheduler {options.scheduler}"

    @functools.cache  # noqa: B019 - computed once per sampler, on demand (grid sampling only)
    def feasible_architectures(self) -> list[Architecture]:
        """Every in-budget architecture, in axis order (for exhaustive grid search)."""
        if self.space.size > MAX_GRID_SIZE:
            raise ConfigError(
                "sampler",
                "grid",
                f"tpe, nsga2, random or qmc for spaces above {MAX_GRID_SIZE:,} architectures",
            )
        found: list[Architecture] = []

        def walk(prefix: tuple[int, ...]) -> None:
            if len(prefix) == len(self.axes):
                found.append(self.architecture(prefix))
                return
            for value in self.feasible_values(prefix):
                walk((*prefix, value))

        walk(())
        return found

    def queue_grid(self, study: Any) -> None:
        """Queue every feasible architecture once, in axis order, on a study that has no trials yet."""
        if study.get_trials(deepcopy=False):
            return
        for index in range(len(self.feasible_architectures())):
            study.enqueue_trial({GRID_PARAM: index})


def _complexity_text(cx: Complexity, budget: Budget) -> str:
    """``0.0006554 GFLOPs and 0.01594 Mparams``, and its activations where the budget limits them."""
    if budget.bounds_activations:
        return f"{cx.gflops:.4g} GFLOPs, {cx.mparams:.4g} Mparams and {cx.mactivations:.4g} Mactivations"
    return f"{cx.gflops:.4g} GFLOPs and {cx.mparams:.4g} Mparams"


def _pick(values: tuple[int, ...], weights: list[float], quantile: float) -> int:
    """The value whose slice of [0, 1) holds ``quantile``, slices proportional to ``weights``; a value of
    weight 0 is never picked (the quantile 1.0 picks the last value of positive weight)."""
    total = sum(weights)
    edge = 0.0
    for value, weight in zip(values, weights, strict=True):
        if weight <= 0:
            continue
        edge += weight / total
        if quantile < edge:
            return value
    return next(v for v, w in zip(reversed(values), reversed(weights), strict=True) if w > 0)


def _optuna_samplers() -> dict[str, Callable[[int], Any]]:
    """Each name of ``SAMPLERS`` (the space file's choices) -> that Optuna sampler, built from a seed."""
    import optuna

    return {
        "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True),
        "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed),
        "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
        "qmc": lambda seed: optuna.samplers.QMCSampler(seed=seed, scramble=True),
        # Every feasible architecture is queued once up front (see ``queue_grid``); past the end of the
        # grid, draws are uniform (and come back as reused results). Optuna's GridSampler would call
        # ``study.stop()`` there, which only works inside ``study.optimize``, not under ask/tell.
        "grid": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    }


def sample_architectures(space: DesignSpace, count: int, seed: int = 0) -> list[Architecture]:
    """``count`` architectures drawn as a search's ``random`` sampler draws them (uniform over the in-budget
    architectures, repeats possible), through the same Optuna sampler and decoding."""
    import optuna

    from nas_resnext.search.study import quiet_optuna

    feasible = FeasibleSampler(space)
    feasible.check_feasible()
    with quiet_optuna():
        study = optuna.create_study(sampler=make_sampler("random", feasible, seed))
        distributions = feasible.distributions()
        drawn = []
        for _ in range(count):
            trial = study.ask(distributions)
            drawn.append(feasible.decode(trial.params))
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)  # nothing was trained
    return drawn


def continuing_seed(seed: int, trials_so_far: int) -> int:
    """The seed a sampler starts from on a study that already holds ``trials_so_far`` trials.

    A sampler rebuilt with the run's own seed would replay the draws it made before the run stopped (and
    each replayed draw would come back as a copy of a trained model). A fresh stream fixed by the seed and
    the number of trials keeps a resumed or extended run repeatable without replaying; a new run (no
    trials yet) starts from the seed itself.
    """
    if trials_so_far == 0:
        return seed
    import numpy as np

    return int(np.random.SeedSequence([seed, trials_so_far]).generate_state(1)[0])


def make_sampler(
    name: str,
    sampler: FeasibleSampler,
    seed: int,
    trials_so_far: int = 0,
    *,
    objectives: Sequence[str] = ("val_accuracy", "flops"),
    fidelities: Sequence[int] = (),
) -> Any:
    """The Optuna sampler called ``name`` (one of ``SAMPLERS``), seeded; ``trials_so_far`` (the trials the
    study already holds) makes a resumed run continue instead of replaying (see ``continuing_seed``).

    ``rung-tpe`` fits TPE at the highest of ``fidelities`` (the epochs at which the scheduler ranks trials,
    and the full count) with enough results on ``objectives``; see :mod:`nas_resnext.search.rung_sampler`.
    """
    if name == "rung-tpe":
        from nas_resnext.search.rung_sampler import RungTPESampler

        return RungTPESampler(objectives, fidelities or (1,), seed=continuing_seed(seed, trials_so_far))
    factories = _optuna_samplers()
    if name not in factories:
        raise ConfigError("sampler", name, " | ".join(SAMPLERS))
    # QMC keeps its seed: Optuna continues a scrambled sequence from the study's record of the last point.
    return factories[name](seed if name == "qmc" else continuing_seed(seed, trials_so_far))


def fidelities(scheduler: str, max_t: int, grace_period: int = 1, reduction_factor: float = 3) -> list[int]:
    """The epochs at which ``scheduler`` ranks trials, and ``max_t``: what ``rung-tpe`` can fit on."""
    from nas_resnext.search.schedulers import rung_levels

    rungs = rung_levels(grace_period, reduction_factor, max_t) if scheduler in ("asha", "moasha") else []
    return sorted({int(level) for level in rungs} | {int(max_t)})

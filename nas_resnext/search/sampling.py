"""Sampling that is feasible by construction: every architecture drawn lies inside the budget.

Optuna's constraints are soft (an infeasible trial still runs), so instead each axis is drawn as a
quantile ``q`` in [0, 1) of the values still feasible given the axes drawn before it; the feasible values
are found with the analytic counter. The Optuna distributions stay static (one ``FloatDistribution`` per
axis), so every sampler works unchanged, and the natural values are stored beside them as user attributes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import Architecture
from nas_resnext.complexity import count_analytic
from nas_resnext.errors import ConfigError
from nas_resnext.space import SAMPLERS, DesignSpace

if TYPE_CHECKING:
    from nas_resnext.rundir import RunOptions

QUANTILE_PREFIX = "q_"
GRID_PARAM = "architecture_index"
MAX_GRID_SIZE = 100_000


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
        # Complexity grows along every axis: if the cheapest completion is in budget or the dearest is
        # out of it on the low side, the answer follows from the two corners without enumerating.
        cheapest = prefix + tuple(values[0] for _, values in rest)
        cheapest_cx = count_analytic(self.architecture(cheapest))
        budget = self.space.budget
        if budget.admits(cheapest_cx):
            return True
        over_max = (budget.max_gflops is not None and cheapest_cx.flops > budget.max_gflops * 1e9) or (
            budget.max_mparams is not None and cheapest_cx.params > budget.max_mparams * 1e6
        )
        if over_max:
            return False
        dearest = prefix + tuple(values[-1] for _, values in rest)
        if (
            budget.min_gflops is not None
            and count_analytic(self.architecture(dearest)).flops < budget.min_gflops * 1e9
        ):
            return False
        return any(self._has_feasible_completion((*prefix, v)) for v in rest[0][1])

    def feasible_values(self, prefix: tuple[int, ...]) -> tuple[int, ...]:
        """Values of the next axis after ``prefix`` that leave at least one in-budget completion."""
        _, values = self.axes[len(prefix)]
        return tuple(v for v in values if self._has_feasible_completion((*prefix, v)))

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
            f"the smallest is {smallest.name} at {cx.gflops:.4g} GFLOPs and {cx.mparams:.4g} Mparams",
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
        for name, _ in self.axes:
            values = self.feasible_values(prefix)
            quantile = min(max(float(params[QUANTILE_PREFIX + name]), 0.0), 1.0)
            prefix += (values[min(int(quantile * len(values)), len(values) - 1)],)
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


def make_sampler(name: str, sampler: FeasibleSampler, seed: int) -> Any:
    """The Optuna sampler called ``name`` (one of ``SAMPLERS``), seeded."""
    factories = _optuna_samplers()
    if name not in factories:
        raise ConfigError("sampler", name, " | ".join(SAMPLERS))
    return factories[name](seed)

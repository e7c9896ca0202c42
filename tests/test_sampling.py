"""Feasible-by-construction sampling: whatever the sampler proposes, the architecture is in budget."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import optuna
import pytest

from nas_resnext import ConfigError, count_analytic
from nas_resnext.search.sampling import FeasibleSampler, _optuna_samplers, make_sampler
from nas_resnext.space import SAMPLERS, DesignSpace

SPACES = sorted(Path(__file__).resolve().parents[1].joinpath("search_spaces").glob("*.yaml"))


def _space(budget: dict, **axes: object) -> DesignSpace:
    return DesignSpace.from_dict(
        {
            "template": "cifar",
            "resolution": 16,
            "in_channels": 1,
            "stem_width": 8,
            "axes": {
                "depth": [1, 2],
                "width": [4, 8, 16],
                "cardinality": [1, 2, 4],
                "bottleneck_width": [1, 2, 4, 8],
            }
            | axes,
            "budget": budget,
        }
    )


def _in_budget(space: DesignSpace) -> set[str]:
    return {a.name for a in space.architectures() if space.budget.admits(count_analytic(a))}


@pytest.mark.parametrize("path", SPACES, ids=[p.stem for p in SPACES])
def test_random_quantiles_always_decode_into_the_budget(path: Path) -> None:
    space = DesignSpace.from_file(path)
    sampler = FeasibleSampler(space)
    rng = random.Random(0)
    names = set()
    for _ in range(500):
        arch = sampler.decode({name: rng.random() for name in sampler.distributions()})
        assert space.budget.admits(count_analytic(arch)), arch.name
        names.add(arch.name)
    assert names <= _in_budget(space)
    assert len(names) > 0.5 * min(len(_in_budget(space)), 500)


@pytest.mark.parametrize(
    "budget",
    [
        {"max_gflops": 0.0005},
        {"max_mparams": 0.05},
        {"min_gflops": 0.001, "max_gflops": 0.002},  # a band: both corners out, the middle in
        {},
    ],
)
def test_grid_enumerates_exactly_the_in_budget_architectures(budget: dict) -> None:
    space = _space(budget)
    feasible = FeasibleSampler(space).feasible_architectures()
    assert {a.name for a in feasible} == _in_budget(space)
    assert len(feasible) == len({a.name for a in feasible})


def test_extreme_quantiles_pick_the_ends_of_the_feasible_values() -> None:
    space = _space({"max_gflops": 0.0005})
    sampler = FeasibleSampler(space)
    low = sampler.decode({name: 0.0 for name in sampler.distributions()})
    assert low == space.smallest()
    high = sampler.decode({name: 0.999999 for name in sampler.distributions()})
    assert space.budget.admits(count_analytic(high))


def test_infeasible_budget_names_the_smallest_architecture() -> None:
    space = _space({"max_gflops": 1e-6})
    with pytest.raises(ConfigError) as info:
        FeasibleSampler(space).check_feasible()
    smallest = space.smallest()
    message = str(info.value)
    assert message.startswith("budget: no architecture of the space is within the budget (GFLOPs <= 1e-06)")
    assert smallest.name in message and f"{count_analytic(smallest).gflops:.4g} GFLOPs" in message


@pytest.mark.parametrize("name", ["tpe", "nsga2", "random", "qmc", "grid"])
def test_every_sampler_proposes_only_feasible_architectures(name: str) -> None:
    space = _space({"max_gflops": 0.001})
    feasible = FeasibleSampler(space)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            directions=["maximize", "minimize"], sampler=make_sampler(name, feasible, seed=3)
        )
    distributions = feasible.distributions(grid=name == "grid")
    if name == "grid":
        feasible.queue_grid(study)
    seen = []
    for _ in range(25):
        trial = study.ask(distributions)
        arch = feasible.decode(trial.params)
        complexity = count_analytic(arch)
        assert space.budget.admits(complexity)
        # A made-up objective gives the model-based samplers something to learn from.
        study.tell(trial, [arch.width / 16 + arch.cardinality / 8, complexity.flops])
        seen.append(arch)
    if name == "grid":  # the queued grid comes first, in order, with no repeats
        assert seen == feasible.feasible_architectures()[:25]


def test_seeded_sampling_repeats() -> None:
    space = _space({"max_gflops": 0.001})
    feasible = FeasibleSampler(space)

    def names(seed: int) -> list[str]:
        study = optuna.create_study(
            directions=["maximize", "minimize"], sampler=make_sampler("random", feasible, seed)
        )
        out = []
        for _ in range(10):
            trial = study.ask(feasible.distributions())
            out.append(feasible.decode(trial.params).name)
            study.tell(trial, [0.5, 1.0])
        return out

    assert names(7) == names(7) != names(8)


def test_unknown_sampler_is_rejected() -> None:
    with pytest.raises(ConfigError, match="sampler: got 'cmaes'"):
        make_sampler("cmaes", FeasibleSampler(_space({})), 0)


def test_every_sampler_a_space_may_name_is_built() -> None:
    assert set(_optuna_samplers()) == set(SAMPLERS)

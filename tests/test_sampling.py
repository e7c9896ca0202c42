"""Feasible-by-construction sampling: whatever the sampler proposes, the architecture is in budget."""

from __future__ import annotations

import collections
import json
import random
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

from nas_resnext import ConfigError, count_analytic
from nas_resnext.search.sampling import FeasibleSampler, _optuna_samplers, make_sampler, sample_architectures
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
        {"max_mactivations": 0.05},
        {"min_mactivations": 0.06, "max_mactivations": 0.08},  # a band of activations
        {"max_gflops": 0.002, "min_mactivations": 0.05},  # an upper limit on one measure, a lower on another
        {"max_mparams": 0.05, "min_mactivations": 0.04},
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


def test_activation_budgets_sample_only_in_budget_architectures() -> None:
    space = _space({"min_mactivations": 0.03, "max_mactivations": 0.06})
    in_budget = _in_budget(space)
    assert 0 < len(in_budget) < space.size
    assert {
        a.name for a in sample_architectures(space, 300, seed=2)
    } == in_budget  # all of them, nothing else
    sampler = FeasibleSampler(space)
    rng = random.Random(3)
    for _ in range(300):
        arch = sampler.decode({name: rng.random() for name in sampler.distributions()})
        assert 30_000 <= count_analytic(arch).activations <= 60_000, arch.name


def test_infeasible_activation_budget_names_the_smallest_architecture_and_its_activations() -> None:
    space = _space({"max_mactivations": 0.01})
    with pytest.raises(ConfigError) as info:
        FeasibleSampler(space).check_feasible()
    smallest, cx = space.smallest(), count_analytic(space.smallest())
    assert str(info.value) == (
        "budget: no architecture of the space is within the budget (Mactivations <= 0.01); the smallest is "
        f"{smallest.name} at {cx.gflops:.4g} GFLOPs, {cx.mparams:.4g} Mparams and "
        f"{cx.mactivations:.4g} Mactivations"
    )


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
    assert set(_optuna_samplers()) | {"rung-tpe"} == set(SAMPLERS)
    feasible = FeasibleSampler(_space({}))
    for name in SAMPLERS:
        assert isinstance(make_sampler(name, feasible, 0), optuna.samplers.BaseSampler)


# ------------------------------------------------------------------------ uniform over the feasible set


def test_completions_count_exactly_the_in_budget_architectures() -> None:
    for budget in (
        {"max_gflops": 0.0005},
        {"min_gflops": 0.001, "max_gflops": 0.002},
        {"min_mactivations": 0.03, "max_mactivations": 0.06},
        {},
    ):
        space = _space(budget)
        sampler = FeasibleSampler(space)
        assert sampler.feasible_count() == len(_in_budget(space))
        for depth in (1, 2):  # per first-axis value too
            expected = sum(
                1
                for a in space.architectures()
                if a.depths[0] == depth and space.budget.admits(count_analytic(a))
            )
            assert sampler.completions((depth,)) == expected


@pytest.mark.parametrize("path", SPACES, ids=[p.stem for p in SPACES])
def test_random_draws_are_uniform_over_the_feasible_set(path: Path) -> None:
    from scipy.stats import chisquare

    space = DesignSpace.from_file(path)
    sampler = FeasibleSampler(space)
    feasible = [a.name for a in sampler.feasible_architectures()]
    rng = random.Random(1)
    draws = 100 * len(feasible)
    counts = dict.fromkeys(feasible, 0)
    for _ in range(draws):
        counts[sampler.decode({name: rng.random() for name in sampler.distributions()}).name] += 1
    # Chi-square goodness of fit against equal probabilities; drawing each axis uniformly over the values
    # still feasible (as before) fails this on digits_demo (depth 1 drawn half the time, 60% of the set).
    assert chisquare(list(counts.values())).pvalue > 0.001


def test_large_spaces_estimate_shares_and_stay_in_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import nas_resnext.search.sampling as sampling

    monkeypatch.setattr(sampling, "EXACT_COUNT_LIMIT", 10)  # treat the 96-architecture space as too large
    space = _space({"max_gflops": 0.001})
    sampler = FeasibleSampler(space)
    assert not sampler.exact and sampler.feasible_count() is None
    rng = random.Random(0)
    names = [sampler.decode({n: rng.random() for n in sampler.distributions()}).name for _ in range(2000)]
    assert set(names) == _in_budget(space)  # every feasible architecture is reachable, nothing else
    again = random.Random(0)
    assert names[:50] == [
        sampler.decode({n: again.random() for n in sampler.distributions()}).name for _ in range(50)
    ]


# ---------------------------------------------------------------- resume and extension never replay

LARGE = {
    "template": "cifar",
    "resolution": 8,
    "in_channels": 1,
    "stem_width": 4,
    "axes": {
        "depth": [1, 2, 3],
        "width": [2, 4, 6, 8, 10, 12, 14, 16],
        "cardinality": [1, 2, 4, 8],
        "bottleneck_width": [1, 2, 3, 4, 6, 8],
    },
}


def _objective(arch: Any) -> list[float]:
    # A made-up smooth objective: model-based samplers get something to learn from.
    return [arch.width / 16 + arch.cardinality / 8 - arch.depths[0] / 10, float(count_analytic(arch).flops)]


def _draw(study: optuna.Study, feasible: FeasibleSampler, until: int, leave_running: int = 0) -> list[str]:
    """Ask and tell until the study holds ``until`` finished trials; the last ``leave_running`` are left
    RUNNING, as a killed search leaves them."""
    names = []
    distributions = feasible.distributions()
    while len(study.get_trials(deepcopy=False)) < until:
        trial = study.ask(distributions)
        arch = feasible.decode(trial.params)
        names.append(arch.name)
        if len(study.get_trials(deepcopy=False)) <= until - leave_running:
            study.tell(trial, _objective(arch))
    return names


def _copies(names: list[str], before: list[str]) -> int:
    seen = set(before)
    copies = 0
    for name in names:
        copies += name in seen
        seen.add(name)
    return copies


def _open(path: Path, name: str, feasible: FeasibleSampler, seed: int) -> optuna.Study:
    from nas_resnext.search.study import open_study

    study = open_study(f"sqlite:///{path}", "large", ["val_accuracy", "flops"], sampler=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = make_sampler(name, feasible, seed, len(study.get_trials(deepcopy=False)))
    return study


@pytest.mark.parametrize("name", ["random", "tpe", "nsga2", "qmc"])
def test_extending_or_resuming_a_run_continues_the_sampler(tmp_path: Path, name: str) -> None:
    from nas_resnext.search.study import recover_interrupted

    feasible = FeasibleSampler(DesignSpace.from_dict(LARGE))
    assert feasible.feasible_count() >= 100
    # One uninterrupted run of 12 trials.
    whole = _draw(_open(tmp_path / "whole.db", name, feasible, seed=5), feasible, until=12)
    baseline = _copies(whole[6:], whole[:6])
    # 6 trials, then the process ends and a new one extends the run to 12.
    first = _draw(_open(tmp_path / "extended.db", name, feasible, seed=5), feasible, until=6)
    extended = _draw(_open(tmp_path / "extended.db", name, feasible, seed=5), feasible, until=12)
    assert _copies(extended, first) <= baseline
    # Killed after asking 6 (2 still running), then resumed: the interrupted two re-run as they were queued,
    # and the sampler's own new draws are no more often copies than in the uninterrupted run.
    killed = _draw(_open(tmp_path / "killed.db", name, feasible, seed=5), feasible, until=6, leave_running=2)
    resumed_study = _open(tmp_path / "killed.db", name, feasible, seed=5)
    requeued = recover_interrupted(resumed_study)
    assert len(requeued) == 2
    resumed = _draw(resumed_study, feasible, until=14)  # the 2 re-runs, then 6 new draws: 12 counted trials
    rerun, new = resumed[:2], resumed[2:]
    assert rerun == killed[4:6]
    assert _copies(new, killed[:4] + rerun) <= baseline


def test_a_resumed_run_repeats_with_its_seed(tmp_path: Path) -> None:
    feasible = FeasibleSampler(DesignSpace.from_dict(LARGE))

    def extended(folder: str) -> list[str]:
        _draw(_open(tmp_path / f"{folder}.db", "random", feasible, seed=5), feasible, until=6)
        return _draw(_open(tmp_path / f"{folder}.db", "random", feasible, seed=5), feasible, until=12)

    assert extended("a") == extended("b")


@pytest.mark.ray
def test_an_extended_search_trains_new_architectures(tmp_path: Path, in_tmp_path: Path) -> None:
    import dataclasses

    from nas_resnext.rundir import RunDirectory, RunOptions
    from nas_resnext.search.runner import run_search

    space = DesignSpace.from_dict(
        {
            **LARGE,
            "name": "large",
            "dataset": "digits",
            "training": {"epochs": 1, "batch_size": 128, "lr": 0.2, "val_fraction": 0.2},
        }
    )
    options = RunOptions(trials=3, sampler="random", scheduler="fifo", seed=0, max_concurrent=2)
    run = RunDirectory.create(tmp_path / "run", space, options)
    run_search(run, space, options, stream=None)
    outcome = run_search(run, space, dataclasses.replace(options, trials=6), stream=None)
    assert len(outcome.trials) == 6
    assert [t.user_attrs.get("reused_from") for t in outcome.trials[3:]] == [None] * 3


def test_space_sample_prints_the_search_draws_uniformly(capsys: pytest.CaptureFixture[str]) -> None:
    from scipy.stats import chisquare

    from nas_resnext.cli import main

    path = next(p for p in SPACES if p.stem == "digits_demo")
    assert main(["space", str(path), "--sample", "5200", "--seed", "4", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5200
    assert set(rows[0]) >= {"name", "depths", "width", "cardinality", "bottleneck_width", "flops", "params"}
    space = DesignSpace.from_file(path)
    feasible = _in_budget(space)
    counts = collections.Counter(row["name"] for row in rows)
    assert set(counts) <= feasible and len(feasible) == 260
    assert chisquare([counts[name] for name in sorted(feasible)]).pvalue > 0.001
    # The same draws as the search's own sampler: the first trials of a random search of this seed.
    feasible_sampler = FeasibleSampler(space)
    study = optuna.create_study(sampler=make_sampler("random", feasible_sampler, 4))
    first = [
        feasible_sampler.decode(study.ask(feasible_sampler.distributions()).params).name for _ in range(5)
    ]
    assert [row["name"] for row in rows[:5]] == first
    assert main(["space", str(path), "--sample", "3", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 draws of digits_demo (seed 4), uniform over 260 in-budget architectures:")
    assert all(name in out for name in first[:3])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sample", "0"], "--sample: got 0; allowed: an integer >= 1"),
        (["--seed", "3"], "--seed: got 3; allowed: nothing without --sample"),
    ],
)
def test_space_sample_bad_input(capsys: pytest.CaptureFixture[str], extra: list[str], message: str) -> None:
    from nas_resnext.cli import main

    assert main(["space", str(SPACES[0]), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1

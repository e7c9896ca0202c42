"""rung-tpe: TPE fitted at the highest rung with enough results, on real Optuna studies and a real search."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from nas_resnext.search.rung_sampler import FITTED_AT_ATTR, RungTPESampler, results_at
from nas_resnext.search.sampling import fidelities

OBJECTIVES = ["val_accuracy", "flops"]
DISTRIBUTIONS = {"q_a": FloatDistribution(0, 1), "q_b": FloatDistribution(0, 1)}


def _study(sampler: optuna.samplers.BaseSampler, path: Path) -> optuna.Study:
    return optuna.create_study(
        directions=["maximize", "minimize"], sampler=sampler, storage=f"sqlite:///{path}"
    )


def _tell(study: optuna.Study, accuracy: list[float], flops: float, max_t: int = 9, **attrs: object) -> int:
    """Ask a trial and record its curve: PRUNED when it stopped before ``max_t``, else COMPLETE."""
    trial = study.ask(DISTRIBUTIONS)
    trial.set_user_attr("flops", flops)
    trial.set_user_attr("history", [{"epoch": e + 1, "val_accuracy": a} for e, a in enumerate(accuracy)])
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if len(accuracy) < max_t:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, values=[accuracy[-1], flops])
    return trial.number


@pytest.mark.parametrize(
    ("scheduler", "grace", "eta", "max_t", "expected"),
    [
        ("fifo", 1, 3, 9, [9]),
        ("moasha", 1, 3, 9, [1, 3, 9]),
        ("asha", 1, 3, 9, [1, 3, 9]),
        ("moasha", 2, 2, 9, [2, 4, 8, 9]),
        ("moasha", 3, 3, 3, [3]),
    ],
)
def test_fidelities_are_the_rungs_and_the_full_count(
    scheduler: str, grace: int, eta: int, max_t: int, expected: list[int]
) -> None:
    assert fidelities(scheduler, max_t, grace, eta) == expected


def test_fits_at_the_highest_fidelity_with_enough_results(tmp_path: Path) -> None:
    sampler = RungTPESampler(OBJECTIVES, [1, 3, 9], seed=0, min_results=4)
    study = _study(sampler, tmp_path / "study.db")
    fitted = []
    for i in range(12):
        # every trial reaches epoch 1; every third goes on to epoch 3; none finishes
        _tell(study, [0.5] * (3 if i % 3 == 0 else 1), flops=1e6 * (i + 1))
        fitted.append(study.trials[-1].user_attrs[FITTED_AT_ATTR])
    # random until 4 results at epoch 1; rung 3 takes over once it holds 4 (trials 0, 3, 6, 9)
    assert fitted == [None] * 4 + [1] * 6 + [3] * 2
    # a trial asked now sees 4 results at epoch 3
    trial = study.ask(DISTRIBUTIONS)
    assert study.get_trials()[trial.number].user_attrs[FITTED_AT_ATTR] == 3


def test_values_at_a_rung_come_from_the_history(tmp_path: Path) -> None:
    study = _study(optuna.samplers.RandomSampler(seed=0), tmp_path / "study.db")
    finished = _tell(study, [0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.95], flops=3e6)
    stopped = _tell(study, [0.3, 0.5, 0.55], flops=2e6)
    copy = _tell(study, [0.2, 0.4, 0.6], flops=3e6, reused_from=finished)
    failed = study.ask(DISTRIBUTIONS)
    failed.set_user_attr("flops", 1e6)
    failed.set_user_attr("history", [{"epoch": 1, "val_accuracy": 0.9}])
    study.tell(failed, state=TrialState.FAIL)
    diverged = _tell(study, [math.nan], flops=1e6)
    trials = study.get_trials()
    at = {
        epoch: {t.number: values for t, values in results_at(trials, OBJECTIVES, epoch)}
        for epoch in (1, 3, 9)
    }
    # copies, failures and a diverged (NaN) epoch are no results; the rest are read at that epoch
    assert at[1] == {finished: [0.2, 3e6], stopped: [0.3, 2e6]}
    assert at[3] == {finished: [0.6, 3e6], stopped: [0.55, 2e6]}
    assert at[9] == {finished: [0.95, 3e6]}
    assert copy not in at[1] and diverged not in at[1]


def _learning_curve(q_a: float) -> list[float]:
    # Candidates with a small q_a are good: high accuracy at the first rung, where all of them stop.
    return [0.9 - 0.6 * q_a]


def _share_of_good_draws(sampler: optuna.samplers.BaseSampler, path: Path) -> float:
    """40 trials, every one stopped at the first rung; the share of the last 20 draws in the good region."""
    study = _study(sampler, path)
    for _ in range(40):
        trial = study.ask(DISTRIBUTIONS)
        trial.set_user_attr("flops", 1e6)
        accuracy = _learning_curve(trial.params["q_a"])
        trial.set_user_attr("history", [{"epoch": 1, "val_accuracy": accuracy[0]}])
        study.tell(trial, state=TrialState.PRUNED)
    late = [t.params["q_a"] for t in study.trials[20:]]
    return sum(q < 0.25 for q in late) / len(late)  # at random, a quarter


def test_learns_from_trials_stopped_at_a_rung(tmp_path: Path) -> None:
    """Every trial is stopped at the first rung: tpe has no finished trial to learn from, rung-tpe does."""
    seeds = [1, 2, 3]
    rung = [
        _share_of_good_draws(RungTPESampler(OBJECTIVES, [1, 3, 9], seed=s), tmp_path / f"r{s}.db")
        for s in seeds
    ]
    plain = [
        _share_of_good_draws(optuna.samplers.TPESampler(seed=s, multivariate=True), tmp_path / f"t{s}.db")
        for s in seeds
    ]
    assert sum(rung) / 3 >= 0.6
    assert sum(rung) / 3 >= sum(plain) / 3 + 0.2


def test_trials_in_flight_count_as_results_that_rank_last(tmp_path: Path) -> None:
    sampler = RungTPESampler(OBJECTIVES, [1, 9], seed=0, min_results=3)
    study = _study(sampler, tmp_path / "study.db")
    for i in range(4):
        _tell(study, [0.5 + 0.1 * i], flops=1e6)
    running = study.ask(DISTRIBUTIONS)
    asked = study.ask(DISTRIBUTIONS)
    view = sampler._study_view(study, study.get_trials(deepcopy=False)[asked.number])
    states = sorted(t.state.name for t in view.get_trials())
    assert states == ["COMPLETE"] * 4 + ["PRUNED"]  # the other trial in flight, not the one being asked
    assert running.number != asked.number


@pytest.mark.ray
def test_rung_tpe_with_moasha_search(
    tmp_path: Path, in_tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    """A real search: every trial records what the sampler was fitted on, and the search completes."""
    from nas_resnext.cli import main

    space = tiny_space(training__epochs=3)
    code = main(
        [
            "search",
            str(space),
            "--trials",
            "8",
            "--sampler",
            "rung-tpe",
            "--scheduler",
            "moasha",
            "--selection",
            "epsnet",
            "--front-grace",
            "all",
            "--run-dir",
            str(tmp_path / "run"),
            "-q",
        ]
    )
    assert code == 0
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (recorded["sampler"], recorded["selection"], recorded["front_grace"]) == (
        "rung-tpe",
        "epsnet",
        "all",
    )
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
    trials = study.get_trials()
    assert len(trials) >= 8
    asked = [t for t in trials if "reused_from" not in t.user_attrs]
    assert all(FITTED_AT_ATTR in t.user_attrs for t in asked)
    assert {t.user_attrs[FITTED_AT_ATTR] for t in asked} <= {None, 1, 3}


def test_bad_front_grace_exits_2_and_writes_nothing(
    tmp_path: Path, in_tmp_path: Path, tiny_space: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from nas_resnext.cli import main

    code = main(["search", str(tiny_space()), "--front-grace", "some", "--run-dir", str(tmp_path / "run")])
    assert code == 2
    error = capsys.readouterr().err
    assert (
        "argument --front-grace: invalid choice: 'some'" in error
        and "'filling', 'upper', 'all', 'none'" in error
    )
    assert not (tmp_path / "run").exists()

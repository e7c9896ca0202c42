"""Schedulers: MO-ASHA decisions at rungs on real Trial objects; fifo, asha, moasha under a local Ray."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from nas_resnext.errors import ConfigError
from nas_resnext.search.schedulers import (
    MissingMetricError,
    MOASHAScheduler,
    make_scheduler,
    parse_objectives,
    rung_levels,
    was_stopped_early,
)
from nas_resnext.space import SCHEDULERS

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def make_trial(trial_id: str) -> Trial:
    # A stub Trial needs no cluster and no registered trainable.
    return Trial("synthetic", config={}, trial_id=trial_id, stub=True)


def result(epoch: int, accuracy: float | None, flops: float) -> dict:
    return {"epoch": epoch, "val_accuracy": accuracy, "flops": flops}


class Driver:
    """Feeds hand-made results to a scheduler the way Tune's controller does."""

    def __init__(self, scheduler: MOASHAScheduler) -> None:
        self.scheduler = scheduler
        self.trials: dict[str, Trial] = {}

    def report(self, trial_id: str, report: dict) -> str:
        if trial_id not in self.trials:
            self.trials[trial_id] = make_trial(trial_id)
            self.scheduler.on_trial_add(None, self.trials[trial_id])
        return self.scheduler.on_trial_result(None, self.trials[trial_id], report)


@pytest.fixture
def driver() -> Driver:
    return Driver(MOASHAScheduler(["val_accuracy", "flops"], grace_period=1, reduction_factor=3, max_t=9))


@pytest.mark.parametrize(
    ("grace_period", "reduction_factor", "max_t", "levels"),
    [(1, 3, 9, [1, 3]), (1, 3, 10, [1, 3, 9]), (2, 2, 16, [2, 4, 8]), (3, 3, 9, [3]), (1, 3, 1, [])],
)
def test_rung_levels(grace_period: int, reduction_factor: int, max_t: int, levels: list[int]) -> None:
    assert rung_levels(grace_period, reduction_factor, max_t) == levels
    scheduler = MOASHAScheduler(["val_accuracy"], grace_period=grace_period, max_t=max_t, reduction_factor=3)
    assert scheduler.rungs == rung_levels(grace_period, 3, max_t)


def test_decisions_at_the_first_rung(driver: Driver) -> None:
    assert driver.report("a", result(1, 0.50, 100)) == CONTINUE  # first at the rung
    assert driver.report("b", result(1, 0.40, 200)) == STOP  # dominated by a
    # c trades accuracy for FLOPs with a: both on the front, both boundaries; a arrived first, quota 1 of 3.
    assert driver.report("c", result(1, 0.60, 300)) == STOP
    assert driver.report("d", result(1, 0.70, 50)) == CONTINUE  # dominates everyone
    assert driver.report("e", result(1, 0.10, 900)) == STOP
    # Sixth result: quota 2; f is on the front {d, f} and the front has only boundary points.
    assert driver.report("f", result(1, 0.65, 40)) == CONTINUE
    assert driver.scheduler.stopped_trials == {"b", "c", "e"}
    assert list(driver.scheduler.recorded(1)) == ["a", "b", "c", "d", "e", "f"]


def test_only_rungs_decide_and_max_t_is_not_early(driver: Driver) -> None:
    assert driver.report("a", result(1, 0.50, 100)) == CONTINUE
    assert driver.report("b", result(1, 0.60, 90)) == CONTINUE
    assert driver.report("a", result(2, 0.10, 100)) == CONTINUE  # between rungs: never stopped
    assert driver.report("a", result(3, 0.55, 100)) == CONTINUE  # first at rung 3
    assert driver.report("b", result(3, 0.60, 90)) == CONTINUE  # dominates a
    assert driver.report("b", result(3, 0.10, 90)) == CONTINUE  # a repeated epoch is not recorded twice
    assert list(driver.scheduler.recorded(3)) == ["a", "b"]
    assert driver.report("a", result(9, 0.70, 100)) == STOP  # reached max_t: finished, not pruned
    assert driver.scheduler.stopped_trials == frozenset()


def test_a_rung_decision_uses_the_losses_at_that_rung(driver: Driver) -> None:
    driver.report("a", result(1, 0.50, 100))
    driver.report("a", result(3, 0.50, 100))
    driver.report("b", result(1, 0.90, 100))
    # At rung 3, b is worse than a was there, though it beat a at rung 1.
    assert driver.report("b", result(3, 0.45, 100)) == STOP
    assert driver.scheduler.stopped_trials == {"b"}


@pytest.mark.parametrize("diverged", [None, math.nan])
def test_diverged_results_rank_worst(driver: Driver, diverged: float | None) -> None:
    assert driver.report("a", result(1, diverged, 10)) == CONTINUE  # first at the rung still continues
    assert driver.report("b", result(1, 0.20, 500)) == CONTINUE  # any measured point beats a diverged one
    assert driver.report("c", result(1, diverged, 1)) == STOP  # even with the lowest FLOPs
    assert driver.scheduler.recorded(1)["c"].tolist() == [math.inf, 1.0]


def test_a_missing_metric_fails_loudly(driver: Driver) -> None:
    with pytest.raises(MissingMetricError, match=r"trial a reported no 'flops'") as caught:
        driver.report("a", {"epoch": 1, "val_accuracy": 0.5})
    assert (caught.value.metric, caught.value.trial_id) == ("flops", "a")
    with pytest.raises(MissingMetricError, match="epoch"):
        driver.report("b", {"val_accuracy": 0.5, "flops": 1})


def test_a_trial_completing_at_a_rung_is_recorded_once(driver: Driver) -> None:
    trial = make_trial("short")
    driver.scheduler.on_trial_add(None, trial)
    driver.scheduler.on_trial_complete(None, trial, result(1, 0.9, 10))
    driver.scheduler.on_trial_complete(None, trial, result(1, 0.9, 10))
    assert list(driver.scheduler.recorded(1)) == ["short"]
    assert driver.report("b", result(1, 0.5, 20)) == STOP
    # Tune calls on_trial_complete after a STOP with the same last result: not recorded again.
    driver.scheduler.on_trial_complete(None, driver.trials["b"], result(1, 0.5, 20))
    assert list(driver.scheduler.recorded(1)) == ["short", "b"]


def test_three_objectives_and_explicit_modes() -> None:
    scheduler = MOASHAScheduler([("top1", "max"), "flops", ("latency_ms", "min")], max_t=9)
    driver = Driver(scheduler)
    base = {"epoch": 1}
    assert driver.report("a", {**base, "top1": 0.5, "flops": 100, "latency_ms": 5.0}) == CONTINUE
    assert driver.report("b", {**base, "top1": 0.5, "flops": 100, "latency_ms": 4.0}) == CONTINUE
    assert driver.report("c", {**base, "top1": 0.5, "flops": 100, "latency_ms": 4.0}) == STOP  # duplicate
    assert scheduler.recorded(1)["a"].tolist() == [-0.5, 100.0, 5.0]


def test_save_and_restore(tmp_path: Path, driver: Driver) -> None:
    driver.report("a", result(1, 0.5, 100))
    driver.report("b", result(1, 0.4, 200))
    driver.scheduler.save(str(tmp_path / "scheduler.pkl"))
    restored = MOASHAScheduler(["val_accuracy", "flops"], max_t=9)
    restored.restore(str(tmp_path / "scheduler.pkl"))
    assert restored.stopped_trials == {"b"}
    assert list(restored.recorded(1)) == ["a", "b"]


def test_search_properties_from_tune() -> None:
    scheduler = MOASHAScheduler(["val_accuracy", "flops"], max_t=9)
    assert scheduler.set_search_properties("val_accuracy", "max")
    assert scheduler.set_search_properties(None, None)
    assert not scheduler.set_search_properties("flops", "max")
    assert scheduler.metric == "val_accuracy"
    asha = make_scheduler("asha", ["val_accuracy", "flops"], max_t=9)
    assert asha.set_search_properties("val_accuracy", "max")
    assert not asha.set_search_properties("val_accuracy", "min")


@pytest.mark.parametrize(
    ("objectives", "parsed"),
    [
        (["val_accuracy", "flops"], [("val_accuracy", "max"), ("flops", "min")]),
        (
            ["val_accuracy", "params", "latency_ms"],
            [("val_accuracy", "max"), ("params", "min"), ("latency_ms", "min")],
        ),
        ([("top1", "max"), "flops"], [("top1", "max"), ("flops", "min")]),
        (["val_accuracy", "activations"], [("val_accuracy", "max"), ("activations", "min")]),
    ],
)
def test_parse_objectives(objectives: list, parsed: list) -> None:
    assert parse_objectives(objectives) == parsed


@pytest.mark.parametrize(
    ("objectives", "field"),
    [
        (["val_accuracy", "energy"], "objectives"),
        ([("top1", "maximise")], "objectives.top1.mode"),
        (["flops", "flops"], "objectives"),
        ([], "objectives"),
        ("val_accuracy", "objectives"),
    ],
)
def test_bad_objectives(objectives: object, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_objectives(objectives)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_make_scheduler_names() -> None:
    objectives = ["val_accuracy", "flops"]
    assert type(make_scheduler("fifo", objectives, max_t=9)) is FIFOScheduler
    asha = make_scheduler("asha", objectives, max_t=9, grace_period=1, reduction_factor=3)
    assert isinstance(asha, ASHAScheduler)
    assert (asha.metric, asha._mode) == ("val_accuracy", "max")
    moasha = make_scheduler("moasha", objectives, max_t=27, grace_period=1, reduction_factor=3)
    assert isinstance(moasha, MOASHAScheduler)
    assert (moasha.objectives, moasha.rungs) == ([("val_accuracy", "max"), ("flops", "min")], [1, 3, 9])
    with pytest.raises(ConfigError, match=r"scheduler: got 'hyperband'; allowed: fifo \| asha \| moasha"):
        make_scheduler("hyperband", objectives, max_t=9)


def test_moasha_selection_is_passed_through_and_checked() -> None:
    objectives = ["val_accuracy", "flops"]
    assert make_scheduler("moasha", objectives, max_t=9).selection == "crowding"
    assert make_scheduler("moasha", objectives, max_t=9, selection="hypervolume").selection == "hypervolume"
    assert make_scheduler("moasha", objectives, max_t=9, selection="epsnet").selection == "epsnet"
    with pytest.raises(ConfigError, match="selection: got 'random'"):
        MOASHAScheduler(objectives, selection="random")


# Earlier results at a rung, then a newcomer (0.7 accuracy, 50 FLOPs) on the front between its two ends
# (infinite crowding distance): fifth at the rung (quota 1), or seventh (quota 2). Only a grace keeps it.
FOUR_BEFORE = [("a", 0.9, 100), ("b", 0.5, 10), ("c", 0.2, 20), ("d", 0.3, 30)]
SIX_BEFORE = [*FOUR_BEFORE, ("x", 0.1, 70), ("y", 0.15, 80)]


@pytest.mark.parametrize(
    ("front_grace", "expected"),
    [
        # (fifth at rung 1, fifth at rung 3, seventh at rung 1, seventh at rung 3)
        ("none", (STOP, STOP, STOP, STOP)),
        ("filling", (STOP, CONTINUE, STOP, STOP)),
        ("upper", (STOP, CONTINUE, STOP, CONTINUE)),
        ("all", (CONTINUE, CONTINUE, CONTINUE, CONTINUE)),
    ],
)
def test_front_grace_keeps_a_crowded_front_member(front_grace: str, expected: tuple[str, ...]) -> None:
    decisions = []
    for before in (FOUR_BEFORE, SIX_BEFORE):
        for epoch in (1, 3):
            driver = Driver(MOASHAScheduler(["val_accuracy", "flops"], max_t=27, front_grace=front_grace))
            for trial_id, accuracy, flops in before:
                driver.report(trial_id, result(epoch, accuracy, flops))
            decisions.append(driver.report("new", result(epoch, 0.7, 50)))
            assert driver.report("dominated", result(epoch, 0.1, 90)) == STOP  # never graced
    assert tuple(decisions) == expected


def test_unknown_front_grace_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"front_grace: got 'some'; allowed: filling \| upper \| all \| none"
    ):
        MOASHAScheduler(["val_accuracy", "flops"], front_grace="some")


def test_history_of_a_resumed_search_sets_the_bar(driver: Driver) -> None:
    history = [result(1, 0.90, 50), result(2, 0.91, 50), result(3, 0.93, 50)]
    assert driver.scheduler.record_history("before", history) == 2  # rungs 1 and 3
    assert driver.scheduler.record_history("before", history) == 0  # never twice
    # Without the history, "a" would be the first at rung 1 and go on; it is dominated by "before".
    assert driver.report("a", result(1, 0.50, 100)) == STOP
    assert list(driver.scheduler.recorded(1)) == ["before", "a"]
    assert list(driver.scheduler.recorded(3)) == ["before"]


def test_replay_study_restores_the_rungs_of_trained_trials() -> None:
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    def trial(state: TrialState, epochs: int, **attrs: object) -> optuna.trial.FrozenTrial:
        history = [{"epoch": e, "val_accuracy": 0.5 + e / 100} for e in range(1, epochs + 1)]
        return create_trial(
            state=state,
            values=[0.6, 100.0] if state == TrialState.COMPLETE else None,
            params={"q_width": 0.5},
            distributions={"q_width": FloatDistribution(0, 1)},
            user_attrs={"history": history, "flops": 100, "activations": 7, **attrs},
        )

    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(trial(TrialState.COMPLETE, 9))
    study.add_trial(trial(TrialState.PRUNED, 1))
    study.add_trial(trial(TrialState.COMPLETE, 9, reused_from=0))  # the same training as trial 0
    study.add_trial(trial(TrialState.FAIL, 2))
    scheduler = MOASHAScheduler(["val_accuracy", "flops"], grace_period=1, reduction_factor=3, max_t=9)
    assert scheduler.replay_study(study.trials) == 2
    assert list(scheduler.recorded(1)) == ["study-trial-0", "study-trial-1"]
    assert list(scheduler.recorded(3)) == ["study-trial-0"]
    assert scheduler.recorded(1)["study-trial-0"].tolist() == [-0.51, 100.0]
    # A run whose trials lack an objective the scheduler ranks on is skipped, not fatal.
    latency = MOASHAScheduler(["val_accuracy", "latency_ms"], max_t=9)
    assert latency.replay_study(study.trials) == 0
    # Activations are an architecture's attribute like FLOPs: replayed from the trial's user attributes.
    activations = MOASHAScheduler(
        ["val_accuracy", "activations"], grace_period=1, reduction_factor=3, max_t=9
    )
    assert activations.replay_study(study.trials) == 2
    assert activations.recorded(1)["study-trial-0"].tolist() == [-0.51, 7.0]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"grace_period": 0}, "grace_period"),
        ({"reduction_factor": 1}, "reduction_factor"),
        ({"max_t": 2, "grace_period": 3}, "max_t"),
    ],
)
def test_bad_schedules(settings: dict, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_scheduler("moasha", ["val_accuracy", "flops"], **{"max_t": 9, **settings})
    assert caught.value.field == field


@pytest.mark.parametrize(("last_epoch", "stopped"), [(1, True), (8, True), (9, False), (10, False)])
def test_was_stopped_early(last_epoch: int, stopped: bool) -> None:
    assert was_stopped_early(last_epoch, max_t=9) is stopped


# -- end to end under a real local Ray ----------------------------------------------------------------------

MAX_T = 9
# (final accuracy, FLOPs) per trial, in the order the trials run. Trials 0, 6 and 7 form the Pareto front;
# every other one is dominated. Trials run one at a time so arrival order at the rung is fixed.
SYNTHETIC_TRIALS = [
    (0.90, 300),
    (0.60, 350),
    (0.55, 400),
    (0.50, 450),
    (0.45, 500),
    (0.40, 550),
    (0.80, 200),
    (0.70, 100),
    (0.65, 250),
]
PARETO = {0, 6, 7}


def make_synthetic_trainable(max_t: int) -> Callable[[dict], None]:
    # Built here so Ray ships the function by value: its workers cannot import this test module.
    def synthetic_trainable(config: dict) -> None:
        from ray import tune

        accuracy, flops = config["trial"]
        for epoch in range(1, max_t + 1):
            # A rising curve that keeps the trials' accuracy order at every epoch.
            tune.report({"epoch": epoch, "val_accuracy": accuracy * (1 - 0.5**epoch), "flops": flops})

    return synthetic_trainable


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # an earlier in-process search keeps its local Ray; this test wants its own
        ray.shutdown()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
        )
        try:
            yield
        finally:
            ray.shutdown()


def run_search(scheduler: TrialScheduler, storage: Path) -> dict[int, tuple[str, int]]:
    """Runs the synthetic trials; returns trial index -> (trial id, last epoch)."""
    from ray import tune

    tuner = tune.Tuner(
        make_synthetic_trainable(MAX_T),
        param_space={"trial": tune.grid_search(SYNTHETIC_TRIALS)},
        tune_config=tune.TuneConfig(
            scheduler=scheduler, max_concurrent_trials=1, reuse_actors=True, metric="val_accuracy", mode="max"
        ),
        run_config=tune.RunConfig(storage_path=str(storage), name="search", verbose=0),
    )
    grid = tuner.fit()
    assert not grid.errors
    return {
        SYNTHETIC_TRIALS.index(tuple(outcome.config["trial"])): (
            outcome.metrics["trial_id"],
            outcome.metrics["training_iteration"],
        )
        for outcome in grid
    }


@pytest.mark.parametrize("name", ["moasha", "asha", "fifo"])
@pytest.mark.ray
def test_schedulers_under_ray(local_ray: None, tmp_path: Path, name: str) -> None:
    scheduler = make_scheduler(
        name, ["val_accuracy", "flops"], max_t=MAX_T, grace_period=3, reduction_factor=3
    )
    outcomes = run_search(scheduler, tmp_path)
    assert sorted(outcomes) == list(range(len(SYNTHETIC_TRIALS)))
    last_epochs = {index: epoch for index, (_, epoch) in outcomes.items()}
    early = {index for index, epoch in last_epochs.items() if was_stopped_early(epoch, MAX_T)}
    if name == "fifo":
        assert early == set()
        assert sum(last_epochs.values()) == MAX_T * len(SYNTHETIC_TRIALS)
        return
    # Stopped trials stop at the rung (epoch 3), never in between.
    assert set(last_epochs.values()) == {3, MAX_T}
    assert sum(last_epochs.values()) < MAX_T * len(SYNTHETIC_TRIALS)
    if name == "moasha":
        assert early == set(range(len(SYNTHETIC_TRIALS))) - PARETO
        assert scheduler.stopped_trials == {outcomes[index][0] for index in early}
    else:
        # ASHA sees accuracy alone: the most accurate trial runs on, the weakest are stopped.
        assert 0 not in early
        assert {1, 2, 3, 4, 5} <= early


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_scheduler_a_space_may_name_is_built(name: str) -> None:
    scheduler = make_scheduler(name, ["val_accuracy", "flops"], max_t=9)
    assert isinstance(scheduler, TrialScheduler)

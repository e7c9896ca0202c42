"""Searches end to end: real Ray (a `ray start --head` node on 127.0.0.1, and local Ray), real Optuna
studies in SQLite, real training on the embedded digits data. Architectures are tiny so this stays quick."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import NAS, trial_workers
from optuna.trial import TrialState

from nas_resnext import count_analytic
from nas_resnext.cli import main
from nas_resnext.pareto import losses, pareto_mask
from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.search.runner import run_search
from nas_resnext.space import DesignSpace

REQUIRED_COLUMNS = {
    "number",
    "state",
    "name",
    "depths",
    "width",
    "cardinality",
    "bottleneck_width",
    "flops",
    "params",
    "activations",
    "latency_ms",
    "val_accuracy",
    "epochs",
    "seconds",
    "error",
}


pytestmark = pytest.mark.usefixtures("in_tmp_path")


def load_study(run_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=None, storage=f"sqlite:///{run_dir / 'study.db'}")


@pytest.mark.ray
def test_search_on_a_ray_head_node(
    tmp_path: Path, ray_head: tuple[str, dict[str, str]], tiny_space: Callable[..., Path]
) -> None:
    address, env = ray_head
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            NAS,
            "search",
            str(tiny_space()),
            "--trials",
            "4",
            "--run-dir",
            str(run_dir),
            "--ray-address",
            address,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert sum(outcome["trials"].values()) == 4 and not outcome["interrupted"]
    assert outcome["report"] == str(Path("reports") / "run.html") and (tmp_path / outcome["report"]).is_file()
    assert outcome["pareto"] and all(0 <= row["val_accuracy"] <= 1 for row in outcome["pareto"])
    assert {p.name for p in run_dir.iterdir()} >= {"space.yaml", "run.json", "study.db", "ray", "trials.csv"}
    assert json.loads((run_dir / "run.json").read_text())["ray_address"] == address
    table = pd.read_csv(run_dir / "trials.csv")
    assert set(table.columns) >= REQUIRED_COLUMNS and len(table) == 4
    assert set(table["state"]) <= {"COMPLETE", "PRUNED", "FAIL"}
    study = load_study(run_dir)
    assert len(study.trials) == 4 and study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert complete and all(len(t.user_attrs["history"]) == 2 for t in complete)
    # The resolved space in the run directory is itself a valid space file.
    assert DesignSpace.from_file(run_dir / "space.yaml").name == "tiny"


def _run(tmp_path: Path, space_path: Path, **options: object) -> tuple[RunDirectory, object]:
    space = DesignSpace.from_file(space_path)
    run_options = RunOptions(
        trials=space.search.trials,
        sampler=space.search.sampler,
        scheduler=space.search.scheduler,
        seed=space.search.seed,
        max_concurrent=2,
    )
    for key, value in options.items():
        setattr(run_options, key, value)
    run = RunDirectory.create(tmp_path / "run", space, run_options)
    return run, run_search(run, space, run_options, stream=None)


@pytest.mark.ray
def test_moasha_prunes_and_pruned_trials_never_reach_the_front(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    space = tiny_space(training__epochs=4)
    run, outcome = _run(tmp_path, space, trials=8, scheduler="moasha", grace_period=1, reduction_factor=3)
    states = [t.state for t in outcome.trials]
    assert states.count(TrialState.PRUNED) >= 1, states
    pruned = [t for t in outcome.trials if t.state == TrialState.PRUNED]
    assert all(1 <= len(t.user_attrs["history"]) < 4 for t in pruned)  # per-epoch values kept
    # The front is the non-dominated set of the fully trained trials, one per architecture: a pruned
    # trial's last-epoch accuracy never places it there.
    complete = [
        t for t in outcome.trials if t.state == TrialState.COMPLETE and "reused_from" not in t.user_attrs
    ]
    mask = pareto_mask(losses([t.values[0] for t in complete], [[t.values[1] for t in complete]], [1.0]))
    expected = {t.user_attrs["name"] for t, on_front in zip(complete, mask, strict=True) if on_front}
    assert {t.user_attrs["name"] for t in outcome.pareto} == expected
    assert len(outcome.pareto) == len(expected)
    assert all(t.user_attrs["epochs"] == 4 for t in outcome.pareto)
    assert not {t.number for t in outcome.pareto} & {t.number for t in pruned}
    table = pd.read_csv(run.trials_file)
    assert (table.loc[table.state == "PRUNED", "epochs"] < 4).all()


@pytest.mark.ray
def test_failing_candidates_are_recorded_and_the_search_goes_on(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    # A learning rate this large makes every candidate's loss overflow: each trial diverges.
    space = tiny_space(training__lr=1.0e12)
    _, outcome = _run(tmp_path, space, trials=3)
    assert [t.state for t in outcome.trials] == [TrialState.FAIL] * 3
    assert all("diverged" in t.user_attrs["outcome"] for t in outcome.trials)
    assert all(t.user_attrs["error"] for t in outcome.trials)
    assert not outcome.interrupted


@pytest.mark.ray
def test_a_search_restores_the_process_state_it_changes_and_its_arguments(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    import dataclasses
    import logging

    from nas_resnext.compat import RAY_AUTH_NOTICE_LOGGER

    names = (
        "RAY_USAGE_STATS_ENABLED",
        "RAY_AIR_NEW_OUTPUT",
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER",
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS",
    )
    loggers = ("ray.tune", RAY_AUTH_NOTICE_LOGGER)
    os.environ["RAY_AIR_NEW_OUTPUT"] = "1"  # a caller's own setting the search must hand back
    saved = os.environ.pop("RAY_USAGE_STATS_ENABLED", None)
    optuna.logging.set_verbosity(optuna.logging.INFO)
    logging.getLogger("ray.tune").setLevel(logging.DEBUG)
    environment = {name: os.environ.get(name) for name in names}
    levels = {name: logging.getLogger(name).level for name in loggers}
    try:
        space_path = tiny_space(training__epochs=1)
        space = DesignSpace.from_file(space_path)
        options = RunOptions(trials=2, sampler="random", scheduler="fifo", seed=0, max_concurrent=2)
        given = dataclasses.asdict(options)
        run = RunDirectory.create(tmp_path / "run", space, options)
        outcome = run_search(run, space, options, stream=None)
        assert sum(outcome.counts().values()) == 2
        assert {name: os.environ.get(name) for name in names} == environment
        assert {name: logging.getLogger(name).level for name in loggers} == levels
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
        assert dataclasses.asdict(options) == given  # the wall time went to the saved copy
        assert outcome.options.wall_seconds > 0
        assert run.load_options().wall_seconds == outcome.options.wall_seconds
    finally:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        logging.getLogger("ray.tune").setLevel(logging.NOTSET)
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        if saved is not None:
            os.environ["RAY_USAGE_STATS_ENABLED"] = saved


@pytest.mark.ray
def test_an_architecture_is_trained_once_per_run(tmp_path: Path, tiny_space: Callable[..., Path]) -> None:
    # 8 architectures, 11 trials: the grid sampler comes back to some; they are copied, not retrained.
    space = tiny_space(training__epochs=1)
    run, outcome = _run(tmp_path, space, trials=11, sampler="grid")
    reused = [t for t in outcome.trials if "reused_from" in t.user_attrs]
    assert len(outcome.trials) == 11 and len(reused) == 3
    for trial in reused:
        source = outcome.trials[trial.user_attrs["reused_from"]]
        assert source.user_attrs["name"] == trial.user_attrs["name"] and source.values == trial.values
    trained = [d for d in next(run.ray_dir.iterdir()).iterdir() if d.name.startswith("trial_")]
    assert len(trained) == 8
    # Ray Tune's own per-trial logs stay off: the study holds every epoch's results.
    for directory in trained:
        assert not [
            *directory.glob("progress.csv"),
            *directory.glob("result.json"),
            *directory.glob("events.*"),
        ]


@pytest.mark.ray
def test_every_trained_architecture_is_in_budget(tmp_path: Path, tiny_space: Callable[..., Path]) -> None:
    space_path = tiny_space(budget={"max_gflops": 0.0001}, training__epochs=1)
    space = DesignSpace.from_file(space_path)
    _, outcome = _run(tmp_path, space_path, trials=4, sampler="tpe")
    for trial in outcome.trials:
        arch = space.architecture(
            trial.user_attrs["depths"],
            trial.user_attrs["width"],
            trial.user_attrs["cardinality"],
            trial.user_attrs["bottleneck_width"],
        )
        assert count_analytic(arch).flops <= 0.0001e9


@pytest.mark.ray
def test_a_search_minimising_activations_under_an_activation_budget(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    from nas_resnext.report.data import load_report_data
    from nas_resnext.report.views.pareto import pareto_infos
    from nas_resnext.rundir import TRIAL_COLUMNS

    # 5 of the 8 tiny architectures have at most 4,500 activations; moasha ranks on them at every rung.
    space_path = tiny_space(
        budget={"max_mactivations": 0.0045}, objectives=["val_accuracy", "activations"], training__epochs=2
    )
    space = DesignSpace.from_file(space_path)
    run, outcome = _run(tmp_path, space_path, trials=4, scheduler="moasha", grace_period=1)
    assert sum(outcome.counts().values()) == 4
    study = load_study(run.path)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    table = pd.read_csv(run.trials_file)
    assert list(table.columns) == TRIAL_COLUMNS
    assert list(table.columns).index("activations") == list(table.columns).index("params") + 1
    assert table.columns[-1] == "start_epoch"
    for row in table.itertuples():
        arch = space.architecture(
            tuple(map(int, str(row.depths).split(","))), row.width, row.cardinality, row.bottleneck_width
        )
        assert row.name == arch.name and row.activations == count_analytic(arch).activations <= 4500
    complete = [t for t in outcome.trials if t.state == TrialState.COMPLETE]
    assert complete and all(t.values[1] == t.user_attrs["activations"] for t in complete)
    # The report plots accuracy against activations, with the budget's line.
    (activations,) = [p for p in pareto_infos(load_report_data([run.path])) if p.cost == "activations"]
    assert activations.budget == (0.0045,) and activations.label.startswith("activations (M")


def _finished_rows(run_dir: Path) -> int:
    try:
        table = pd.read_csv(run_dir / "trials.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0
    return int(table["state"].isin(["COMPLETE", "PRUNED", "FAIL"]).sum())


def _start_search_until(run_dir: Path, space: Path, trials: int, finished: int) -> subprocess.Popen:
    """Start a search in its own process group; return once ``finished`` trials are in trials.csv."""
    search = subprocess.Popen(
        [
            NAS,
            "search",
            str(space),
            "--trials",
            str(trials),
            "--run-dir",
            str(run_dir),
            "--max-concurrent",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while _finished_rows(run_dir) < finished and time.monotonic() < deadline and search.poll() is None:
        time.sleep(0.5)
    assert search.poll() is None, search.communicate()[1]
    return search


def _resume(run_dir: Path) -> dict:
    result = subprocess.run(
        [NAS, "search", "--resume", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.ray
def test_killed_search_resumes_without_losing_or_retraining(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    run_dir = tmp_path / "run"
    search = _start_search_until(run_dir, tiny_space(training__epochs=3), trials=6, finished=2)
    os.killpg(search.pid, signal.SIGKILL)  # the search, its local Ray and the trials in flight
    search.wait(timeout=60)
    before = {t.number: t for t in load_study(run_dir).trials}
    finished_before = {n: t for n, t in before.items() if t.state in (TrialState.COMPLETE, TrialState.FAIL)}
    in_flight = [n for n, t in before.items() if t.state == TrialState.RUNNING]
    assert len(finished_before) >= 2

    _resume(run_dir)
    after = {t.number: t for t in load_study(run_dir).trials}
    for number, trial in finished_before.items():  # kept exactly as they were
        assert after[number].state == trial.state and after[number].values == trial.values
    for number in in_flight:  # recorded, with the reason, and queued again
        assert after[number].state == TrialState.FAIL and "interrupted" in after[number].user_attrs["error"]
    reruns = [t for t in after.values() if "rerun_of" in t.user_attrs]
    assert sorted(t.user_attrs["rerun_of"] for t in reruns) == sorted(in_flight)
    counted = [
        t for t in after.values() if t.state != TrialState.RUNNING and not t.user_attrs.get("interrupted")
    ]
    assert len(counted) == 6
    # Nothing finished before the kill was trained again by the resumed search.
    experiments = sorted((run_dir / "ray").iterdir())
    retrained = {int(d.name.split("_")[1]) for d in experiments[-1].iterdir() if d.name.startswith("trial_")}
    assert not retrained & set(finished_before)


def test_infeasible_budget_exits_2_naming_the_smallest_and_writes_nothing(
    tmp_path: Path, tiny_space: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    code = main(["search", str(tiny_space()), "--max-gflops", "0.0000001", "--run-dir", str(run_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("nas-resnext search: error: budget: no architecture of the space is within")
    assert "the smallest is X-11-1x1d-w2-s4-r8-i1" in err and len(err.splitlines()) == 1
    assert not run_dir.exists()


def test_infeasible_activation_budget_exits_2_naming_the_smallest_and_writes_nothing(
    tmp_path: Path, tiny_space: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    code = main(["search", str(tiny_space()), "--max-mactivations", "0.001", "--run-dir", str(run_dir)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(
        "nas-resnext search: error: budget: no architecture of the space is within the budget "
        "(GFLOPs <= 0.01, Mactivations <= 0.001)"
    )
    assert (
        "the smallest is X-11-1x1d-w2-s4-r8-i1 at 1.93e-05 GFLOPs, 0.001739 Mparams and 0.002426 Mactivations"
        in err
    )
    assert not run_dir.exists()
    code = main(["search", str(tiny_space()), "--min-mactivations", "1", "--max-mactivations", "0.5"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "nas-resnext search: error: --min-mactivations: got 1.0; allowed: a number <= max_mactivations (0.5)"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epochs", "0"], "--epochs: got 0; allowed: an integer >= 1"),
        (["--sampler", "cmaes"], "argument --sampler: invalid choice: 'cmaes'"),
        (
            ["--scheduler", "asha", "--grace-period", "2"],
            "--grace-period: got 2; allowed: fewer than the 2 epochs",
        ),
        (["--dataset", "cifar10"], "in_channels: got 1; allowed: 3 (what the cifar10 data set holds)"),
        (["--gpus-per-trial", "-1"], "--gpus-per-trial: got -1.0; allowed: a number >= 0"),
        (["--retries", "-1"], "--retries: got -1; allowed: an integer >= 0"),
    ],
)
def test_bad_search_input_exits_2_and_writes_nothing(
    tmp_path: Path,
    tiny_space: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    run_dir = tmp_path / "run"
    code = main(["search", str(tiny_space()), "--run-dir", str(run_dir), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1, err
    assert not run_dir.exists() and not Path("runs").exists()


def test_resume_needs_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--resume: got" in err and "a run directory made by nas-resnext search" in err


def test_existing_run_directory_is_not_overwritten(
    tmp_path: Path, tiny_space: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "keep.txt").write_text("mine")
    assert main(["search", str(tiny_space()), "--run-dir", str(run_dir)]) == 2
    assert "use --resume RUN_DIR" in capsys.readouterr().err
    assert [p.name for p in run_dir.iterdir()] == ["keep.txt"]


@pytest.mark.ray
def test_ctrl_c_stops_cleanly_and_leaves_a_resumable_run(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    run_dir = tmp_path / "run"
    search = _start_search_until(run_dir, tiny_space(training__epochs=3), trials=4, finished=1)
    os.killpg(search.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the foreground group
    _, err = search.communicate(timeout=120)
    assert search.returncode == 130, err
    assert f"continue with: nas-resnext search --resume {run_dir}" in err
    assert "Traceback" not in err
    table = pd.read_csv(run_dir / "trials.csv")
    assert (table["state"] != "RUNNING").all()  # nothing left looking as if it still ran
    outcome = _resume(run_dir)
    counts = outcome["trials"]
    assert counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"] == 4


# ------------------------------------------------------------------------------- transient faults, retries


_OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


@pytest.mark.parametrize(
    ("result", "crashed", "transient"),
    [
        ({}, True, True),  # Ray reports the trial errored: its worker or node was lost
        ({"state": "running", "epoch": 3}, True, True),
        ({"state": "failed", "error": f"out of memory on cuda: {_OOM}"}, False, True),  # the trainer's label
        ({"state": "failed", "error": f"OutOfMemoryError: {_OOM}"}, False, True),
        ({"state": "failed", "error": "ConnectionResetError: [Errno 104] Connection reset"}, False, True),
        ({"state": "failed", "error": "OSError: [Errno 5] Input/output error"}, False, True),
        ({"state": "failed", "error": "TimeoutError: timed out"}, False, True),
        ({"state": "diverged", "error": "non-finite loss in epoch 1 (train nan, val nan)"}, False, False),
        ({"state": "failed", "error": "ConfigError: data_dir: got '/x'; allowed: ..."}, False, False),
        ({"state": "failed", "error": "RuntimeError: Given groups=4, weight of size [8]"}, False, False),
        ({"state": "failed", "error": "ValueError"}, False, False),
        ({}, False, False),  # ended without a word: nothing suggests another try would differ
    ],
)
def test_failures_are_transient_or_the_candidates_own(result: dict, crashed: bool, transient: bool) -> None:
    from nas_resnext.search.searcher import is_transient

    assert is_transient(result, crashed) is transient


@pytest.mark.ray
@pytest.mark.parametrize("retries", [1, 0])
def test_a_trial_whose_worker_is_lost_is_trained_again_up_to_retries(
    tmp_path: Path, tiny_space: Callable[..., Path], retries: int
) -> None:
    run_dir = tmp_path / "run"
    argv = [NAS, "search", str(tiny_space(training__epochs=40)), "--trials", "1", "--run-dir", str(run_dir)]
    search = subprocess.Popen(
        [*argv, "--retries", str(retries), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    workers: list[int] = []
    while not workers and time.monotonic() < deadline and search.poll() is None:
        time.sleep(0.2)
        workers = trial_workers(search.pid)
    assert workers, search.communicate()[1]
    os.kill(workers[0], signal.SIGKILL)  # the worker training the trial dies, as on a lost node
    out, err = search.communicate(timeout=600)
    assert search.returncode == 0, err
    counts = json.loads(out)["trials"]
    trials = load_study(run_dir).trials
    first = trials[0]
    assert first.state == TrialState.FAIL and first.user_attrs["transient"]
    assert first.user_attrs["attempt"] == 1 and first.user_attrs["error"]
    table = pd.read_csv(run_dir / "trials.csv")
    if retries:
        # The failed attempt is kept but not counted; the same architecture trains again and completes.
        assert first.user_attrs["retried"]
        assert counts == {"COMPLETE": 1, "PRUNED": 0, "FAIL": 0, "INTERRUPTED": 0, "RETRIED": 1}
        again = trials[1]
        assert len(trials) == 2 and again.state == TrialState.COMPLETE
        assert again.user_attrs["attempt"] == 2 and again.user_attrs["retry_of"] == 0
        assert again.params == first.params and again.user_attrs["name"] == first.user_attrs["name"]
        assert list(table["attempt"]) == [1, 2] and list(table["state"]) == ["FAIL", "COMPLETE"]
    else:
        # No retries left: the failure is final and is the one counted outcome.
        assert "retried" not in first.user_attrs and len(trials) == 1
        assert counts == {"COMPLETE": 0, "PRUNED": 0, "FAIL": 1, "INTERRUPTED": 0, "RETRIED": 0}
        assert list(table["attempt"]) == [1]
    assert json.loads((run_dir / "run.json").read_text())["retries"] == retries


# ------------------------------------------------------------------------ what the cluster can never hold


@pytest.mark.parametrize(
    ("cpus", "gpus", "nodes", "message"),
    [
        (1.0, 0.0, [{"CPU": 2.0}], None),
        (4.0, 0.0, [{"CPU": 2.0}, {"CPU": 4.0}], None),
        (1.0, 0.5, [{"CPU": 2.0}, {"CPU": 4.0, "GPU": 1.0}], None),
        (
            1.0,
            1.0,
            [{"CPU": 2.0}],
            "--gpus-per-trial: got 1.0; allowed: at most 0 (the largest node of this cluster has 0 GPUs",
        ),
        (
            8.0,
            0.0,
            [{"CPU": 2.0}, {"CPU": 4.0}],
            "--cpus-per-trial: got 8.0; allowed: at most 4 (the largest node of this cluster has 4 CPUs",
        ),
        (
            4.0,
            1.0,
            [{"CPU": 8.0}, {"CPU": 2.0, "GPU": 1.0}],
            "--cpus-per-trial: got 4.0; allowed: at most 2 with --gpus-per-trial 1",
        ),
    ],
)
def test_trial_resources_must_fit_one_node(
    cpus: float, gpus: float, nodes: list[dict[str, float]], message: str | None
) -> None:
    from nas_resnext.errors import ConfigError
    from nas_resnext.search.environment import check_trial_resources

    if message is None:
        check_trial_resources(cpus, gpus, nodes)
        return
    with pytest.raises(ConfigError) as info:
        check_trial_resources(cpus, gpus, nodes)
    assert message in str(info.value) and "--autoscaling" in str(info.value)


@pytest.mark.ray
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--gpus-per-trial", "1"],
            "--gpus-per-trial: got 1.0; allowed: at most 0 (the largest node of this cluster has 0 GPUs",
        ),
        (["--cpus-per-trial", "64"], "--cpus-per-trial: got 64.0; allowed: at most "),
    ],
)
def test_requests_the_local_cluster_can_never_meet_exit_2_and_write_nothing(
    tiny_space: Callable[..., Path], capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code = main(["search", str(tiny_space()), *extra])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1, err
    assert not Path("runs").exists()


@pytest.mark.ray
def test_autoscaling_skips_the_check_of_what_the_cluster_holds(tmp_path: Path) -> None:
    import dataclasses

    from nas_resnext.errors import ConfigError
    from nas_resnext.search.environment import check_cluster

    options = RunOptions(trials=1, sampler="random", scheduler="fifo", seed=0, gpus_per_trial=1.0)
    with pytest.raises(ConfigError, match=r"--gpus-per-trial: got 1\.0"):
        check_cluster(options)
    check_cluster(dataclasses.replace(options, autoscaling=True))  # the cluster may add a GPU node


# --------------------------------------------------------------------------------- one driver per run


@pytest.mark.ray
def test_a_run_in_use_is_refused_and_a_killed_drivers_lock_is_taken_over(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    import socket

    run_dir = tmp_path / "run"
    search = _start_search_until(run_dir, tiny_space(training__epochs=6), trials=8, finished=1)
    options = (run_dir / "run.json").read_bytes()
    second = subprocess.run(
        [NAS, "search", "--resume", str(run_dir), "--trials", "9"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert search.poll() is None, "the first search ended before the second start was refused"
    assert second.returncode == 2, second.stderr
    assert len(second.stderr.splitlines()) == 1, second.stderr
    assert f"process {search.pid} on host {socket.gethostname()}" in second.stderr
    assert (run_dir / "run.json").read_bytes() == options  # the refused start wrote nothing
    os.killpg(search.pid, signal.SIGKILL)  # the holder dies without releasing its lock
    search.wait(timeout=60)
    assert RunDirectory(run_dir).lock_file.is_file()
    outcome = _resume(run_dir)  # takes over the dead process's lock and finishes the run
    assert sum(outcome["trials"][s] for s in ("COMPLETE", "PRUNED", "FAIL")) == 8
    assert not RunDirectory(run_dir).lock_file.exists()

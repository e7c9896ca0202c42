"""Trial checkpoints and kept weights, end to end: real searches through local Ray on the digits data.

A search killed with SIGKILL while a trial is mid-way continues that trial from its last finished epoch and
ends it exactly as an uninterrupted search with the same seed does (CPU training is deterministic). Kept
weights follow ``--keep-weights``, and a finished trial's checkpoints are deleted.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch
from conftest import NAS, trial_workers
from optuna.trial import TrialState

from nas_resnext.architecture import Architecture
from nas_resnext.data.registry import load_dataset
from nas_resnext.model import build_model
from nas_resnext.pareto import losses, pareto_mask
from nas_resnext.search.checkpoints import latest_checkpoint
from nas_resnext.settings import TrainSettings
from nas_resnext.training import evaluate

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("in_tmp_path")]

EPOCHS = 40


def _trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=None, storage=f"sqlite:///{run_dir / 'study.db'}").trials


def _epochs_recorded(run_dir: Path) -> int:
    """Epochs of the running trial that reached study.db (read without Optuna: a cheap, lock-free poll)."""
    database = run_dir / "study.db"
    if not database.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            row = connection.execute(
                "SELECT value_json FROM trial_user_attributes WHERE key = 'epochs' ORDER BY trial_id DESC"
            ).fetchone()
    except sqlite3.Error:
        return 0
    return int(json.loads(row[0])) if row else 0


def _search(space: Path, run_dir: Path, *flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [NAS, "search", str(space), "--trials", "1", "--run-dir", str(run_dir), "--json", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _learned(trial: optuna.trial.FrozenTrial) -> list[tuple]:
    return [
        (h["epoch"], h["train_loss"], h["val_loss"], h["val_accuracy"]) for h in trial.user_attrs["history"]
    ]


@pytest.mark.parametrize("scheduler", ["fifo", "moasha"])
def test_a_search_killed_mid_trial_continues_the_trial_and_ends_as_if_never_killed(
    tmp_path: Path, tiny_space: Callable[..., Path], scheduler: str
) -> None:
    space = tiny_space(training__epochs=EPOCHS)
    flags = ("--scheduler", scheduler)
    whole = _search(space, tmp_path / "whole", *flags)
    killed_dir = tmp_path / "killed"
    killed = _search(space, killed_dir, *flags)
    deadline = time.monotonic() + 300
    while _epochs_recorded(killed_dir) < 3 and time.monotonic() < deadline and killed.poll() is None:
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)  # the driver, its local Ray and the trial in flight
    killed.wait(timeout=60)
    done_before = _epochs_recorded(killed_dir)
    assert 3 <= done_before < EPOCHS, "the trial was not caught mid-way"
    assert whole.wait(timeout=600) == 0, whole.stderr.read() if whole.stderr else ""

    resumed = subprocess.run(
        [NAS, "search", "--resume", str(killed_dir), "--json"], capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    first, again = _trials(killed_dir)
    assert first.state == TrialState.FAIL and first.user_attrs["interrupted"]
    assert again.state == TrialState.COMPLETE and again.user_attrs["rerun_of"] == 0
    # It continued after the last epoch whose checkpoint was saved: at least what study.db held at the kill.
    start = again.user_attrs["start_epoch"]
    assert done_before + 1 <= start <= EPOCHS
    (reference,) = _trials(tmp_path / "whole")
    assert reference.user_attrs["start_epoch"] == 1
    # Every epoch once, in order, and the same figures as the search that was never killed.
    assert [h["epoch"] for h in again.user_attrs["history"]] == list(range(1, EPOCHS + 1))
    assert _learned(again) == _learned(reference)
    assert again.values == reference.values
    table = pd.read_csv(killed_dir / "trials.csv")
    assert list(table["start_epoch"]) == [1, start]
    # The kept weights are the same tensors too.
    kept, uninterrupted = (torch.load(d / "weights" / f"trial_{n:05d}.pt", weights_only=True) for d, n in
                           ((killed_dir, 1), (tmp_path / "whole", 0)))  # fmt: skip
    assert kept.keys() == uninterrupted.keys()
    assert all(torch.equal(kept[k], uninterrupted[k]) for k in kept)
    # Nothing but the kept weights is left of the checkpoints.
    assert not list(killed_dir.glob("ray/*/*/checkpoint_*"))


def _front_numbers(trials: list[optuna.trial.FrozenTrial]) -> set[int]:
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    mask = pareto_mask(losses([t.values[0] for t in complete], [[t.values[1] for t in complete]], [1.0]))
    front = [t for t, on in zip(complete, mask, strict=True) if on]
    names: dict[str, int] = {}
    for trial in sorted(front, key=lambda t: t.number):
        names.setdefault(trial.user_attrs["name"], trial.number)
    return set(names.values())


@pytest.mark.parametrize("keep", ["front", "all", "none"])
def test_kept_weights_follow_the_policy_and_score_what_the_trial_recorded(
    tmp_path: Path, tiny_space: Callable[..., Path], keep: str
) -> None:
    run_dir = tmp_path / "run"
    space = tiny_space(training__epochs=3)
    flags = ["--scheduler", "moasha", "--keep-weights", keep] if keep == "all" else ["--keep-weights", keep]
    result = subprocess.run(
        [NAS, "search", str(space), "--trials", "5", "--run-dir", str(run_dir), "--json", *flags],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    trials = _trials(run_dir)
    expected = {
        "front": _front_numbers(trials),
        "all": {
            t.number
            for t in trials
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and "reused_from" not in t.user_attrs
        },
        "none": set(),
    }[keep]
    kept = {int(p.stem.split("_")[1]) for p in (run_dir / "weights").glob("trial_*.pt")}
    assert kept == expected and (keep == "none" or kept)
    assert json.loads((run_dir / "run.json").read_text())["keep_weights"] == keep
    for trial in trials:  # where each trial's time went (benchmarks/search_throughput.py reads these)
        if "reused_from" in trial.user_attrs:
            continue
        timings = trial.user_attrs["timings"]
        names = ("time_setup", "time_latency", "time_data", "time_resume", "time_build", "time_report")
        phases = [timings[k] for k in names]
        epochs = sum(h["epoch_seconds"] for h in trial.user_attrs["history"])
        assert all(p >= 0 for p in phases) and timings["time_worker_start"] >= 0
        # The phases and the epochs partition the trial's time in the worker (up to the last report's end).
        assert sum(phases) + epochs == pytest.approx(timings["time_in_trial"], abs=0.05)
    assert not list(run_dir.glob("ray/*/*/checkpoint_*"))
    for number in kept:
        trial = trials[number]
        info = json.loads((run_dir / "weights" / f"trial_{number:05d}.json").read_text())
        assert info["trial"] == number and info["name"] == trial.user_attrs["name"]
        assert info["epochs"] == trial.user_attrs["epochs"] and info["state"] == trial.state.name
        # Loaded safely and scored on the same validation split, the weights give the recorded accuracy.
        settings = TrainSettings.from_dict(info["training"])
        arch = Architecture.from_dict(info["architecture"])
        data = load_dataset(info["dataset"], None, arch.resolution, settings)
        assert list(data.mean) == pytest.approx(info["mean"]) and list(data.std) == pytest.approx(info["std"])
        model = build_model(arch)
        model.load_state_dict(torch.load(run_dir / "weights" / f"trial_{number:05d}.pt", weights_only=True))
        _, accuracy = evaluate(model, data.val, torch.device("cpu"))
        assert accuracy == trial.user_attrs["history"][-1]["val_accuracy"] == info["val_accuracy"]


def test_a_retried_trial_continues_from_the_checkpoint_of_the_attempt_it_replaces(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    run_dir = tmp_path / "run"
    search = _search(tiny_space(training__epochs=EPOCHS), run_dir, "--retries", "1")
    deadline = time.monotonic() + 300
    while _epochs_recorded(run_dir) < 3 and time.monotonic() < deadline and search.poll() is None:
        time.sleep(0.05)
    trial_dirs = list(run_dir.glob("ray/*/trial_00000_*"))
    assert trial_dirs and latest_checkpoint(trial_dirs[0]) is not None
    workers: list[int] = []
    while not workers and time.monotonic() < deadline and search.poll() is None:
        workers = trial_workers(search.pid, busy_only=False)
    assert workers, "no worker of the trial was found"
    os.kill(workers[0], signal.SIGKILL)  # the worker dies, as on a lost node
    _, err = search.communicate(timeout=600)
    assert search.returncode == 0, err
    first, again = _trials(run_dir)
    assert first.user_attrs["retried"] and again.user_attrs["retry_of"] == 0
    assert again.state == TrialState.COMPLETE and again.user_attrs["start_epoch"] >= 4
    assert [h["epoch"] for h in again.user_attrs["history"]] == list(range(1, EPOCHS + 1))

"""Searches on a cluster of two Ray nodes (conftest's ``ray_cluster``: a head and a worker started by ``ray
start`` on this machine, one CPU each): trials run on both nodes and record which, and a trial lost with its
node is retried on the node that is left, continuing from its last checkpoint in the shared storage path.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import CLUSTER_IP, NAS, RayCluster
from optuna.trial import TrialState

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("in_tmp_path")]

EPOCHS = 40  # a lost trial's epochs take a few seconds: long enough to be caught mid-way


def _search(cluster: RayCluster, space: Path, run_dir: Path, storage: Path, *flags: str) -> list[str]:
    """A search through the cluster. The tiny space's sampler (``random``, seed 0) draws four distinct
    architectures first, so no trial waits for another of the same architecture."""
    return [
        *(NAS, "search", str(space), "--run-dir", str(run_dir)),
        *("--ray-address", cluster.address, "--storage-path", str(storage), "--max-concurrent", "2"),
        *("--json", *flags),
    ]


def _trials(run_dir: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=None, storage=f"sqlite:///{run_dir / 'study.db'}").trials


def _epochs_running_on(run_dir: Path, node: str) -> int:
    """Epochs recorded in study.db by a trial RUNNING on ``node`` (read without Optuna, as
    tests/test_checkpoints.py polls: cheap and lock-free); 0 while there is none."""
    database = run_dir / "study.db"
    if not database.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            rows = connection.execute(
                "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes AS a"
                " JOIN trials AS t ON t.trial_id = a.trial_id"
                " WHERE t.state = 'RUNNING' AND a.key IN ('node', 'epochs')"
            ).fetchall()
    except sqlite3.Error:
        return 0
    attrs: dict[int, dict[str, object]] = {}
    for trial_id, key, value in rows:
        attrs.setdefault(trial_id, {})[key] = json.loads(value)
    return max((int(a.get("epochs", 0)) for a in attrs.values() if a.get("node") == node), default=0)


def test_trials_of_a_search_run_on_both_nodes_and_record_which(
    tmp_path: Path, ray_cluster: RayCluster, tiny_space: Callable[..., Path]
) -> None:
    run_dir, storage = tmp_path / "run", tmp_path / "shared"
    result = subprocess.run(
        _search(ray_cluster, tiny_space(), run_dir, storage, "--trials", "4"),
        env=ray_cluster.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["trials"] == {
        "COMPLETE": 4,
        "PRUNED": 0,
        "FAIL": 0,
        "INTERRUPTED": 0,
        "RETRIED": 0,
    }
    table = pd.read_csv(run_dir / "trials.csv")
    assert list(table.columns)[-2:] == ["node", "start_epoch"]
    assert list(table["state"]) == ["COMPLETE"] * 4 and list(table["start_epoch"]) == [1] * 4
    # Two trials at once on nodes of one CPU each: both nodes trained; each row names Ray's id of its node.
    assert set(table["node"]) == {ray_cluster.head_node, ray_cluster.worker_node}
    assert [t.user_attrs["node_ip"] for t in _trials(run_dir)] == [CLUSTER_IP] * 4
    # Ray Tune's experiment (and with it every checkpoint) is in the storage path both nodes share.
    assert len(list(storage.glob("*/trial_*"))) == 4 and not (run_dir / "ray").exists()


def test_a_trial_lost_with_its_node_is_retried_on_the_other_from_its_last_checkpoint(
    tmp_path: Path, ray_cluster: RayCluster, tiny_space: Callable[..., Path]
) -> None:
    run_dir, storage = tmp_path / "run", tmp_path / "shared"
    space = tiny_space(training__epochs=EPOCHS)
    search = subprocess.Popen(
        _search(ray_cluster, space, run_dir, storage, "--trials", "2", "--retries", "1"),
        env=ray_cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    worker = ray_cluster.worker_node
    deadline = time.monotonic() + 300
    while _epochs_running_on(run_dir, worker) < 1 and time.monotonic() < deadline and search.poll() is None:
        time.sleep(0.05)
    ray_cluster.lose_worker()  # the node dies, and the trial it trained with it
    recorded = _epochs_running_on(run_dir, worker)
    out, err = search.communicate(timeout=600)
    assert search.returncode == 0, err
    assert 1 <= recorded < EPOCHS, "no trial was caught mid-way on the worker node"
    # Every requested trial is accounted for; the lost attempt is kept, marked retried, and not counted.
    counts = json.loads(out)["trials"]
    assert counts == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 0, "INTERRUPTED": 0, "RETRIED": 1}
    trials = _trials(run_dir)
    assert len(trials) == 3  # the two drawn, and the lost one's retry; nothing left queued
    (lost,) = [t for t in trials if t.user_attrs.get("node") == worker]
    assert lost.state == TrialState.FAIL and lost.user_attrs["retried"] and lost.user_attrs["transient"]
    assert lost.user_attrs["attempt"] == 1 and lost.user_attrs["start_epoch"] == 1
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == lost.number]
    (other,) = [t for t in trials if t.number not in (lost.number, retry.number)]
    # The retry trained the same candidate on the node that was left, from the lost attempt's last checkpoint
    # (at least as late as what study.db held when the node died), each epoch once.
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["node"] == ray_cluster.head_node
    assert retry.params == lost.params and retry.user_attrs["name"] == lost.user_attrs["name"]
    assert retry.user_attrs["attempt"] == 2 and recorded + 1 <= retry.user_attrs["start_epoch"] <= EPOCHS
    assert [h["epoch"] for h in retry.user_attrs["history"]] == list(range(1, EPOCHS + 1))
    assert other.state == TrialState.COMPLETE and other.user_attrs["node"] == ray_cluster.head_node
    assert other.user_attrs["start_epoch"] == 1
    # Nothing is recorded twice: one complete trial per architecture and seed.
    complete = Counter(
        (t.user_attrs["name"], t.user_attrs["seed"]) for t in trials if t.state == TrialState.COMPLETE
    )
    assert set(complete.values()) == {1} and len(complete) == 2
    table = pd.read_csv(run_dir / "trials.csv").set_index("number")
    assert (
        table.loc[lost.number, "node"] == worker and table.loc[retry.number, "node"] == ray_cluster.head_node
    )
    assert table.loc[retry.number, "start_epoch"] == retry.user_attrs["start_epoch"] > 1
    assert sorted(table["attempt"]) == [1, 1, 2]

"""Canaries for the private Optuna and Ray APIs in ``nas_resnext.compat``: each fails, naming the API, when
an upgrade changes it."""

from __future__ import annotations

import logging
import sys

import numpy as np
import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from nas_resnext import compat


def test_is_pareto_front_marks_the_non_dominated_rows() -> None:
    rows = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 3.0], [1.0, 3.0], [3.0, 1.0]])
    assert compat.is_pareto_front(rows).tolist() == [True, True, False, True, True], (
        "optuna.study._multi_objective._is_pareto_front changed"
    )


def test_fast_non_domination_rank_gives_front_indices() -> None:
    rows = np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 3.0], [3.0, 3.0]])
    ranks = compat.fast_non_domination_rank(rows)
    assert ranks is not None, "optuna.study._multi_objective._fast_non_domination_rank is gone"
    assert list(ranks) == [0, 1, 0, 2]


def test_compute_hypervolume_is_exact() -> None:
    # Two boxes of 0.5 x 0.75 and 0.75 x 0.5 overlapping in 0.5 x 0.5: 0.375 + 0.375 - 0.25.
    rows = np.array([[0.5, 0.25], [0.25, 0.5]])
    assert compat.compute_hypervolume(rows, np.ones(2)) == pytest.approx(0.5), (
        "optuna._hypervolume.compute_hypervolume changed"
    )


def test_user_attributes_reach_a_trial_left_running() -> None:
    study = optuna.create_study()
    study.ask()
    left = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))[0]
    compat.set_finished_trial_user_attr(study, left, "error", "interrupted")
    assert study.get_trials(deepcopy=False)[0].user_attrs == {"error": "interrupted"}, (
        "Study._storage.set_trial_user_attr or FrozenTrial._trial_id changed"
    )


def test_queued_params_of_a_waiting_trial() -> None:
    study = optuna.create_study()
    study.enqueue_trial({"member": 2, "seed_index": 1})
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[0]
    assert compat.queued_params(waiting) == {"member": 2, "seed_index": 1}, (
        "Optuna no longer keeps an enqueued trial's parameters in system_attrs['fixed_params']"
    )
    # Asked, the trial takes exactly those parameters: what PlanSampler.queue relies on.
    trial = study.ask({"member": IntDistribution(0, 3), "seed_index": IntDistribution(0, 1)})
    assert trial.params == {"member": 2, "seed_index": 1}


def test_scheduler_metric_and_buffering_flags() -> None:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

    asha = ASHAScheduler(metric="val_accuracy", mode="max", max_t=9)
    assert compat.scheduler_metric_and_mode(asha) == ("val_accuracy", "max"), "ASHA's _metric/_mode changed"
    fifo = FIFOScheduler()
    compat.set_scheduler_metric(fifo, "val_accuracy")
    assert fifo.metric == "val_accuracy", "Ray schedulers no longer read their metric from _metric"
    assert "_supports_buffered_results" in vars(TrialScheduler), (
        "Ray's TrialScheduler._supports_buffered_results is gone: results may reach schedulers in batches"
    )

    @compat.unbuffered
    class Scheduler(FIFOScheduler):
        pass

    assert Scheduler._supports_buffered_results is False
    assert FIFOScheduler._supports_buffered_results is True


def test_ray_auth_notice_logger_module_exists() -> None:
    import importlib

    importlib.import_module(compat.RAY_AUTH_NOTICE_LOGGER)
    assert compat.RAY_AUTH_NOTICE_LOGGER in sys.modules
    assert isinstance(logging.getLogger(compat.RAY_AUTH_NOTICE_LOGGER), logging.Logger)


def test_no_other_module_uses_a_private_optuna_or_ray_name() -> None:
    import pathlib
    import re

    package = pathlib.Path(compat.__file__).parent
    private = re.compile(r"(optuna|ray)(\.\w+)*\._\w+|\._storage\b|\._trial_id\b|fixed_params|\._metric\b")
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        if path.name != "compat.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert offenders == []

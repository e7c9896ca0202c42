"""The Optuna study that holds a search's history: opening it, recording trials, reading them back.

Every trial carries its architecture as user attributes (``name``, ``depths``, ``width``, ``cardinality``,
``bottleneck_width``, ``flops``, ``params``, ``activations``) beside the sampler's quantile parameters, so
the study is readable on its own (``optuna-dashboard sqlite:///RUN/study.db``).

Two kinds of FAIL trial are not outcomes of their candidate and do not count toward the requested number:
``interrupted`` ones (the search stopped while they ran) and ``retried`` ones (a transient fault ended them).
Each is queued again with the same parameters, so the same architecture and seed train again; ``attempt``
(1-based) numbers the tries of a candidate, ``rerun_of`` and ``retry_of`` name the trial tried again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.architecture import Architecture
from nas_resnext.compat import set_finished_trial_user_attr
from nas_resnext.complexity import Complexity
from nas_resnext.pareto import study_direction

INTERRUPTED = "interrupted: the search stopped while this trial ran; it is run again on --resume"
# How the error of a transient failure that is trained again begins; the final attempt's error has no prefix.
RETRIED = "retried"


def retried_error(message: str, attempt: int) -> str:
    """The recorded error of attempt ``attempt`` that failed transiently and is trained again."""
    return f"{RETRIED}: attempt {attempt} failed transiently and is trained again ({message})"


FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off while the block runs (the search prints its own), then restored."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def open_study(storage_url: str, name: str, objectives: Sequence[str], sampler: Any) -> optuna.Study:
    """Create or load the study ``name`` in ``storage_url``; directions follow ``objectives``."""
    storage = optuna.storages.RDBStorage(
        storage_url,
        # A long timeout rides out the brief locks a reader (dashboard, report) may hold.
        engine_kwargs={"connect_args": {"timeout": 60}},
    )
    with quiet_optuna():
        return optuna.create_study(
            storage=storage,
            study_name=name,
            directions=[study_direction(objective) for objective in objectives],
            sampler=sampler,
            load_if_exists=True,
        )


def load_study(storage_url: str, name: str) -> optuna.Study | None:
    """The study ``name`` in ``storage_url`` (or its only study, by another name); None if there is none."""
    names = optuna.get_all_study_names(storage_url)
    if not names:
        return None
    with quiet_optuna():
        return optuna.load_study(study_name=name if name in names else names[0], storage=storage_url)


def architecture_attrs(arch: Architecture, complexity: Complexity) -> dict[str, Any]:
    """The user attributes that describe a trial's architecture."""
    return {
        "name": arch.name,
        "architecture": arch.to_dict(),
        **arch.axis_values(),
        "flops": complexity.flops,
        "params": complexity.params,
        "activations": complexity.activations,
    }


def is_counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward the requested number: finished, and neither interrupted nor retried."""
    attrs = trial.user_attrs
    return trial.state in FINISHED_STATES and not attrs.get("interrupted", False) and not attrs.get("retried")


def queue_retry(study: optuna.Study, number: int, params: dict[str, Any], attempt: int) -> None:
    """Queue attempt ``attempt`` of the candidate trial ``number`` tried (its parameters, so the same
    architecture and seed)."""
    study.enqueue_trial(params, user_attrs={"attempt": attempt, "retry_of": number}, skip_if_exists=False)


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto-optimal COMPLETE trials, one per architecture (a reused result is not listed twice)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    front: dict[str, FrozenTrial] = {}
    for trial in sorted(study.best_trials, key=lambda t: t.number):
        front.setdefault(trial.user_attrs.get("name", str(trial.number)), trial)
    return list(front.values())


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Mark trials left RUNNING by a killed search as failed (with the reason) and queue them again, as
    the same attempt (the stop was no fault of the candidate's). A retry that a search killed at that
    moment never queued is queued too.

    Returns the numbers of the interrupted trials queued for a re-run.
    """
    requeued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        set_finished_trial_user_attr(study, trial, "error", INTERRUPTED)
        set_finished_trial_user_attr(study, trial, "interrupted", True)
        study.tell(trial.number, state=TrialState.FAIL)
        if trial.params:
            attrs = {"rerun_of": trial.number, "attempt": trial.user_attrs.get("attempt", 1)}
            study.enqueue_trial(trial.params, user_attrs=attrs, skip_if_exists=False)
        requeued.append(trial.number)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for trial in trials:
        if trial.user_attrs.get("retried") and trial.number not in retried and trial.params:
            queue_retry(study, trial.number, trial.params, trial.user_attrs.get("attempt", 1) + 1)
    return requeued


def objective_values(metrics: dict[str, Any], objectives: Sequence[str]) -> list[float] | None:
    """Objective values from a trial's metrics, or None if one is missing or not finite."""
    values = []
    for objective in objectives:
        value = metrics.get(objective)
        if value is None or not math.isfinite(float(value)):
            return None
        values.append(float(value))
    return values

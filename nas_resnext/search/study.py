"""The Optuna study that holds a search's history: opening it, recording trials, reading them back.

Every trial carries its architecture as user attributes (``name``, ``depths``, ``width``, ``cardinality``,
``bottleneck_width``, ``flops``, ``params``) beside the sampler's quantile parameters, so ``study.db``
is readable on its own (``optuna-dashboard sqlite:///RUN/study.db``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.architecture import Architecture
from nas_resnext.complexity import Complexity

INTERRUPTED = "interrupted: the search stopped while this trial ran; it is run again on --resume"
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def open_study(path: Path, name: str, objectives: Sequence[str], sampler: Any) -> optuna.Study:
    """Create or load the study in the SQLite file ``path``; directions follow ``objectives``."""
    storage = optuna.storages.RDBStorage(
        f"sqlite:///{path.resolve()}",
        # A long timeout rides out the brief locks a reader (dashboard, report) may hold.
        engine_kwargs={"connect_args": {"timeout": 60}},
    )
    directions = ["maximize" if objective == "val_accuracy" else "minimize" for objective in objectives]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        storage=storage, study_name=name, directions=directions, sampler=sampler, load_if_exists=True
    )


def architecture_attrs(arch: Architecture, complexity: Complexity) -> dict[str, Any]:
    return {
        "name": arch.name,
        "architecture": arch.to_dict(),
        "depths": list(arch.depths),
        "width": arch.width,
        "cardinality": arch.cardinality,
        "bottleneck_width": arch.bottleneck_width,
        "group_width": arch.group_width,
        "flops": complexity.flops,
        "params": complexity.params,
    }


def is_counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward the requested number: finished, and not an interrupted run."""
    return trial.state in FINISHED_STATES and not trial.user_attrs.get("interrupted", False)


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Mark trials left RUNNING by a killed search as failed (with the reason) and queue them again.

    Returns the numbers of the trials queued for a re-run.
    """
    requeued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "error", INTERRUPTED)
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study.tell(trial.number, state=TrialState.FAIL)
        if trial.params:
            study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number}, skip_if_exists=False)
        requeued.append(trial.number)
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

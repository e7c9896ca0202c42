"""Every private API of Optuna and Ray this package relies on, in this one module.

Each entry is a name starting with ``_`` (or a private module) that the libraries do not promise to keep.
``tests/test_compat.py`` holds a canary test per entry that fails loudly, naming the entry, when an
upgrade changes it; ``pyproject.toml`` bounds the major versions (``optuna<6``, ``ray[tune]<3``).
Imports happen inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import optuna
    from optuna.trial import FrozenTrial

SchedulerClass = TypeVar("SchedulerClass", bound=type)

# Ray logs a notice about its (default, kept) token authentication on every start from this private module.
RAY_AUTH_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"


def is_pareto_front(loss_rows: np.ndarray) -> np.ndarray:
    """Optuna's non-dominated mask (the one its samplers use; O(n log n) for two objectives)."""
    from optuna.study._multi_objective import _is_pareto_front

    return _is_pareto_front(loss_rows, assume_unique_lexsorted=False)


def fast_non_domination_rank(loss_rows: np.ndarray) -> np.ndarray | None:
    """Optuna's front index of every row, or None when this Optuna lacks it (callers fall back)."""
    try:
        from optuna.study._multi_objective import _fast_non_domination_rank
    except ImportError:
        return None
    return _fast_non_domination_rank(loss_rows)


def compute_hypervolume(loss_rows: np.ndarray, reference: np.ndarray) -> float:
    """Optuna's exact WFG hypervolume of ``loss_rows`` (lower is better) against ``reference``."""
    from optuna._hypervolume import compute_hypervolume as optuna_hypervolume

    return float(optuna_hypervolume(loss_rows, reference))


def set_finished_trial_user_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """Set a user attribute of a trial the study holds but no live ``Trial`` object represents (one left
    RUNNING by a killed process, or the frozen trial a sampler is given while it draws); Optuna's public
    API sets attributes through a live trial only."""
    study._storage.set_trial_user_attr(trial._trial_id, key, value)


def queued_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a WAITING trial was enqueued with (``study.enqueue_trial``); empty for others."""
    return dict(trial.system_attrs.get("fixed_params") or {})


def set_scheduler_metric(scheduler: Any, metric: str) -> None:
    """Ray checks each result for the scheduler's metric before handing it over; a multi-objective
    scheduler names its primary objective for it."""
    scheduler._metric = metric


def scheduler_metric_and_mode(scheduler: Any) -> tuple[str | None, str | None]:
    """The metric and mode a Ray scheduler (e.g. ASHA) was built with."""
    return scheduler._metric, scheduler._mode


def unbuffered(cls: SchedulerClass) -> SchedulerClass:
    """Class decorator: Ray hands the scheduler every result as it comes instead of in batches, so a
    trial is stopped at its rung and not some epochs later."""
    cls._supports_buffered_results = False
    return cls

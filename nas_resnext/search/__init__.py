"""Architecture search: feasible sampling, Optuna ask/tell under Ray Tune, schedulers, run directories."""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use, so importing the package does not import Ray.
_LAZY_EXPORTS = {
    "run_search": "nas_resnext.search.runner",
    "SearchOutcome": "nas_resnext.search.runner",
    "RunDirectory": "nas_resnext.search.rundir",
    "RunOptions": "nas_resnext.search.rundir",
    "trials_table": "nas_resnext.search.rundir",
    "FeasibleSampler": "nas_resnext.search.sampling",
    "make_sampler": "nas_resnext.search.sampling",
    "StudySearcher": "nas_resnext.search.searcher",
    "MOASHAScheduler": "nas_resnext.search.schedulers",
    "MissingMetricError": "nas_resnext.search.schedulers",
    "make_scheduler": "nas_resnext.search.schedulers",
    "was_stopped_early": "nas_resnext.search.schedulers",
    "is_promoted": "nas_resnext.search.ranking",
    "non_dominated_ranks": "nas_resnext.search.ranking",
    "selection_order": "nas_resnext.search.ranking",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(_LAZY_EXPORTS)

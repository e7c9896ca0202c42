"""Architecture search: feasible sampling, Optuna ask/tell under Ray Tune, schedulers, the search loop."""

from __future__ import annotations

from nas_resnext.lazy import lazy_namespace

# Loaded on first use, so importing the package does not import Ray.
_LAZY_EXPORTS = {
    "run_search": "nas_resnext.search.runner",
    "SearchOutcome": "nas_resnext.search.runner",
    "RunDirectory": "nas_resnext.rundir",
    "RunOptions": "nas_resnext.rundir",
    "trials_table": "nas_resnext.rundir",
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


__getattr__, __dir__ = lazy_namespace(__name__, _LAZY_EXPORTS)

"""What the search loop needs of whatever proposes its trials.

Two implementations: :class:`~nas_resnext.search.sampling.FeasibleSampler` (a search: in-budget
architectures of a design space, every trial trained with the run's one seed) and
:class:`~nas_resnext.tradeoff.plan.PlanSampler` (a trade-off study: planned members, each trial with its own
training seed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from nas_resnext.architecture import Architecture
    from nas_resnext.rundir import RunOptions


class CandidateSampler(Protocol):
    """Maps a trial's Optuna parameters to what it trains."""

    #: how progress lines name the run's work: ``"searching"`` or ``"studying"``
    activity: str
    #: whether trials carry their own training seed (``seed_of``); progress lines then show it
    per_trial_seed: bool

    def distributions(self, grid: bool = False) -> dict[str, Any]:
        """The Optuna distributions a trial is asked with."""
        ...

    def decode(self, params: Mapping[str, Any]) -> Architecture:
        """The architecture a trial's parameters select."""
        ...

    def seed_of(self, params: Mapping[str, Any]) -> int | None:
        """The trial's own training seed; None: the run's seed."""
        ...

    def chosen_by(self, options: RunOptions) -> str | None:
        """How candidates are chosen, for the line that starts a run (None: by plan, nothing to say)."""
        ...

"""A trade-off study's plan: the members of an iso-complexity family (or a spending plan) and the seeds.

The plan is what ``nas-resnext tradeoff`` trains: every member for every seed, under identical settings.
It is stored in the run directory (``RunDirectory.write_plan``), beside a design space that spans the
members (so the run is also an ordinary run directory: ``report`` and ``--resume`` read it like a search's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import Architecture
from nas_resnext.complexity import count_analytic
from nas_resnext.errors import ConfigError
from nas_resnext.isocomplexity import (
    DEFAULT_TOLERANCE,
    MATCHES,
    FamilyMember,
    axis_value,
    iso_complexity_family,
    normalize_axis,
    spending_plan,
    value_text,
)
from nas_resnext.settings import TrainSettings
from nas_resnext.units import gflops_text

if TYPE_CHECKING:
    from nas_resnext.rundir import RunDirectory, RunOptions

SPENDING = "spending"  # the plan's ``axis`` when each member spends the target on a different axis
REFERENCE = "reference"  # a spending plan's baseline member: the reference itself, at 1x
MEMBER_PARAM = "member"
SEED_PARAM = "seed_index"


def value_label(axis: str, value: Any) -> str:
    """How one value of the varied axis is shown: ``C=8``, ``d=14``, ``width=32``, ``depths=3,4,6,3``."""
    return str(value) if axis == SPENDING else value_text(axis, value)


@dataclass(frozen=True)
class TradeoffPlan:
    """Members to train (in the order shown) and how many seeds each gets.

    ``axis`` is the varied axis of an iso-complexity family, or ``"spending"`` for the paper's Table 4
    question (the reference, then the reference grown to the target along each axis alone).
    """

    reference: Architecture
    axis: str
    solve: str | None
    match: str
    target: str | None  # as given (``"2x"``, ``"0.05"``); None: the reference's own complexity
    members: tuple[FamilyMember, ...]
    seeds: int = 1
    base_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 1:
            raise ConfigError("--seeds", self.seeds, "an integer >= 1")
        if not self.members:
            raise ConfigError("members", [], "at least one member")

    # -- building ----------------------------------------------------------------------------------------

    @classmethod
    def family(
        cls,
        reference: Architecture,
        axis: str,
        values: Sequence[Any],
        solve: str,
        match: str = "params",
        target: str | None = None,
        seeds: int = 1,
        base_seed: int = 0,
    ) -> TradeoffPlan:
        """Vary ``axis`` over ``values``; solve ``solve`` so each member matches the target complexity."""
        members = iso_complexity_family(reference, axis, values, solve, match, target)
        return cls(
            reference,
            normalize_axis(axis),
            normalize_axis(solve),
            match,
            target,
            tuple(members),
            seeds,
            base_seed,
        )

    @classmethod
    def spending(
        cls,
        reference: Architecture,
        target: str = "2x",
        match: str = "flops",
        seeds: int = 1,
        base_seed: int = 0,
    ) -> TradeoffPlan:
        """The reference, then the reference grown to ``target`` along depth, width, C and d, each alone."""
        grown = spending_plan(reference, target, match)
        base = FamilyMember(
            reference, REFERENCE, REFERENCE, count_analytic(reference), grown[0].target, match
        )
        return cls(reference, SPENDING, None, match, target, (base, *grown), seeds, base_seed)

    # -- reading -----------------------------------------------------------------------------------------

    @property
    def seed_values(self) -> tuple[int, ...]:
        return tuple(range(self.base_seed, self.base_seed + self.seeds))

    @property
    def trials(self) -> int:
        return len(self.members) * self.seeds

    @property
    def target_count(self) -> int:
        return self.members[0].target

    def label(self, index: int) -> str:
        """The member's label on the varied axis (``C=8``), or the axis it spends on (``width``)."""
        member = self.members[index]
        return member.axis if self.axis == SPENDING else value_label(self.axis, member.value)

    def unreachable(self, tolerance: float = DEFAULT_TOLERANCE) -> tuple[int, ...]:
        """Indices of the members that cannot reach the target within ``tolerance`` (a fraction): their
        solved axis stopped at the end of its range (see ``FamilyMember.reachable``)."""
        return tuple(i for i, m in enumerate(self.members) if not m.reachable(tolerance))

    def target_text(self) -> str:
        """The matched complexity in words: ``0.0123 GFLOPs`` or ``1.25M params``."""
        count = self.target_count
        if self.match == "flops":
            return f"{gflops_text(count)} GFLOPs"
        return f"{count / 1e6:.4g}M params"

    def describe(self) -> str:
        """One line: what is compared, at what complexity."""
        if self.axis == SPENDING:
            return (
                f"Spending {self.target or '1x'} of {self.reference.name}'s {self.match} "
                f"({self.target_text()}) on depth, width, cardinality or bottleneck width"
            )
        values = ", ".join(value_label(self.axis, m.value) for m in self.members)
        return (
            f"Iso-complexity family of {self.reference.name}: {values}; {self.solve} solved to match "
            f"{self.target_text()}"
        )

    # -- storing -----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference.to_dict(),
            "axis": self.axis,
            "solve": self.solve,
            "match": self.match,
            "target": self.target,
            "target_count": self.target_count,
            "seeds": self.seeds,
            "base_seed": self.base_seed,
            "members": [
                {
                    "label": self.label(i),
                    "axis": m.axis,
                    "name": m.arch.name,
                    "architecture": m.arch.to_dict(),
                }
                for i, m in enumerate(self.members)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "plan") -> TradeoffPlan:
        """A plan from its ``to_dict``; ``source`` names where it came from in errors."""
        try:
            match = data["match"]
            if match not in MATCHES:
                raise ConfigError("match", match, " | ".join(MATCHES))
            target_count = int(data["target_count"])
            members = []
            for item in data["members"]:
                arch = Architecture.from_dict(item["architecture"])
                axis = item["axis"]
                value = REFERENCE if axis == REFERENCE else axis_value(arch, axis)
                members.append(FamilyMember(arch, axis, value, count_analytic(arch), target_count, match))
            return cls(
                reference=Architecture.from_dict(data["reference"]),
                axis=data["axis"],
                solve=data.get("solve"),
                match=match,
                target=data.get("target"),
                members=tuple(members),
                seeds=int(data.get("seeds", 1)),
                base_seed=int(data.get("base_seed", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(
                source, str(error), "a trade-off plan written by nas-resnext tradeoff"
            ) from None

    def save(self, run: RunDirectory) -> None:
        """Store the plan in the run directory."""
        run.write_plan(self.to_dict())

    @classmethod
    def load(cls, run: RunDirectory) -> TradeoffPlan:
        """The plan a trade-off run holds."""
        return cls.from_dict(run.read_plan(), str(run.plan_file))

    def with_seeds(self, seeds: int) -> TradeoffPlan:
        """The same plan with ``seeds`` seeds (more seeds extend a finished study)."""
        return TradeoffPlan(
            self.reference,
            self.axis,
            self.solve,
            self.match,
            self.target,
            self.members,
            seeds,
            self.base_seed,
        )

    # -- the run directory's design space --------------------------------------------------------------

    def design_space(
        self,
        name: str,
        dataset: str,
        data_dir: str | None,
        training: TrainSettings,
        description: str | None = None,
    ) -> Any:
        """The smallest design space holding every member (what ``space.yaml`` of the run holds)."""
        from nas_resnext.space import DesignSpace

        archs = [m.arch for m in self.members]
        stages = len(self.reference.depths)

        def choices(values: Sequence[int]) -> dict[str, list[int]]:
            return {"choices": sorted(set(values))}

        depth_sets = [{a.depths[i] for a in archs} for i in range(stages)]
        uniform = all(len(set(a.depths)) == 1 for a in archs)
        axes: dict[str, Any] = (
            {"depth": choices([a.depths[0] for a in archs])}
            if uniform
            else {"depths": [choices(list(s)) for s in depth_sets]}
        )
        axes.update(
            width=choices([a.width for a in archs]),
            cardinality=choices([a.cardinality for a in archs]),
            bottleneck_width=choices([a.bottleneck_width for a in archs]),
        )
        ref = self.reference
        return DesignSpace.from_dict(
            {
                "name": name,
                "description": description or self.describe(),
                "template": ref.template,
                "resolution": ref.resolution,
                "num_classes": ref.num_classes,
                "in_channels": ref.in_channels,
                "stem_width": ref.stem_width,
                "dataset": dataset,
                "data_dir": data_dir,
                "axes": axes,
                "objectives": ["val_accuracy", self.match],
                "training": training.to_dict(),
                # Every member is trained for every seed to the full epochs: an exhaustive, unstopped run.
                "search": {
                    "trials": self.trials,
                    "sampler": "grid",
                    "scheduler": "fifo",
                    "seed": self.base_seed,
                },
            }
        )


class PlanSampler:
    """The plan as Optuna parameters: a member index and a seed index per trial, all queued up front.

    The candidate sampler of a trade-off study (:class:`~nas_resnext.search.candidates.CandidateSampler`):
    each trial trains its member with its own seed.
    """

    activity = "studying"
    per_trial_seed = True

    def __init__(self, plan: TradeoffPlan) -> None:
        self.plan = plan

    def distributions(self, grid: bool = True) -> dict[str, Any]:
        from optuna.distributions import IntDistribution

        return {
            MEMBER_PARAM: IntDistribution(0, len(self.plan.members) - 1),
            # The upper bound grows when --resume adds seeds; Optuna allows a trial's distribution to differ.
            SEED_PARAM: IntDistribution(0, self.plan.seeds - 1),
        }

    def decode(self, params: Mapping[str, Any]) -> Architecture:
        return self.plan.members[int(params[MEMBER_PARAM])].arch

    def seed_of(self, params: Mapping[str, Any]) -> int:
        return self.plan.base_seed + int(params[SEED_PARAM])

    def chosen_by(self, options: RunOptions) -> None:
        """Members and seeds follow the plan: no sampler or scheduler to name."""
        return None

    def queue(self, study: Any) -> int:
        """Queue every (member, seed) the study has not run or queued yet; returns how many were queued.

        Members go round seed by seed, so a study stopped half-way has every member at the first seeds.
        """
        from optuna.trial import TrialState

        from nas_resnext.compat import queued_params

        present = set()
        for trial in study.get_trials(deepcopy=False):
            if trial.user_attrs.get("interrupted"):
                continue
            if trial.state == TrialState.RUNNING:
                continue  # left by a killed run; recovery re-queues it first
            params = trial.params
            if trial.state == TrialState.WAITING:  # queued: its values are not params yet
                params = queued_params(trial)
            if MEMBER_PARAM in params and SEED_PARAM in params:
                present.add((int(params[MEMBER_PARAM]), int(params[SEED_PARAM])))
        queued = 0
        for seed_index in range(self.plan.seeds):
            for member in range(len(self.plan.members)):
                if (member, seed_index) not in present:
                    study.enqueue_trial({MEMBER_PARAM: member, SEED_PARAM: seed_index})
                    queued += 1
        return queued

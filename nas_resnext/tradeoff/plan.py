"""A trade-off study's plan: the members of an iso-complexity family (or a spending plan) and the seeds.

The plan is what ``nas-resnext tradeoff`` trains: every member for each of its planned seeds, under identical
settings. A fixed plan gives every member the same seeds; an adaptive one (``--seeds auto``) starts every
member at ``min_seeds`` and grows only the contenders, round by round (see ``grow``), up to ``max_seeds``.
It is stored in the run directory (``RunDirectory.write_plan``), beside a design space that spans the
members (so the run is also an ordinary run directory: ``report`` and ``--resume`` read it like a search's).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
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


DEFAULT_MIN_SEEDS = 3
DEFAULT_MAX_SEEDS = 8


@dataclass(frozen=True)
class TradeoffPlan:
    """Members to train (in the order shown) and how many seeds each gets.

    ``axis`` is the varied axis of an iso-complexity family, or ``"spending"`` for the paper's Table 4
    question (the reference, then the reference grown to the target along each axis alone).

    ``member_seeds`` holds each member's planned seed count (member i trains seed indices
    0..member_seeds[i]-1, seed index k with training seed ``base_seed + k`` for every member, so seeds
    pair); left empty, every member gets ``seeds``. ``seeds`` is always the largest planned count. An
    adaptive plan (``--seeds auto``) has ``min_seeds`` and ``max_seeds``, the ``confidence`` its schedule is
    decided at, and ``rounds``: the rounds planned so far (round 1 is every member at ``min_seeds``).
    """

    reference: Architecture
    axis: str
    solve: str | None
    match: str
    target: str | None  # as given (``"2x"``, ``"0.05"``); None: the reference's own complexity
    members: tuple[FamilyMember, ...]
    seeds: int = 1
    base_seed: int = 0
    member_seeds: tuple[int, ...] = ()
    min_seeds: int | None = None
    max_seeds: int | None = None
    confidence: float | None = None
    rounds: int = 0

    def __post_init__(self) -> None:
        if not self.members:
            raise ConfigError("members", [], "at least one member")
        if self.member_seeds:
            counts = tuple(self.member_seeds)
            if len(counts) != len(self.members) or not all(_count(n, 1) for n in counts):
                raise ConfigError("member_seeds", list(counts), "an integer >= 1 per member")
            # Frozen: normalised once here, so a plan read back compares equal to the one written.
            object.__setattr__(self, "member_seeds", counts)
            object.__setattr__(self, "seeds", max(counts))
        elif not _count(self.seeds, 1):
            raise ConfigError("--seeds", self.seeds, "an integer >= 1")
        else:
            object.__setattr__(self, "member_seeds", (self.seeds,) * len(self.members))
        if (self.min_seeds is None) != (self.max_seeds is None):
            raise ConfigError("max_seeds", self.max_seeds, "both min_seeds and max_seeds, or neither")
        if self.min_seeds is not None:
            if not _count(self.min_seeds, 2):
                raise ConfigError("--min-seeds", self.min_seeds, "an integer >= 2")
            if not _count(self.max_seeds, self.min_seeds):
                allowed = f"an integer >= --min-seeds ({self.min_seeds})"
                raise ConfigError("--max-seeds", self.max_seeds, allowed)
            if self.confidence is None or not 0 < self.confidence < 1:
                raise ConfigError("confidence", self.confidence, "a number strictly between 0 and 1")

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

    def adaptive_seeds(
        self, min_seeds: int = DEFAULT_MIN_SEEDS, max_seeds: int = DEFAULT_MAX_SEEDS, confidence: float = 0.95
    ) -> TradeoffPlan:
        """The same members on the adaptive schedule: every member at ``min_seeds`` (round 1), grown up to
        ``max_seeds`` while the verdict at ``confidence`` is not decided."""
        return replace(
            self,
            seeds=min_seeds,
            member_seeds=(min_seeds,) * len(self.members),
            min_seeds=min_seeds,
            max_seeds=max_seeds,
            confidence=confidence,
            rounds=1,
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
        """Every training seed some member is planned to train with."""
        return tuple(range(self.base_seed, self.base_seed + self.seeds))

    @property
    def trials(self) -> int:
        return sum(self.member_seeds)

    @property
    def adaptive(self) -> bool:
        """Seeds grow round by round until the verdict is decided (``--seeds auto``)."""
        return self.min_seeds is not None

    @property
    def looks(self) -> int:
        """How many verdicts the schedule may act on: ``max - min + 1`` rounds when adaptive, else 1."""
        if self.max_seeds is None or self.min_seeds is None:
            return 1
        return self.max_seeds - self.min_seeds + 1

    def seeds_text(self) -> str:
        """The seeds in words: ``3 seeds each (0, 1, 2)``; adaptive: ``2 to 3 seeds per member (...)``."""
        values = ", ".join(map(str, self.seed_values))
        if len(set(self.member_seeds)) == 1 and not self.adaptive:
            return f"{self.seeds} seed{'s' if self.seeds > 1 else ''} each ({values})"
        low, high = min(self.member_seeds), max(self.member_seeds)
        counts = f"{low} to {high}" if low != high else str(high)
        auto = ""
        if self.adaptive:
            auto = f"; --seeds auto, {self.min_seeds} to {self.max_seeds}, round {self.rounds}"
        return f"{counts} seeds per member ({values}{auto})"

    def grow(self, contenders: Collection[int]) -> TradeoffPlan:
        """The next round: one more seed for each of ``contenders`` (member indices) below ``max_seeds``."""
        if self.max_seeds is None:
            raise ValueError("only an adaptive plan grows by rounds")
        counts = tuple(
            n + 1 if i in contenders and n < self.max_seeds else n for i, n in enumerate(self.member_seeds)
        )
        return replace(self, member_seeds=counts, rounds=self.rounds + 1)

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
        """The matched complexity in words: ``0.0123 GFLOPs``, ``1.25M params`` or ``3.4M activations``."""
        count = self.target_count
        if self.match == "flops":
            return f"{gflops_text(count)} GFLOPs"
        return f"{count / 1e6:.4g}M {self.match}"

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
            "member_seeds": list(self.member_seeds),
            **(
                {
                    "min_seeds": self.min_seeds,
                    "max_seeds": self.max_seeds,
                    "confidence": self.confidence,
                    "rounds": self.rounds,
                }
                if self.adaptive
                else {}
            ),
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
                # Plans written before per-member counts give every member ``seeds``.
                member_seeds=tuple(int(n) for n in data.get("member_seeds", ())),
                min_seeds=_optional_int(data.get("min_seeds")),
                max_seeds=_optional_int(data.get("max_seeds")),
                confidence=float(data["confidence"]) if data.get("confidence") is not None else None,
                rounds=int(data.get("rounds", 0)),
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
        """The same plan with ``seeds`` seeds for every member (more seeds extend a finished study)."""
        return replace(self, seeds=seeds, member_seeds=(seeds,) * len(self.members))

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


def _count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


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
        """Queue every planned (member, seed) the study has not run or queued yet (member i: seed indices
        below ``member_seeds[i]``); returns how many were queued.

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
            for member, planned in enumerate(self.plan.member_seeds):
                if seed_index < planned and (member, seed_index) not in present:
                    study.enqueue_trial({MEMBER_PARAM: member, SEED_PARAM: seed_index})
                    queued += 1
        return queued

"""Iso-complexity families: the paper's Table 2 method (and Table 4's "2x complexity" question).

For each value of a varied axis, the solved axis is set to the value whose complexity (params by default,
as in the paper, FLOPs, or activations: pycls's proxy of GPU time) is nearest to a target: the reference's
own complexity, or a multiple of it.
Each solved axis has a range (from 1, or one block per stage for depth, up to ``MAX_AXIS_VALUE``); a member
whose target lies beyond that range stops at its end, and says so (``FamilyMember.at_limit``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nas_resnext.architecture import AXES, Architecture
from nas_resnext.complexity import Complexity, count_analytic
from nas_resnext.errors import ConfigError

MATCHES = ("params", "flops", "activations")
# How an absolute target of each match is written (--target 4.1): its unit and that unit's size.
TARGET_UNITS = {"params": ("Mparams", 1e6), "flops": ("GFLOPs", 1e9), "activations": ("Mactivations", 1e6)}
LIMITS = ("minimum", "maximum")
MAX_AXIS_VALUE = 1 << 16  # beyond this no real network lies; the solver grows no axis further
DEFAULT_TOLERANCE = 0.10  # how far (a fraction of the target) a member stopped at its range's end may miss
_SHORT_AXIS = {"cardinality": "C", "bottleneck_width": "d", "width": "width", "depth": "depths"}
_TARGET_RE = re.compile(r"^\s*(?P<value>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>x?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FamilyMember:
    arch: Architecture
    axis: str  # the axis this member varies (or, in a spending plan, the axis it spends on)
    value: Any  # the varied axis' value (a depths tuple for "depth")
    complexity: Complexity
    target: int
    match: str
    # The axis set to meet the target (None: nothing was solved, as for a spending plan's reference) and,
    # where the target lay beyond that axis' range, the end ("minimum" or "maximum") the solver stopped at.
    # Facts of how the member was found, not of the architecture: members compare equal without them.
    solved: str | None = field(default=None, compare=False)
    at_limit: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.at_limit is not None and self.at_limit not in LIMITS:
            raise ConfigError("at_limit", self.at_limit, " | ".join(LIMITS))

    @property
    def rel_diff(self) -> float:
        """Signed relative difference of the matched quantity from the target."""
        return (_measure(self.complexity, self.match) - self.target) / self.target

    def reachable(self, tolerance: float = DEFAULT_TOLERANCE) -> bool:
        """False only when the solved axis stopped at the end of its range and still misses the target by
        more than ``tolerance`` (a fraction). A member inside the range that misses is as near as whole
        values allow, so it counts as reachable."""
        return self.at_limit is None or abs(self.rel_diff) <= tolerance

    def limit_reason(self) -> str | None:
        """Why the target is out of reach, e.g. ``bottleneck_width is at its minimum (1) and still
        +1670.87% from the target``; None when the solved axis did not stop at the end of its range."""
        if self.at_limit is None or self.solved is None:
            return None
        where = f"{self.solved} is at its {self.at_limit} ({_shown(axis_value(self.arch, self.solved))})"
        return f"{where} and still {self.rel_diff:+.2%} from the target"

    def to_row(self, tolerance: float = DEFAULT_TOLERANCE) -> dict[str, Any]:
        """The ``tradeoff --plan --json`` row."""
        return {
            "name": self.arch.name,
            "axis": self.axis,
            **self.arch.axis_values(),
            "params": self.complexity.params,
            "flops": self.complexity.flops,
            "activations": self.complexity.activations,
            "rel_diff": self.rel_diff,
            "reachable": self.reachable(tolerance),
        }


def value_text(axis: str, value: Any) -> str:
    """One value of an axis as tables label it: ``C=8``, ``d=14``, ``width=32``, ``depths=3,4,6,3``."""
    return f"{_SHORT_AXIS.get(axis, axis)}={_shown(value)}"


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def normalize_axis(name: str, field: str = "axis") -> str:
    axis = name.strip().lower().replace("-", "_")
    axis = {"c": "cardinality", "d": "bottleneck_width", "depths": "depth"}.get(axis, axis)
    if axis not in AXES:
        raise ConfigError(field, name, " | ".join(AXES))
    return axis


def _measure(complexity: Complexity, match: str) -> int:
    return getattr(complexity, match)


def axis_value(arch: Architecture, axis: str) -> Any:
    return arch.depths if axis == "depth" else getattr(arch, axis)


def with_axis(arch: Architecture, axis: str, value: Any) -> Architecture:
    """``arch`` with one axis changed; a depth value is a tuple of blocks per stage."""
    return arch.replace(depths=tuple(value)) if axis == "depth" else arch.replace(**{axis: value})


def scaled_depths(reference: Sequence[int], total_blocks: int) -> tuple[int, ...]:
    """Distribute ``total_blocks`` over the stages in the reference's proportions (each stage >= 1).

    This is how depth is *solved*: the stage ratio of the reference is kept (3,4,6,3 doubles to 6,8,12,6).
    Largest remainders go first; ties go to the later stage, which is cheaper per block in FLOPs.
    """
    stages = len(reference)
    if total_blocks < stages:
        raise ConfigError("total_blocks", total_blocks, f"an integer >= {stages} (one block per stage)")
    spare = total_blocks - stages
    quotas = [spare * r / sum(reference) for r in reference]
    blocks = [math.floor(q) for q in quotas]
    order = sorted(range(stages), key=lambda i: (quotas[i] - blocks[i], i), reverse=True)
    for i in order[: spare - sum(blocks)]:
        blocks[i] += 1
    return tuple(1 + b for b in blocks)


def _candidate(arch: Architecture, axis: str, value: int) -> Architecture:
    if axis == "depth":
        return arch.replace(depths=scaled_depths(arch.depths, value))
    return arch.replace(**{axis: value})


def solve_axis(arch: Architecture, axis: str, target: int, match: str = "params") -> Architecture:
    """The setting of ``axis`` (other axes fixed) whose complexity is nearest ``target``; ties go smaller.

    Depth is solved as a total block count in the reference's stage proportions (see ``scaled_depths``).
    A target beyond the axis' range gives the end of the range (``iso_complexity_family`` reports it).
    """
    return _solve(arch, normalize_axis(axis, "solve"), target, match)[0]


def _solve(arch: Architecture, axis: str, target: int, match: str) -> tuple[Architecture, str | None]:
    """``solve_axis``, and the end of the range ("minimum" | "maximum") it stopped at, if the target lies
    beyond it; ``axis`` is already normalised."""
    if match not in MATCHES:
        raise ConfigError("match", match, " | ".join(MATCHES))
    lowest = len(arch.depths) if axis == "depth" else 1

    def cost(value: int) -> int:
        return _measure(count_analytic(_candidate(arch, axis, value)), match)

    # Complexity grows with every axis, so double until the target is passed, then scan the bracket
    # exhaustively (counting is microseconds, and depth's proportional split is not strictly monotone).
    high = lowest
    while cost(high) < target:
        if high >= MAX_AXIS_VALUE:
            return _candidate(arch, axis, high), "maximum"
        high = min(2 * high, MAX_AXIS_VALUE)
    best = min(range(lowest, min(2 * high, MAX_AXIS_VALUE) + 1), key=lambda v: (abs(cost(v) - target), v))
    # Only an overshoot at the minimum is the range's doing: an undershoot there means the target lies
    # between the minimum and the next value, which whole values cannot split.
    at_limit = "minimum" if best == lowest and cost(best) > target else None
    return _candidate(arch, axis, best), at_limit


def parse_target(text: str | float | None, reference: Complexity, match: str) -> int:
    """``None`` -> the reference's own complexity; ``"2x"`` -> twice it; a number -> absolute, in
    millions of params (``match="params"``), GFLOPs (``match="flops"``) or millions of activations."""
    base = _measure(reference, match)
    if text is None:
        return base
    parsed = _TARGET_RE.match(str(text))
    unit, size = TARGET_UNITS[match]
    allowed = f"a multiple of the reference such as 2x, or a positive number of {unit}"
    if not parsed or float(parsed["value"]) <= 0:
        raise ConfigError("target", text, allowed)
    value = float(parsed["value"])
    if parsed["unit"]:
        return round(base * value)
    return round(value * size)


def iso_complexity_family(
    reference: Architecture,
    vary: str,
    values: Sequence[Any],
    solve: str = "bottleneck_width",
    match: str = "params",
    target: str | float | None = None,
) -> list[FamilyMember]:
    """One member per value of ``vary``, with ``solve`` chosen to match the target complexity."""
    vary, solve = normalize_axis(vary, "vary"), normalize_axis(solve, "solve")
    if vary == solve:
        raise ConfigError("solve", solve, f"an axis other than the varied one ({vary})")
    if match not in MATCHES:
        raise ConfigError("match", match, " | ".join(MATCHES))
    if not values:
        raise ConfigError(vary, list(values), "at least one value")
    goal = parse_target(target, count_analytic(reference), match)
    members = []
    for value in values:
        varied = with_axis(reference, vary, value)
        solved, at_limit = _solve(varied, solve, goal, match)
        members.append(
            FamilyMember(
                solved, vary, axis_value(solved, vary), count_analytic(solved), goal, match, solve, at_limit
            )
        )
    return members


def spending_plan(
    reference: Architecture, target: str | float = "2x", match: str = "flops"
) -> list[FamilyMember]:
    """The paper's Table 4 question: reach ``target`` by growing one axis at a time (each axis a row)."""
    if match not in MATCHES:
        raise ConfigError("match", match, " | ".join(MATCHES))
    goal = parse_target(target, count_analytic(reference), match)
    members = []
    for axis in AXES:
        grown, at_limit = _solve(reference, axis, goal, match)
        members.append(
            FamilyMember(
                grown, axis, axis_value(grown, axis), count_analytic(grown), goal, match, axis, at_limit
            )
        )
    return members

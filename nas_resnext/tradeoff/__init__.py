"""Trade-off studies: train an iso-complexity family (or a spending plan) over seeds and read the result."""

from nas_resnext.tradeoff.plan import PlanSampler, TradeoffPlan
from nas_resnext.tradeoff.results import (
    Comparison,
    MemberResult,
    compare,
    contenders,
    member_results,
    reading,
)

__all__ = [
    "Comparison",
    "MemberResult",
    "PlanSampler",
    "TradeoffPlan",
    "compare",
    "contenders",
    "member_results",
    "reading",
]

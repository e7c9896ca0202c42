"""Iso-complexity families: the paper's Table 2, other axis pairs, targets, and the Table 4 plan."""

from __future__ import annotations

import re

import pytest

from nas_resnext import (
    Architecture,
    ConfigError,
    count_analytic,
    get_preset,
    iso_complexity_family,
    solve_axis,
    spending_plan,
)
from nas_resnext.isocomplexity import parse_target, scaled_depths


def test_reproduces_paper_table2_bottleneck_widths() -> None:
    # Table 2: at ResNet-50's complexity, C = 1, 2, 4, 8, 32 take d = 64, 40, 24, 14, 4.
    family = iso_complexity_family(get_preset("resnet50").architecture(), "cardinality", [1, 2, 4, 8, 32])
    assert [(m.arch.cardinality, m.arch.bottleneck_width) for m in family] == [
        (1, 64),
        (2, 40),
        (4, 24),
        (8, 14),
        (32, 4),
    ]
    assert [m.arch.group_width for m in family] == [64, 80, 96, 112, 128]  # Table 2's "width of group conv."
    assert all(abs(m.rel_diff) < 0.025 for m in family)


def test_each_member_is_the_nearest_choice() -> None:
    reference = get_preset("resnet50").architecture()
    target = count_analytic(reference).params
    for member in iso_complexity_family(reference, "cardinality", [2, 4, 8]):
        d = member.arch.bottleneck_width
        best = abs(member.complexity.params - target)
        for neighbour in (d - 1, d + 1):
            other = count_analytic(member.arch.replace(bottleneck_width=neighbour)).params
            assert abs(other - target) >= best


def test_match_flops_targets_flops() -> None:
    reference = get_preset("resnet50").architecture()
    family = iso_complexity_family(reference, "cardinality", [1, 8], match="flops")
    assert family[1].arch.bottleneck_width == 13  # 8x14d is 4.4% over in FLOPs, 8x13d is 3.3% under
    assert family[1].target == count_analytic(reference).flops


def test_match_activations_targets_activations() -> None:
    # A grouped conv's outputs are C*d channels: at matched activations the group width stays 64 while
    # FLOPs and params fall with C (activations as pycls counts them, the proxy of GPU time).
    reference = get_preset("resnet50").architecture()
    family = iso_complexity_family(reference, "cardinality", [1, 2, 8], match="activations")
    assert [m.arch.group_width for m in family] == [64, 64, 64]
    assert all(m.target == count_analytic(reference).activations and m.rel_diff == 0 for m in family)
    assert family[2].complexity.flops < family[1].complexity.flops < family[0].complexity.flops
    assert family[2].to_row()["activations"] == family[2].complexity.activations


def test_vary_width_solve_cardinality() -> None:
    reference = get_preset("resnext50_32x4d").architecture()
    family = iso_complexity_family(reference, "width", [48, 64, 80], solve="cardinality")
    cardinalities = [m.arch.cardinality for m in family]
    assert cardinalities[1] == 32
    assert cardinalities[0] > 32 > cardinalities[2]  # a narrower network affords more groups


def test_vary_depth_solve_width() -> None:
    reference = get_preset("resnext50_32x4d").architecture()
    family = iso_complexity_family(reference, "depth", [(2, 2, 2, 2), (3, 4, 23, 3)], solve="width")
    assert family[0].arch.depths == (2, 2, 2, 2) and family[0].arch.width > 64
    assert family[1].arch.depths == (3, 4, 23, 3) and family[1].arch.width < 64
    assert all(abs(m.rel_diff) < 0.05 for m in family)


def test_solve_depth_keeps_stage_proportions() -> None:
    reference = get_preset("resnet50").architecture()
    deeper = solve_axis(reference, "depth", 2 * count_analytic(reference).params, "params")
    assert sum(deeper.depths) > 16
    assert deeper.depths[2] == max(deeper.depths)


def test_target_multiple_doubles_the_complexity() -> None:
    reference = get_preset("resnext50_32x4d").architecture()
    family = iso_complexity_family(reference, "cardinality", [32, 64], target="2x", match="flops")
    assert family[0].target == 2 * count_analytic(reference).flops
    assert all(abs(m.rel_diff) < 0.06 for m in family)


def test_spending_plan_grows_each_axis_alone() -> None:
    reference = get_preset("resnet50").architecture()
    plan = spending_plan(reference, "2x", "flops")
    assert [m.axis for m in plan] == ["depth", "width", "cardinality", "bottleneck_width"]
    by_axis = {m.axis: m.arch for m in plan}
    assert by_axis["cardinality"].cardinality == 2  # the paper's ResNeXt 2x64d
    assert by_axis["width"].width > 64 and by_axis["width"].cardinality == 1
    assert sum(by_axis["depth"].depths) > 16
    for member in plan:
        changed = {
            axis
            for axis in ("depths", "width", "cardinality", "bottleneck_width")
            if getattr(member.arch, axis) != getattr(reference, axis)
        }
        assert len(changed) == 1


@pytest.mark.parametrize(
    ("reference", "total", "expected"),
    [
        ((3, 4, 6, 3), 16, (3, 4, 6, 3)),
        ((3, 4, 6, 3), 32, (6, 8, 12, 6)),
        ((3, 4, 6, 3), 4, (1, 1, 1, 1)),
        ((3, 3, 3), 9, (3, 3, 3)),
        ((3, 3, 3), 10, (3, 3, 4)),  # a tie goes to the later (cheaper) stage
        ((1, 1, 1), 6, (2, 2, 2)),
    ],
)
def test_scaled_depths(reference: tuple, total: int, expected: tuple) -> None:
    assert scaled_depths(reference, total) == expected
    assert sum(expected) == total


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, 1000), ("2x", 2000), ("1.5X", 1500), ("0.5x", 500), ("3", 3_000_000)],
)
def test_parse_target(text: str | None, expected: int) -> None:
    from nas_resnext import Complexity

    assert parse_target(text, Complexity(flops=10**9, params=1000, activations=10**6), "params") == expected


def test_an_absolute_activations_target_is_in_millions() -> None:
    from nas_resnext import Complexity

    reference = Complexity(flops=10**9, params=1000, activations=10**6)
    assert parse_target("2.5", reference, "activations") == 2_500_000
    assert parse_target("2x", reference, "activations") == 2_000_000
    with pytest.raises(ConfigError, match="a positive number of Mactivations"):
        parse_target("lots", reference, "activations")


@pytest.mark.parametrize("text", ["x2", "-1", "0x", "lots", "2xx"])
def test_bad_targets_are_rejected(text: str) -> None:
    from nas_resnext import Complexity

    with pytest.raises(ConfigError, match=f"target: got '{text}'; allowed: a multiple of the reference"):
        parse_target(text, Complexity(flops=1, params=1, activations=1), "flops")


def test_bad_axes_are_rejected() -> None:
    reference = get_preset("resnet50").architecture()
    with pytest.raises(ConfigError, match=re.escape("vary: got 'groups'; allowed: depth | width")):
        iso_complexity_family(reference, "groups", [1, 2])
    with pytest.raises(ConfigError, match="solve: got 'cardinality'; allowed: an axis other than"):
        iso_complexity_family(reference, "cardinality", [1, 2], solve="cardinality")
    with pytest.raises(ConfigError, match="match: got 'latency'"):
        iso_complexity_family(reference, "cardinality", [1, 2], match="latency")


# -- reachability: a solved axis that stops at the end of its range ------------------------------------


def test_a_member_whose_solved_axis_is_at_its_minimum_and_misses_is_unreachable() -> None:
    # No d can bring C=3000 down to ResNet-50's params: d stops at 1 and the member is 17.7x too big.
    family = iso_complexity_family(get_preset("resnet50").architecture(), "cardinality", [1, 2, 3000])
    assert [m.solved for m in family] == ["bottleneck_width"] * 3
    assert [m.at_limit for m in family] == [None, None, "minimum"]
    assert [m.reachable() for m in family] == [True, True, False]
    assert [m.to_row()["reachable"] for m in family] == [True, True, False]
    assert family[2].reachable(tolerance=17.0) and family[2].to_row(tolerance=17.0)["reachable"]
    assert family[2].limit_reason() == (
        "bottleneck_width is at its minimum (1) and still +1670.87% from the target"
    )
    assert family[0].limit_reason() is None


def test_a_target_beyond_the_solvers_maximum_is_reported_not_raised() -> None:
    from nas_resnext.isocomplexity import MAX_AXIS_VALUE

    reference = get_preset("resnet50").architecture()
    (member,) = iso_complexity_family(reference, "cardinality", [1], solve="width", target="1000000000")
    assert member.arch.width == MAX_AXIS_VALUE and member.at_limit == "maximum"
    assert member.rel_diff < -0.9 and not member.reachable()
    assert member.limit_reason().startswith(f"width is at its maximum ({MAX_AXIS_VALUE}) and still -")


def test_solved_depth_has_its_minimum_at_one_block_per_stage() -> None:
    reference = Architecture("cifar", (1, 1, 1), width=16, stem_width=16, bottleneck_width=16)
    family = iso_complexity_family(reference, "cardinality", [1, 300], solve="depth")
    assert [m.arch.depths for m in family] == [(1, 1, 1), (1, 1, 1)]
    assert [m.at_limit for m in family] == [None, "minimum"]  # the reference itself is met exactly
    assert family[1].limit_reason().startswith("depth is at its minimum (1,1,1) and still +")


def test_at_the_minimum_only_when_the_target_lies_beyond_it() -> None:
    # ResNet-50 at one block per stage has 10.06M params, at 5 blocks 11.18M. A 10.3M target lies between
    # two settings (not beyond the range): nearest is the minimum, yet fewer blocks would not help.
    reference = get_preset("resnet50").architecture()
    (between,) = iso_complexity_family(reference, "cardinality", [1], solve="depth", target="10.3")
    assert between.arch.depths == (1, 1, 1, 1) and between.rel_diff < -0.02
    assert between.at_limit is None and between.reachable(tolerance=0.01)
    # A 9.8M target lies below the minimum: 2.7% over, within 10% but not within 1%.
    (below,) = iso_complexity_family(reference, "cardinality", [1], solve="depth", target="9.8")
    assert below.at_limit == "minimum" and 0.02 < below.rel_diff < 0.03
    assert below.reachable() and not below.reachable(tolerance=0.01)


def test_spending_plan_members_say_whether_they_reach_the_target() -> None:
    reference = get_preset("resnet50").architecture()
    doubled = spending_plan(reference, "2x", "flops")
    assert [m.solved for m in doubled] == [m.axis for m in doubled]
    assert all(m.at_limit is None and m.to_row()["reachable"] for m in doubled)
    beyond = spending_plan(reference, "1000000000", "params")  # 10^15 params: no axis gets there alone
    assert [m.at_limit for m in beyond] == ["maximum"] * 4
    assert not any(m.to_row()["reachable"] for m in beyond)


def test_plan_rows_add_only_reachable() -> None:
    family = iso_complexity_family(get_preset("resnet50").architecture(), "cardinality", [8])
    assert list(family[0].to_row()) == [
        *("name", "axis", "depths", "width", "cardinality", "bottleneck_width", "group_width"),
        *("params", "flops", "activations", "rel_diff", "reachable"),
    ]

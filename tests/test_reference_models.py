"""The imagenet template is torchvision's ResNet/ResNeXt; the cifar template is the paper's ResNeXt-29.

Expected numbers are written out here. Parameter counts are torchvision's published ``num_params``;
FLOPs are derived below by per-layer arithmetic that follows torchvision's ``Bottleneck`` code (its
``width = int(planes * base_width / 64) * groups`` rule), independently of ``nas_resnext.shapes``.
"""

from __future__ import annotations

import pytest

from nas_resnext import count_analytic, count_fvcore, get_preset

# preset: (params published by torchvision, fvcore FLOPs derived by _torchvision_flops)
TORCHVISION = {
    "resnet50": (25_557_032, 4_111_512_576),
    "resnext50_32x4d": (25_028_904, 4_259_381_248),
    "resnext101_32x8d": (88_791_336, 16_476_534_784),
    "resnext101_64x4d": (83_455_272, 15_522_789_376),
}
TORCHVISION_CONFIG = {
    "resnet50": ((3, 4, 6, 3), 1, 64),
    "resnext50_32x4d": ((3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": ((3, 4, 23, 3), 32, 8),
    "resnext101_64x4d": ((3, 4, 23, 3), 64, 4),
}


def _torchvision_flops(layers: tuple[int, ...], groups: int, width_per_group: int) -> tuple[int, int]:
    """fvcore FLOPs and params of torchvision's ResNet at 224 px, 1000 classes, layer by layer."""
    flops = params = 0

    def conv(cin: int, cout: int, k: int, hw: int, g: int = 1) -> None:
        nonlocal flops, params
        params += cout * cin // g * k * k
        flops += cout * cin // g * k * k * hw * hw

    def bn(c: int, hw: int) -> None:
        nonlocal flops, params
        params += 2 * c
        flops += 2 * c * hw * hw  # fvcore: eval-mode batch-norm with affine = 2 per element

    conv(3, 64, 7, 112)
    bn(64, 112)
    inplanes, hw = 64, 56  # after the 3x3/2 max-pool, which fvcore does not count
    for i, blocks in enumerate(layers):
        planes = 64 * 2**i
        width = int(planes * (width_per_group / 64.0)) * groups
        for b in range(blocks):
            stride = 2 if (b == 0 and i > 0) else 1
            out_hw = hw // stride
            conv(inplanes, width, 1, hw)
            bn(width, hw)
            conv(width, width, 3, out_hw, groups)
            bn(width, out_hw)
            conv(width, planes * 4, 1, out_hw)
            bn(planes * 4, out_hw)
            if b == 0:
                conv(inplanes, planes * 4, 1, out_hw)
                bn(planes * 4, out_hw)
            inplanes, hw = planes * 4, out_hw
    flops += 2048 * 7 * 7  # adaptive average pool: one per input element
    flops += 2048 * 1000  # fc multiply-adds
    params += 2048 * 1000 + 1000
    return flops, params


@pytest.mark.parametrize("preset", list(TORCHVISION))
def test_expected_numbers_follow_from_torchvision_layers(preset: str) -> None:
    params, flops = TORCHVISION[preset]
    assert _torchvision_flops(*TORCHVISION_CONFIG[preset]) == (flops, params)


@pytest.mark.parametrize("preset", list(TORCHVISION))
def test_imagenet_template_matches_torchvision_exactly(preset: str) -> None:
    params, flops = TORCHVISION[preset]
    arch = get_preset(preset).architecture()
    analytic = count_analytic(arch)
    assert (analytic.params, analytic.flops) == (params, flops)
    reference = count_fvcore(arch)
    assert (reference.params, reference.flops) == (params, flops)


def test_resnext50_flops_is_the_documented_convention_number() -> None:
    assert count_analytic(get_preset("resnext50_32x4d").architecture()).flops == 4_259_381_248


@pytest.mark.parametrize(("preset", "paper_mparams"), [("resnext29_8x64d", 34.4), ("resnext29_16x64d", 68.1)])
def test_cifar_template_reproduces_paper_table7(preset: str, paper_mparams: float) -> None:
    arch = get_preset(preset).architecture()
    assert arch.layers == 29
    params = count_fvcore(arch).params
    assert abs(params / 1e6 - paper_mparams) < 0.1
    assert count_analytic(arch).params == params


def test_cifar_template_block_outputs_are_256_512_1024() -> None:
    from nas_resnext import build_model

    model = build_model(get_preset("resnext29_8x64d").architecture())
    outputs = [stage[-1].conv3.out_channels for stage in model.stages]
    assert outputs == [256, 512, 1024]
    assert model.conv1.kernel_size == (3, 3) and model.conv1.out_channels == 64

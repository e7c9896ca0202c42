"""The analytic counter equals fvcore exactly (FLOPs, params and activations), on random architectures of both
templates, on every preset at its own resolution and on draws from the shipped design spaces."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import torch

from nas_resnext import Architecture, ConfigError, build_model, count, count_analytic, count_fvcore
from nas_resnext.complexity import ACTIVATION_CONVENTION
from nas_resnext.presets import PRESETS
from nas_resnext.space import DesignSpace

SPACES = sorted(Path(__file__).resolve().parents[1].joinpath("search_spaces").glob("*.yaml"))


def _random_architectures(n: int, seed: int = 1234) -> list[Architecture]:
    rng = random.Random(seed)
    archs = []
    for i in range(n):
        template = "cifar" if i % 2 else "imagenet"
        stages = 3 if template == "cifar" else 4
        resolutions = [7, 8, 15, 16, 24, 32, 33] if template == "cifar" else [17, 32, 48, 64, 65, 97]
        archs.append(
            Architecture(
                template=template,
                depths=tuple(rng.randint(1, 3) for _ in range(stages)),
                width=rng.randint(1, 24),
                cardinality=rng.choice([1, 2, 3, 4, 8]),
                bottleneck_width=rng.randint(1, 8),
                stem_width=rng.choice([3, 8, 16, 24, 64]),
                num_classes=rng.choice([2, 7, 10, 100, 1000]),
                in_channels=rng.choice([1, 3, 4]),
                resolution=rng.choice(resolutions),
            )
        )
    return archs


RANDOM_ARCHS = _random_architectures(200)


@pytest.mark.parametrize("arch", RANDOM_ARCHS, ids=[a.name for a in RANDOM_ARCHS])
def test_analytic_equals_fvcore(arch: Architecture) -> None:
    assert count_analytic(arch) == count_fvcore(arch)


def test_random_set_covers_both_templates_and_odd_sizes() -> None:
    assert {a.template for a in RANDOM_ARCHS} == {"imagenet", "cifar"}
    assert any(a.resolution % 2 for a in RANDOM_ARCHS)
    assert len({a.name for a in RANDOM_ARCHS}) > 190


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_builds_runs_and_counts_consistently(preset: str) -> None:
    # Presets at a small resolution keep this quick; the counter is exact at every resolution.
    arch = PRESETS[preset].architecture(resolution=32, num_classes=5)
    model = build_model(arch).eval()
    with torch.no_grad():
        out = model(torch.randn(2, arch.in_channels, 32, 32))
    assert out.shape == (2, 5)
    assert count_analytic(arch) == count_fvcore(arch)


def test_params_are_trainable_parameters_of_the_built_model() -> None:
    arch = Architecture("cifar", (2, 1, 1), width=8, cardinality=4, bottleneck_width=2, stem_width=8)
    model = build_model(arch)
    assert count_analytic(arch).params == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_flops_grow_quadratically_with_resolution_except_the_classifier() -> None:
    base = Architecture("cifar", (1, 1, 1), width=4, cardinality=2, bottleneck_width=2, stem_width=4)
    small, large = count_analytic(base.replace(resolution=16)), count_analytic(base.replace(resolution=32))
    classifier = 4 * 4 * 4 * 10  # last block outputs 4 * width * 4 channels, 10 classes
    assert large.flops - classifier == 4 * (small.flops - classifier)
    assert large.params == small.params


def test_count_dispatches_on_method_and_rejects_unknown() -> None:
    arch = Architecture("cifar", (1, 1, 1), width=4, stem_width=4, resolution=8)
    assert count(arch, "analytic") == count(arch, "fvcore")
    with pytest.raises(ConfigError, match=re.escape("method: got 'torchinfo'; allowed: analytic | fvcore")):
        count(arch, "torchinfo")


# Every preset at its own resolution and classes (224 px / 1000 for imagenet): seconds each under fvcore.
@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_at_full_size_equals_fvcore(preset: str) -> None:
    arch = PRESETS[preset].architecture()
    assert count_analytic(arch) == count_fvcore(arch)


@pytest.mark.parametrize(
    ("preset", "activations"),
    [
        # pycls's model zoo lists 11.1M and 14.4M acts for R-50 and X-50-32x4d, 16.2M and 21.2M for R-101
        # and X-101-32x4d: the same convention.
        ("resnet50", 11_114_984),
        ("resnext50_32x4d", 14_401_512),
        ("resnet101", 16_232_936),
        ("resnext101_32x4d", 21_225_448),
        ("resnext29_8x64d", 8_585_226),
    ],
)
def test_activations_of_known_models(preset: str, activations: int) -> None:
    assert count_analytic(PRESETS[preset].architecture()).activations == activations


def _space_draws(path: Path, n: int, seed: int = 7) -> list[Architecture]:
    space = DesignSpace.from_file(path)
    rng = random.Random(seed)
    draws: list[Architecture] = []
    while len(draws) < n:
        arch = space.random_architecture(rng)
        if space.budget.admits(count_analytic(arch)):
            draws.append(arch)
    return draws


# A few in-budget draws of each shipped space; the cifar and imagenet ones take seconds each under fvcore.
SPACE_DRAWS = [
    pytest.param(
        arch, marks=[pytest.mark.slow] if path.stem != "digits_demo" else [], id=f"{path.stem}-{arch.name}"
    )
    for path in SPACES
    for arch in _space_draws(path, 4)
]


@pytest.mark.parametrize("arch", SPACE_DRAWS)
def test_draws_of_the_shipped_spaces_equal_fvcore(arch: Architecture) -> None:
    assert count_analytic(arch) == count_fvcore(arch)


def _conv_and_classifier_outputs(arch: Architecture) -> int:
    """Output elements of every Conv2d and Linear of the built model at batch 1, read by forward hooks."""
    model = build_model(arch).eval()
    counted: list[int] = []
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            module.register_forward_hook(lambda _module, _inputs, out: counted.append(out.numel()))
    with torch.no_grad():
        model(torch.zeros(1, arch.in_channels, arch.resolution, arch.resolution))
    return sum(counted)


@pytest.mark.parametrize("arch", RANDOM_ARCHS[:6], ids=[a.name for a in RANDOM_ARCHS[:6]])
def test_activations_are_the_outputs_of_every_conv_and_the_classifier(arch: Architecture) -> None:
    # The convention checked on the model itself, apart from fvcore: the stem's conv, each block's three and
    # its projection, and the classifier.
    assert count_analytic(arch).activations == _conv_and_classifier_outputs(arch)
    assert "output elements of every conv and the classifier" in ACTIVATION_CONVENTION


def test_activations_grow_along_every_axis() -> None:
    # The feasible sampler settles whole sub-spaces from their corners: activations, like FLOPs and
    # params, must not shrink when any axis grows.
    base = Architecture("cifar", (1, 1, 1), width=4, cardinality=2, bottleneck_width=2, stem_width=4)
    grown = [
        base.replace(depths=(1, 2, 1)),
        base.replace(width=5),
        base.replace(cardinality=3),
        base.replace(bottleneck_width=3),
    ]
    for arch in grown:
        assert count_analytic(arch).activations > count_analytic(base).activations, arch.name

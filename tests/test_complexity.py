"""The analytic counter equals fvcore exactly, on random architectures of both templates."""

from __future__ import annotations

import random
import re

import pytest
import torch

from nas_resnext import Architecture, ConfigError, build_model, count, count_analytic, count_fvcore
from nas_resnext.presets import PRESETS


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

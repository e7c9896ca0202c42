"""Architecture: validation messages, canonical names, round trips."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

from nas_resnext import Architecture, ConfigError, get_preset
from nas_resnext.presets import PRESETS


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"template": "mobilenet", "depths": (1, 1, 1)},
            "template: got 'mobilenet'; allowed: imagenet | cifar",
        ),
        (
            {"template": "cifar", "depths": (3, 4, 6, 3)},
            "depths: got [3, 4, 6, 3]; allowed: 3 stages for the cifar",
        ),
        ({"template": "imagenet", "depths": (3, 4, 6)}, "depths: got [3, 4, 6]; allowed: 4 stages"),
        ({"template": "cifar", "depths": (3, 0, 3)}, "depths[1]: got 0; allowed: an integer >= 1"),
        ({"template": "cifar", "depths": "3,3,3"}, "depths: got '3,3,3'; allowed: a list of 3 integers"),
        (
            {"template": "cifar", "depths": (3, 3, 3), "cardinality": 0},
            "cardinality: got 0; allowed: an integer >= 1",
        ),
        ({"template": "cifar", "depths": (3, 3, 3), "bottleneck_width": 1.5}, "bottleneck_width: got 1.5"),
        (
            {"template": "cifar", "depths": (3, 3, 3), "width": True},
            "width: got True; allowed: an integer >= 1",
        ),
        ({"template": "cifar", "depths": (3, 3, 3), "resolution": 0}, "resolution: got 0"),
        ({"template": "cifar", "depths": (3, 3, 3), "num_classes": -1}, "num_classes: got -1"),
        ({"template": "cifar", "depths": (3, 3, 3), "in_channels": "3"}, "in_channels: got '3'"),
    ],
)
def test_validation_names_field_value_and_allowed(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Architecture(**fields)
    assert str(info.value).startswith(message)


def test_defaults_follow_the_template() -> None:
    imagenet = Architecture("imagenet", (3, 4, 6, 3))
    cifar = Architecture("cifar", (3, 3, 3))
    assert (imagenet.resolution, imagenet.num_classes, imagenet.stem_width) == (224, 1000, 64)
    assert (cifar.resolution, cifar.num_classes, cifar.stem_width) == (32, 10, 64)


def test_whole_floats_are_accepted_as_integers() -> None:
    arch = Architecture("cifar", [3, 3, 3], cardinality=8.0, bottleneck_width=64)
    assert arch.cardinality == 8 and isinstance(arch.cardinality, int)
    assert arch.depths == (3, 3, 3)


def test_is_immutable_and_hashable() -> None:
    arch = Architecture("cifar", (3, 3, 3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        arch.width = 32  # type: ignore[misc]
    assert len({arch, Architecture("cifar", [3, 3, 3])}) == 1


@pytest.mark.parametrize(
    ("arch", "name"),
    [
        (Architecture("imagenet", (3, 4, 6, 3), cardinality=32, bottleneck_width=4), "X-50-32x4d"),
        (Architecture("imagenet", (3, 4, 23, 3), cardinality=32, bottleneck_width=8), "X-101-32x8d"),
        (Architecture("cifar", (3, 3, 3), cardinality=8, bottleneck_width=64), "X-29-8x64d"),
        (
            Architecture("imagenet", (2, 2, 2, 2), width=32, cardinality=4, bottleneck_width=8),
            "X-26-4x8d-w32",
        ),
        (Architecture("imagenet", (3, 4, 5, 4), cardinality=32, bottleneck_width=4), "X-50-32x4d-b3.4.5.4"),
        (Architecture("cifar", (1, 2, 3), cardinality=2, bottleneck_width=4), "X-20-2x4d-b1.2.3"),
        # 101 layers would read as ImageNet's ResNeXt-101, so uniform CIFAR depths spell themselves out.
        (Architecture("cifar", (11, 11, 11), cardinality=1, bottleneck_width=4), "X-101-1x4d-b11.11.11"),
        (
            Architecture(
                "cifar",
                (1, 1, 1),
                width=16,
                cardinality=4,
                bottleneck_width=4,
                stem_width=16,
                resolution=16,
                num_classes=100,
                in_channels=1,
            ),
            "X-11-4x4d-w16-s16-r16-k100-i1",
        ),
    ],
)
def test_canonical_names(arch: Architecture, name: str) -> None:
    assert arch.name == name
    assert Architecture.from_name(name) == arch


def _random_arch(rng: random.Random) -> Architecture:
    template = rng.choice(["imagenet", "cifar"])
    stages = 4 if template == "imagenet" else 3
    return Architecture(
        template=template,
        depths=tuple(rng.choice([1, 2, 3, 4, 6, 23]) for _ in range(stages)),
        width=rng.choice([16, 32, 64, 128]),
        cardinality=rng.choice([1, 2, 4, 32]),
        bottleneck_width=rng.choice([4, 8, 64]),
        stem_width=rng.choice([32, 64]),
        resolution=rng.choice([32, 224]),
        num_classes=rng.choice([10, 1000]),
        in_channels=rng.choice([1, 3]),
    )


def test_names_are_unique_per_architecture_and_parse_back() -> None:
    rng = random.Random(0)
    archs = {_random_arch(rng) for _ in range(3000)}
    names = {a.name for a in archs}
    assert len(names) == len(archs)
    for arch in archs:
        assert Architecture.from_name(arch.name) == arch


@pytest.mark.parametrize("name", ["X-50-32x4d-w64", "X-51-32x4d", "resnext50", "X-50-32x4d-b3.4.6.3"])
def test_non_canonical_names_are_rejected(name: str) -> None:
    with pytest.raises(ConfigError, match="name: got"):
        Architecture.from_name(name)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_dict_and_json_round_trip(preset: str) -> None:
    arch = get_preset(preset).architecture()
    assert Architecture.from_dict(arch.to_dict()) == arch
    assert Architecture.from_json(arch.to_json()) == arch


def test_from_dict_rejects_unknown_and_missing_fields() -> None:
    with pytest.raises(ConfigError, match="groups: got 32; allowed: one of the fields template"):
        Architecture.from_dict({"template": "cifar", "depths": [3, 3, 3], "groups": 32})
    with pytest.raises(ConfigError, match="depths: got None; allowed: a required field"):
        Architecture.from_dict({"template": "cifar"})
    with pytest.raises(ConfigError, match=re.escape("architecture: got '{not json'")):
        Architecture.from_json("{not json")


def test_presets_reject_unknown_names() -> None:
    with pytest.raises(ConfigError, match="preset: got 'resnext50'; allowed: resnet50,"):
        get_preset("resnext50")


def test_group_width_and_layers() -> None:
    arch = get_preset("resnext50_32x4d").architecture()
    assert (arch.group_width, arch.layers) == (128, 50)

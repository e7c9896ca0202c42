"""Named architectures as data. Any command that takes an architecture accepts ``--preset NAME``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nas_resnext.architecture import Architecture
from nas_resnext.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    name: str
    fields: dict[str, Any]
    source: str

    def architecture(self, **overrides: Any) -> Architecture:
        return Architecture(**{**self.fields, **overrides})


def _imagenet(depths: tuple[int, ...], cardinality: int, d: int) -> dict[str, Any]:
    return {"template": "imagenet", "depths": depths, "cardinality": cardinality, "bottleneck_width": d}


_R50, _R101, _R152 = (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("resnet50", _imagenet(_R50, 1, 64), "torchvision resnet50"),
        Preset("resnet101", _imagenet(_R101, 1, 64), "torchvision resnet101"),
        Preset("resnet152", _imagenet(_R152, 1, 64), "torchvision resnet152"),
        Preset("wide_resnet50_2", _imagenet(_R50, 1, 128), "torchvision wide_resnet50_2"),
        Preset("resnext50_32x4d", _imagenet(_R50, 32, 4), "torchvision resnext50_32x4d; paper Table 1"),
        Preset("resnext50_2x40d", _imagenet(_R50, 2, 40), "paper Table 2"),
        Preset("resnext50_4x24d", _imagenet(_R50, 4, 24), "paper Table 2"),
        Preset("resnext50_8x14d", _imagenet(_R50, 8, 14), "paper Table 2"),
        Preset("resnext101_32x4d", _imagenet(_R101, 32, 4), "paper Table 3"),
        Preset("resnext101_32x8d", _imagenet(_R101, 32, 8), "torchvision resnext101_32x8d"),
        Preset("resnext101_64x4d", _imagenet(_R101, 64, 4), "torchvision resnext101_64x4d; paper Table 5"),
        Preset("resnext101_2x64d", _imagenet(_R101, 2, 64), "paper Table 4"),
        Preset(
            "resnext29_8x64d",
            {"template": "cifar", "depths": (3, 3, 3), "cardinality": 8, "bottleneck_width": 64},
            "paper Table 7 (34.4M params)",
        ),
        Preset(
            "resnext29_16x64d",
            {"template": "cifar", "depths": (3, 3, 3), "cardinality": 16, "bottleneck_width": 64},
            "paper Table 7 (68.1M params)",
        ),
    ]
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ConfigError("preset", name, ", ".join(PRESETS))
    return PRESETS[name]

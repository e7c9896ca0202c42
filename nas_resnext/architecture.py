"""The immutable description of one ResNeXt: template, the four axes, and its input/output settings.

The four axes (see the README): ``depths`` (blocks per stage), ``width`` (stage-1 "planes"; a stage-``i``
block outputs ``4 * width * 2**i`` channels), ``cardinality`` C (groups of the 3x3 conv) and
``bottleneck_width`` d (channels per group in stage 1; a stage-``i`` group holds ``d * 2**i``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nas_resnext.errors import ConfigError


@dataclass(frozen=True)
class Template:
    """Data for one network template: stem, stage strides and defaults. Shapes follow from it."""

    name: str
    stem_kernel: int
    stem_stride: int
    stem_pool: bool
    stage_strides: tuple[int, ...]
    default_resolution: int
    default_num_classes: int
    # Depth patterns whose names need no explicit "-b" suffix, keyed by layer count.
    named_depths: Mapping[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def num_stages(self) -> int:
        return len(self.stage_strides)


TEMPLATES: dict[str, Template] = {
    # torchvision's ResNet/ResNeXt: 7x7/2 stem, 3x3/2 max-pool, four stages.
    "imagenet": Template(
        name="imagenet",
        stem_kernel=7,
        stem_stride=2,
        stem_pool=True,
        stage_strides=(1, 2, 2, 2),
        default_resolution=224,
        default_num_classes=1000,
        named_depths={
            26: (2, 2, 2, 2),
            50: (3, 4, 6, 3),
            101: (3, 4, 23, 3),
            152: (3, 8, 36, 3),
            200: (3, 24, 36, 3),
        },
    ),
    # The paper's CIFAR ResNeXt (ResNeXt-29): 3x3 stem, three stages at 32/16/8 px.
    "cifar": Template(
        name="cifar",
        stem_kernel=3,
        stem_stride=1,
        stem_pool=False,
        stage_strides=(1, 2, 2),
        default_resolution=32,
        default_num_classes=10,
    ),
}

DEFAULT_WIDTH = 64
DEFAULT_STEM_WIDTH = 64
DEFAULT_IN_CHANNELS = 3
AXES = ("depth", "width", "cardinality", "bottleneck_width")

_NAME_RE = re.compile(
    r"^X-(?P<layers>\d+)-(?P<c>\d+)x(?P<d>\d+)d"
    r"(?:-w(?P<w>\d+))?(?:-b(?P<b>\d+(?:\.\d+)*))?(?:-s(?P<s>\d+))?"
    r"(?:-r(?P<r>\d+))?(?:-k(?P<k>\d+))?(?:-i(?P<i>\d+))?$"
)


def _require_int(name: str, value: Any, minimum: int = 1) -> int:
    # bool is an int subclass; True as a width is a typo, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(name, value, f"an integer >= {minimum}")
    if value < minimum:
        raise ConfigError(name, value, f"an integer >= {minimum}")
    return value


@dataclass(frozen=True)
class Architecture:
    """One ResNeXt. Validated on construction; ``resolution``/``num_classes`` default per template."""

    template: str
    depths: tuple[int, ...]
    width: int = DEFAULT_WIDTH
    cardinality: int = 1
    bottleneck_width: int = 64
    stem_width: int = DEFAULT_STEM_WIDTH
    num_classes: int | None = None
    in_channels: int = DEFAULT_IN_CHANNELS
    resolution: int | None = None

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ConfigError("template", self.template, " | ".join(TEMPLATES))
        spec = TEMPLATES[self.template]
        depths = self.depths
        if isinstance(depths, (str, bytes)) or not isinstance(depths, (list, tuple)):
            raise ConfigError("depths", depths, f"a list of {spec.num_stages} integers >= 1")
        if len(depths) != spec.num_stages:
            raise ConfigError(
                "depths",
                list(depths),
                f"{spec.num_stages} stages for the {spec.name} template (blocks per stage, each >= 1)",
            )
        depths = tuple(_require_int(f"depths[{i}]", v) for i, v in enumerate(depths))
        values = {
            "depths": depths,
            "width": _require_int("width", self.width),
            "cardinality": _require_int("cardinality", self.cardinality),
            # d is channels per group; a fractional d would make C*d not divisible by C, which a grouped
            # convolution cannot have, so d must be whole.
            "bottleneck_width": _require_int("bottleneck_width", self.bottleneck_width),
            "stem_width": _require_int("stem_width", self.stem_width),
            "in_channels": _require_int("in_channels", self.in_channels),
            "num_classes": _require_int(
                "num_classes", spec.default_num_classes if self.num_classes is None else self.num_classes
            ),
            "resolution": _require_int(
                "resolution", spec.default_resolution if self.resolution is None else self.resolution
            ),
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    # -- derived ---------------------------------------------------------------------------------

    @property
    def spec(self) -> Template:
        return TEMPLATES[self.template]

    @property
    def layers(self) -> int:
        """Weighted layers as the paper counts them: 3 per bottleneck block, plus stem conv and classifier."""
        return 3 * sum(self.depths) + 2

    @property
    def group_width(self) -> int:
        """Width of the grouped 3x3 convolution in stage 1: C * d."""
        return self.cardinality * self.bottleneck_width

    @property
    def name(self) -> str:
        """Canonical name, e.g. ``X-50-32x4d``; distinct architectures always get distinct names.

        Suffixes appear only where a field differs from its default: ``-w`` width, ``-b`` depths (when not
        the template's usual pattern for that layer count), ``-s`` stem width, ``-r`` resolution,
        ``-k`` classes, ``-i`` input channels.
        """
        spec = self.spec
        parts = [f"X-{self.layers}-{self.cardinality}x{self.bottleneck_width}d"]
        if self.width != DEFAULT_WIDTH:
            parts.append(f"w{self.width}")
        if not _depths_are_named(spec, self.depths):
            parts.append("b" + ".".join(str(d) for d in self.depths))
        if self.stem_width != DEFAULT_STEM_WIDTH:
            parts.append(f"s{self.stem_width}")
        if self.resolution != spec.default_resolution:
            parts.append(f"r{self.resolution}")
        if self.num_classes != spec.default_num_classes:
            parts.append(f"k{self.num_classes}")
        if self.in_channels != DEFAULT_IN_CHANNELS:
            parts.append(f"i{self.in_channels}")
        return "-".join(parts)

    # -- conversions -----------------------------------------------------------------------------

    def replace(self, **changes: Any) -> Architecture:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["depths"] = list(self.depths)
        return data

    def axis_values(self) -> dict[str, Any]:
        """The four axes and the group width C*d: the columns every table of architectures shows."""
        return {
            "depths": list(self.depths),
            "width": self.width,
            "cardinality": self.cardinality,
            "bottleneck_width": self.bottleneck_width,
            "group_width": self.group_width,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        if not isinstance(data, Mapping):
            raise ConfigError("architecture", data, "a mapping of architecture fields")
        allowed = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in allowed:
                raise ConfigError(str(key), data[key], "one of the fields " + ", ".join(allowed))
        if "template" not in data or "depths" not in data:
            missing = "template" if "template" not in data else "depths"
            raise ConfigError(missing, None, "a required field")
        return cls(**dict(data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("architecture", text[:60], f"valid JSON ({exc.msg})") from None
        return cls.from_dict(data)

    @classmethod
    def from_name(cls, name: str) -> Architecture:
        """Parse a canonical name back into the architecture it names."""
        match = _NAME_RE.match(name)
        allowed = "a canonical name such as X-50-32x4d or X-29-8x64d-w32"
        if not match:
            raise ConfigError("name", name, allowed)
        layers = int(match["layers"])
        if match["b"]:
            depths = tuple(int(v) for v in match["b"].split("."))
            template = next((t for t in TEMPLATES.values() if t.num_stages == len(depths)), None)
        else:
            template, depths = _named_depths_for(layers)
        if template is None or depths is None or 3 * sum(depths) + 2 != layers:
            raise ConfigError("name", name, allowed)
        fields: dict[str, Any] = {
            "template": template.name,
            "depths": depths,
            "cardinality": int(match["c"]),
            "bottleneck_width": int(match["d"]),
        }
        for key, group in (
            ("width", "w"),
            ("stem_width", "s"),
            ("resolution", "r"),
            ("num_classes", "k"),
            ("in_channels", "i"),
        ):
            if match[group]:
                fields[key] = int(match[group])
        arch = cls(**fields)
        if arch.name != name:  # e.g. a redundant suffix such as "-w64"
            raise ConfigError("name", name, f"the canonical spelling {arch.name}")
        return arch


def _is_cifar_named_layers(layers: int) -> bool:
    # Uniform CIFAR depths (n, n, n) give 9n + 2 layers; skip counts that already name an ImageNet model.
    return (layers - 2) % 9 == 0 and layers > 2 and layers not in TEMPLATES["imagenet"].named_depths


def _depths_are_named(spec: Template, depths: tuple[int, ...]) -> bool:
    layers = 3 * sum(depths) + 2
    if spec.named_depths:
        return spec.named_depths.get(layers) == depths
    # Uniform stages (ResNeXt-29 = 3,3,3) are the CIFAR family's usual pattern, unless the layer count
    # would read as an ImageNet name.
    return len(set(depths)) == 1 and _is_cifar_named_layers(layers)


def _named_depths_for(layers: int) -> tuple[Template | None, tuple[int, ...] | None]:
    imagenet = TEMPLATES["imagenet"]
    if layers in imagenet.named_depths:
        return imagenet, imagenet.named_depths[layers]
    if _is_cifar_named_layers(layers):
        cifar = TEMPLATES["cifar"]
        return cifar, ((layers - 2) // 9,) * cifar.num_stages
    return None, None

"""Training settings shared by the design-space file (``training:``), the CLI and the trainer."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas_resnext.errors import ConfigError

SCHEDULES = ("cosine", "step")
DEVICES = ("auto", "cpu", "cuda")
AUTOTUNE = ("off", "on")
# Where a training setting can come from, highest precedence first: a command-line flag, the design-space
# file's ``training:``, the data set's recommendations (``DatasetInfo.recommended_training``), TrainSettings.
SOURCES = ("flag", "file", "dataset", "default")


@dataclass(frozen=True)
class TrainSettings:
    """How one candidate is trained. The defaults suit short CIFAR training; a data set may recommend others
    (``DatasetInfo.recommended_training``), which the CLI and space files apply (``layered_settings``)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: int = 0
    step_milestones: tuple[int, ...] = ()  # epochs at which "step" multiplies lr by step_gamma
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    val_fraction: float = 0.1  # held out of the training split, stratified and seeded
    seed: int = 0
    device: str = "auto"
    compile: bool = False
    autotune: str = "off"  # cuDNN autotuning on CUDA (measured: no gain for the shipped spaces' models)
    init: str | None = None  # a state-dict file the weights start from (see nas_resnext.weights)

    def __post_init__(self) -> None:
        def check(name: str, ok: bool, allowed: str) -> None:
            if not ok:
                raise ConfigError(name, getattr(self, name), allowed)

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        check("epochs", is_int(self.epochs) and self.epochs >= 1, "an integer >= 1")
        check("batch_size", is_int(self.batch_size) and self.batch_size >= 1, "an integer >= 1")
        check("lr", is_number(self.lr) and self.lr > 0, "a number > 0")
        check("momentum", is_number(self.momentum) and 0 <= self.momentum < 1, "a number in [0, 1)")
        check("nesterov", isinstance(self.nesterov, bool), "true | false")
        check("weight_decay", is_number(self.weight_decay) and self.weight_decay >= 0, "a number >= 0")
        check("schedule", self.schedule in SCHEDULES, " | ".join(SCHEDULES))
        check("warmup_epochs", is_int(self.warmup_epochs) and self.warmup_epochs >= 0, "an integer >= 0")
        milestones = self.step_milestones
        check(
            "step_milestones",
            isinstance(milestones, (list, tuple)) and all(is_int(m) and m >= 1 for m in milestones),
            "a list of epochs >= 1",
        )
        object.__setattr__(self, "step_milestones", tuple(sorted(milestones)))
        check("step_gamma", is_number(self.step_gamma) and 0 < self.step_gamma <= 1, "a number in (0, 1]")
        check(
            "label_smoothing",
            is_number(self.label_smoothing) and 0 <= self.label_smoothing < 1,
            "a number in [0, 1)",
        )
        check(
            "val_fraction", is_number(self.val_fraction) and 0 < self.val_fraction < 1, "a number in (0, 1)"
        )
        check("seed", is_int(self.seed) and self.seed >= 0, "an integer >= 0")
        check("device", self.device in DEVICES, " | ".join(DEVICES))
        check("compile", isinstance(self.compile, bool), "true | false")
        if isinstance(self.autotune, bool):  # YAML 1.1 reads a bare on / off as a boolean
            object.__setattr__(self, "autotune", "on" if self.autotune else "off")
        check("autotune", self.autotune in AUTOTUNE, " | ".join(AUTOTUNE))
        check(
            "init",
            self.init is None or (isinstance(self.init, str) and bool(self.init.strip())),
            "a path to a state-dict file (.pt, .pth, .bin, .safetensors) or null",
        )

    def replace(self, **changes: Any) -> TrainSettings:
        """A validated copy; ``None`` values are ignored (an unset CLI flag keeps the file's value)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["step_milestones"] = list(self.step_milestones)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainSettings:
        if not isinstance(data, Mapping):
            raise ConfigError("training", data, "a mapping of training settings")
        allowed = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in allowed:
                raise ConfigError(str(key), data[key], "one of " + ", ".join(allowed))
        values = dict(data)
        float_fields = {f.name for f in dataclasses.fields(cls) if f.type == "float"}
        for key in float_fields & values.keys():
            # YAML 1.1 reads "5e-4" (no dot) as a string; accept it as the number it plainly is.
            if isinstance(values[key], str):
                try:
                    values[key] = float(values[key])
                except ValueError:
                    raise ConfigError(key, values[key], "a number") from None
        return cls(**values)


def layered_settings(
    layers: Sequence[tuple[str, Mapping[str, Any]]],
) -> tuple[TrainSettings, dict[str, str]]:
    """TrainSettings from ``layers`` of field values, highest precedence first (e.g. ``[("flag", ...),
    ("dataset", ...)]``), ``TrainSettings()``'s defaults filling the fields no layer sets; and where each
    field's value came from (a layer's name, or ``"default"``). Each layer is validated on its own, so an
    error names a field of the layer that holds the bad value."""
    values: dict[str, Any] = {}
    sources = {f.name: "default" for f in dataclasses.fields(TrainSettings)}
    for source, layer in reversed(layers):  # lowest precedence first: later layers overwrite
        checked = TrainSettings.from_dict(layer)
        for key in layer:
            values[key] = getattr(checked, key)
            sources[key] = source
    return TrainSettings(**values), sources

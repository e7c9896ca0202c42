"""Design spaces: a YAML file of axis ranges, budgets, objectives and training settings.

Loading validates everything up front; every error names the file, the key (dotted path) and what is
allowed. See the README for the schema and ``search_spaces/`` for commented examples.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nas_resnext.architecture import DEFAULT_IN_CHANNELS, DEFAULT_STEM_WIDTH, TEMPLATES, Architecture
from nas_resnext.complexity import Complexity, count_analytic
from nas_resnext.data.catalog import get_dataset
from nas_resnext.errors import ConfigError
from nas_resnext.settings import TrainSettings, layered_settings

DATASETS = ("digits", "cifar10", "cifar100", "imagefolder", "synthetic")
COSTS = ("flops", "params", "activations", "latency_ms")
SAMPLERS = ("tpe", "rung-tpe", "nsga2", "random", "qmc", "grid")
SCHEDULERS = ("fifo", "asha", "moasha")
# moasha: how results of one front are ordered at a rung (see nas_resnext.search.ranking)
SELECTIONS = ("crowding", "hypervolume", "epsnet")
# moasha: where a result on its rung's Pareto front goes on beyond the top-1/eta quota
FRONT_GRACES = ("filling", "upper", "all", "none")
TOP_LEVEL_KEYS = (
    "name",
    "description",
    "template",
    "resolution",
    "num_classes",
    "in_channels",
    "stem_width",
    "dataset",
    "data_dir",
    "axes",
    "budget",
    "objectives",
    "training",
    "search",
)
AXIS_KEYS = ("depth", "depths", "width", "cardinality", "bottleneck_width")
_EXACT_SUMMARY_LIMIT = 50_000  # spaces up to this size are enumerated; larger ones are sampled
_SUMMARY_SAMPLES = 20_000


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class AxisRange:
    """The values one axis may take: explicit ``choices``, or an integer range ``low..high`` (``step``,
    or ``log``-uniform sampling)."""

    values: tuple[int, ...]
    low: int | None = None
    high: int | None = None
    step: int = 1
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @classmethod
    def parse(cls, spec: Any, key: str) -> AxisRange:
        choices_allowed = "an integer >= 1, a list of them, {choices: [...]} or {low, high[, step][, log]}"
        if _is_int(spec):
            spec = {"choices": [spec]}
        elif isinstance(spec, list):
            spec = {"choices": spec}
        if not isinstance(spec, Mapping):
            raise ConfigError(key, spec, choices_allowed)
        if "choices" in spec:
            extra = set(spec) - {"choices"}
            if extra:
                raise ConfigError(
                    f"{key}.{sorted(extra)[0]}", spec[sorted(extra)[0]], "nothing beside choices"
                )
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{key}.choices", choices, "a non-empty list of integers >= 1")
            for i, value in enumerate(choices):
                if not _is_int(value) or value < 1:
                    raise ConfigError(f"{key}.choices[{i}]", value, "an integer >= 1")
            if len(set(choices)) != len(choices):
                raise ConfigError(f"{key}.choices", choices, "distinct values")
            return cls(values=tuple(sorted(choices)))
        unknown = set(spec) - {"low", "high", "step", "log"}
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(f"{key}.{name}", spec[name], "choices, or low, high, step, log")
        for bound in ("low", "high"):
            if bound not in spec:
                raise ConfigError(f"{key}.{bound}", None, "a required integer >= 1 (or use choices)")
            if not _is_int(spec[bound]) or spec[bound] < 1:
                raise ConfigError(f"{key}.{bound}", spec[bound], "an integer >= 1")
        low, high = spec["low"], spec["high"]
        step, log = spec.get("step", 1), spec.get("log", False)
        if high < low:
            raise ConfigError(f"{key}.high", high, f"an integer >= low ({low})")
        if not _is_int(step) or step < 1:
            raise ConfigError(f"{key}.step", step, "an integer >= 1")
        if not isinstance(log, bool):
            raise ConfigError(f"{key}.log", log, "true | false")
        if log and step != 1:
            raise ConfigError(f"{key}.step", step, "1 when log is true (log sampling has no step)")
        if (high - low) % step:
            raise ConfigError(f"{key}.high", high, f"low + a multiple of step ({low} + k*{step})")
        return cls(values=tuple(range(low, high + 1, step)), low=low, high=high, step=step, log=log)

    def to_spec(self) -> Any:
        if self.is_range:
            spec: dict[str, Any] = {"low": self.low, "high": self.high}
            if self.step != 1:
                spec["step"] = self.step
            if self.log:
                spec["log"] = True
            return spec
        return {"choices": list(self.values)}


# The keys a budget may hold, each in the unit it names (GFLOPs, millions of params or activations).
BUDGET_KEYS = (
    "max_gflops",
    "min_gflops",
    "max_mparams",
    "max_mactivations",
    "min_mactivations",
)
# Lower and upper limit of the same measure: the lower may not exceed the upper.
_BUDGET_PAIRS = (("min_gflops", "max_gflops"), ("min_mactivations", "max_mactivations"))


@dataclass(frozen=True)
class Budget:
    """Hard complexity limits; ``None`` means unbounded. Activations are in millions (conv and classifier
    outputs, batch 1; see ``nas_resnext.complexity``)."""

    max_gflops: float | None = None
    min_gflops: float | None = None
    max_mparams: float | None = None
    max_mactivations: float | None = None
    min_mactivations: float | None = None

    def exceeds(self, complexity: Complexity) -> bool:
        """Whether ``complexity`` is over one of the upper limits."""
        return (
            (self.max_gflops is not None and complexity.flops > self.max_gflops * 1e9)
            or (self.max_mparams is not None and complexity.params > self.max_mparams * 1e6)
            or (self.max_mactivations is not None and complexity.activations > self.max_mactivations * 1e6)
        )

    def falls_short(self, complexity: Complexity) -> bool:
        """Whether ``complexity`` is under one of the lower limits."""
        return (self.min_gflops is not None and complexity.flops < self.min_gflops * 1e9) or (
            self.min_mactivations is not None and complexity.activations < self.min_mactivations * 1e6
        )

    def admits(self, complexity: Complexity) -> bool:
        return not self.exceeds(complexity) and not self.falls_short(complexity)

    @property
    def bounds_activations(self) -> bool:
        return self.max_mactivations is not None or self.min_mactivations is not None

    def describe(self) -> str:
        parts = []
        if self.min_gflops is not None:
            parts.append(f"GFLOPs >= {self.min_gflops:g}")
        if self.max_gflops is not None:
            parts.append(f"GFLOPs <= {self.max_gflops:g}")
        if self.max_mparams is not None:
            parts.append(f"Mparams <= {self.max_mparams:g}")
        if self.min_mactivations is not None:
            parts.append(f"Mactivations >= {self.min_mactivations:g}")
        if self.max_mactivations is not None:
            parts.append(f"Mactivations <= {self.max_mactivations:g}")
        return ", ".join(parts) or "none"

    @classmethod
    def parse(cls, spec: Any) -> Budget:
        if spec is None:
            return cls()
        if not isinstance(spec, Mapping):
            raise ConfigError("budget", spec, "a mapping with " + ", ".join(BUDGET_KEYS))
        values: dict[str, float] = {}
        for key, value in spec.items():
            if key not in BUDGET_KEYS:
                raise ConfigError(f"budget.{key}", value, ", ".join(BUDGET_KEYS))
            if value is None:
                continue
            lower = key.startswith("min_")
            if not _is_number(value) or value < 0 or (not lower and value == 0):
                raise ConfigError(f"budget.{key}", value, "a number >= 0" if lower else "a number > 0")
            values[key] = float(value)
        budget = cls(**values)
        for low_key, high_key in _BUDGET_PAIRS:
            low, high = getattr(budget, low_key), getattr(budget, high_key)
            if low is not None and high is not None and low > high:
                raise ConfigError(f"budget.{low_key}", spec[low_key], f"a number <= {high_key} ({high:g})")
        return budget

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class SearchSettings:
    trials: int = 20
    sampler: str = "tpe"
    scheduler: str = "fifo"
    seed: int = 0

    @classmethod
    def parse(cls, spec: Any) -> SearchSettings:
        if spec is None:
            return cls()
        if not isinstance(spec, Mapping):
            raise ConfigError("search", spec, "a mapping with trials, sampler, scheduler, seed")
        for key, value in spec.items():
            if key == "trials" and not (_is_int(value) and value >= 1):
                raise ConfigError("search.trials", value, "an integer >= 1")
            elif key == "seed" and not (_is_int(value) and value >= 0):
                raise ConfigError("search.seed", value, "an integer >= 0")
            elif key == "sampler" and value not in SAMPLERS:
                raise ConfigError("search.sampler", value, " | ".join(SAMPLERS))
            elif key == "scheduler" and value not in SCHEDULERS:
                raise ConfigError("search.scheduler", value, " | ".join(SCHEDULERS))
            elif key not in ("trials", "sampler", "scheduler", "seed"):
                raise ConfigError(f"search.{key}", value, "trials, sampler, scheduler, seed")
        return cls(**dict(spec))


def _parse_objectives(spec: Any) -> tuple[str, ...]:
    allowed = f"[val_accuracy, then one or two of {', '.join(COSTS)}]"
    if spec is None:
        return ("val_accuracy", "flops")
    if not isinstance(spec, list) or not 2 <= len(spec) <= 3 or spec[0] != "val_accuracy":
        raise ConfigError("objectives", spec, allowed)
    for i, cost in enumerate(spec[1:], start=1):
        if cost not in COSTS:
            raise ConfigError(f"objectives[{i}]", cost, " | ".join(COSTS))
    if len(set(spec)) != len(spec):
        raise ConfigError("objectives", spec, "distinct objectives")
    return tuple(spec)


@dataclass(frozen=True)
class SpaceSummary:
    size: int
    smallest: Architecture
    largest: Architecture
    smallest_complexity: Complexity
    largest_complexity: Complexity
    within_budget: float  # fraction of the space inside the budget
    exact: bool  # False: the fraction was estimated from a uniform sample
    evaluated: int


@dataclass(frozen=True)
class DesignSpace:
    """A validated design space. ``depths`` holds one AxisRange per stage (shared ranges are repeated)."""

    name: str
    template: str
    depths: tuple[AxisRange, ...]
    width: AxisRange
    cardinality: AxisRange
    bottleneck_width: AxisRange
    shared_depth: bool = True
    resolution: int | None = None
    num_classes: int | None = None
    in_channels: int = DEFAULT_IN_CHANNELS
    stem_width: int = DEFAULT_STEM_WIDTH
    dataset: str = "digits"
    data_dir: str | None = None
    budget: Budget = field(default_factory=Budget)
    objectives: tuple[str, ...] = ("val_accuracy", "flops")
    training: TrainSettings = field(default_factory=TrainSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    description: str = ""
    source: str | None = None
    # The training fields the file left out and its data set's recommendations set (the rest: the file's own
    # keys, or TrainSettings' defaults). Provenance only: a resolved space written back holds every key.
    training_from_dataset: tuple[str, ...] = field(default=(), compare=False)
    # The training fields the file sets itself (for a resolved space written back: every field).
    training_from_file: tuple[str, ...] = field(default=(), compare=False)

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, *, check_init: bool = True) -> DesignSpace:
        """Load and validate the space file ``path``. A relative ``training.init`` is read from the file's
        folder and stored absolute (run directories keep the resolved space); ``check_init=False`` skips
        checking that it exists, for reading a finished run whose weights file may have moved."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigError("space", str(path), "an existing YAML design-space file")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "the file"
            problem = getattr(exc, "problem", None) or "syntax error"
            raise ConfigError(where, problem, "valid YAML", source=str(path)) from None
        space = cls.from_dict(data, source=str(path), default_name=path.stem)
        return space._with_init_resolved(path.parent, check_init, source=str(path))

    def _with_init_resolved(self, folder: Path, check: bool, source: str) -> DesignSpace:
        init = self.training.init
        if init is None:
            return self
        resolved = (folder / Path(init).expanduser()).resolve()
        if check and not resolved.is_file():
            raise ConfigError(
                "training.init",
                init,
                "an existing state-dict file (.pt, .pth, .bin, .safetensors); a relative path is read "
                "from the space file's folder",
                source=source,
            )
        return replace(self, training=self.training.replace(init=str(resolved)))

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None, default_name: str = "space") -> DesignSpace:
        try:
            return cls._from_dict(data, default_name)
        except ConfigError as error:
            if source is None or error.source:
                raise
            raise error.within(source) from None

    @classmethod
    def _from_dict(cls, data: Any, default_name: str) -> DesignSpace:
        if not isinstance(data, Mapping):
            raise ConfigError("(top level)", data, "a mapping of " + ", ".join(TOP_LEVEL_KEYS))
        for key in data:
            if key not in TOP_LEVEL_KEYS:
                raise ConfigError(str(key), data[key], "one of the keys " + ", ".join(TOP_LEVEL_KEYS))
        template = data.get("template")
        if template not in TEMPLATES:
            raise ConfigError("template", template, " | ".join(TEMPLATES))
        num_stages = TEMPLATES[template].num_stages

        axes = data.get("axes")
        if not isinstance(axes, Mapping):
            raise ConfigError("axes", axes, "a mapping of " + ", ".join(AXIS_KEYS))
        for key in axes:
            if key not in AXIS_KEYS:
                raise ConfigError(f"axes.{key}", axes[key], "one of " + ", ".join(AXIS_KEYS))
        if ("depth" in axes) == ("depths" in axes):
            raise ConfigError(
                "axes.depth",
                axes.get("depth"),
                "exactly one of depth (shared by all stages) or depths (per stage)",
            )
        if "depth" in axes:
            shared = AxisRange.parse(axes["depth"], "axes.depth")
            depths, shared_depth = (shared,) * num_stages, True
        else:
            per_stage = axes["depths"]
            if not isinstance(per_stage, list) or len(per_stage) != num_stages:
                raise ConfigError(
                    "axes.depths", per_stage, f"a list of {num_stages} ranges, one per stage of {template}"
                )
            depths = tuple(AxisRange.parse(s, f"axes.depths[{i}]") for i, s in enumerate(per_stage))
            shared_depth = False
        ranges = {}
        for axis in ("width", "cardinality", "bottleneck_width"):
            if axis not in axes:
                raise ConfigError(f"axes.{axis}", None, "a required range or list of choices")
            ranges[axis] = AxisRange.parse(axes[axis], f"axes.{axis}")

        dataset = data.get("dataset", "digits")
        if dataset not in DATASETS:
            raise ConfigError("dataset", dataset, " | ".join(DATASETS))
        data_dir = data.get("data_dir")
        if data_dir is not None and not isinstance(data_dir, str):
            raise ConfigError("data_dir", data_dir, "a path (string) or null")
        name = data.get("name", default_name)
        if not isinstance(name, str) or not name.strip() or "/" in name:
            raise ConfigError("name", name, "a non-empty string without '/'")
        training = data.get("training") or {}
        try:  # the file's keys win over the data set's recommendations, which win over TrainSettings'
            train_settings, sources = layered_settings(
                [("file", training), ("dataset", get_dataset(dataset).recommended_training)]
            )
        except ConfigError as error:
            raise ConfigError(f"training.{error.field}", error.value, error.allowed) from None

        space = cls(
            name=name,
            description=str(data.get("description", "")),
            template=template,
            depths=depths,
            shared_depth=shared_depth,
            resolution=data.get("resolution"),
            num_classes=data.get("num_classes"),
            in_channels=data.get("in_channels", DEFAULT_IN_CHANNELS),
            stem_width=data.get("stem_width", DEFAULT_STEM_WIDTH),
            dataset=dataset,
            data_dir=data_dir,
            budget=Budget.parse(data.get("budget")),
            objectives=_parse_objectives(data.get("objectives")),
            training=train_settings,
            training_from_dataset=tuple(name for name, source in sources.items() if source == "dataset"),
            training_from_file=tuple(name for name, source in sources.items() if source == "file"),
            search=SearchSettings.parse(data.get("search")),
            **ranges,
        )
        # The fixed fields (resolution, classes, channels, stem) are validated by building one architecture.
        space.smallest()
        return space

    def training_for(self, dataset: str) -> TrainSettings:
        """The training settings this space gives on ``dataset`` instead of its own: the file's own keys
        over ``dataset``'s recommendations over TrainSettings' defaults (``--dataset`` on a space file)."""
        if dataset == self.dataset:
            return self.training
        own = self.file_training()
        return layered_settings([("file", own), ("dataset", get_dataset(dataset).recommended_training)])[0]

    def file_training(self) -> dict[str, Any]:
        """The training keys the file sets itself, with their values."""
        return {name: self.training.to_dict()[name] for name in self.training_from_file}

    # -- the space -------------------------------------------------------------------------------

    @property
    def axis_ranges(self) -> dict[str, AxisRange]:
        return {
            "width": self.width,
            "cardinality": self.cardinality,
            "bottleneck_width": self.bottleneck_width,
        }

    @property
    def size(self) -> int:
        depth_count = (
            len(self.depths[0].values) if self.shared_depth else math.prod(len(d.values) for d in self.depths)
        )
        return depth_count * math.prod(len(r.values) for r in self.axis_ranges.values())

    def architecture(
        self, depths: Sequence[int], width: int, cardinality: int, bottleneck_width: int
    ) -> Architecture:
        """The architecture at one point of the space (the fixed fields come from the space)."""
        return Architecture(
            template=self.template,
            depths=tuple(depths),
            width=width,
            cardinality=cardinality,
            bottleneck_width=bottleneck_width,
            stem_width=self.stem_width,
            num_classes=self.num_classes,
            in_channels=self.in_channels,
            resolution=self.resolution,
        )

    def _depth_choices(self) -> list[tuple[int, ...]]:
        if self.shared_depth:
            return [(d,) * len(self.depths) for d in self.depths[0].values]
        return list(itertools.product(*(d.values for d in self.depths)))

    def architectures(self) -> Iterator[Architecture]:
        """Every architecture of the space (use ``size`` first: spaces can be large)."""
        for depths in self._depth_choices():
            for width, cardinality, d in itertools.product(*(r.values for r in self.axis_ranges.values())):
                yield self.architecture(depths, width, cardinality, d)

    def smallest(self) -> Architecture:
        # Complexity grows with every axis, so the all-minimum corner is the cheapest architecture.
        depths = [d.values[0] for d in self.depths]
        return self.architecture(depths, *(r.values[0] for r in self.axis_ranges.values()))

    def largest(self) -> Architecture:
        depths = [d.values[-1] for d in self.depths]
        return self.architecture(depths, *(r.values[-1] for r in self.axis_ranges.values()))

    def reference_architecture(self, **overrides: Any) -> Architecture:
        """The space's reference architecture, where a trade-off study on it starts: the middle value of
        each axis (the lower middle of an even count) and the space's fixed fields. ``overrides`` replace
        any field (``None`` ones are ignored); resolution and classes the space leaves open follow the
        template."""

        def middle(values: tuple[int, ...]) -> int:
            return values[(len(values) - 1) // 2]

        fields: dict[str, Any] = {
            "template": self.template,
            "depths": tuple(middle(d.values) for d in self.depths),
            "width": middle(self.width.values),
            "cardinality": middle(self.cardinality.values),
            "bottleneck_width": middle(self.bottleneck_width.values),
            "stem_width": self.stem_width,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "resolution": self.resolution,
        }
        fields.update((name, value) for name, value in overrides.items() if value is not None)
        return Architecture(**fields)

    def random_architecture(self, rng: random.Random) -> Architecture:
        if self.shared_depth:
            depths = (rng.choice(self.depths[0].values),) * len(self.depths)
        else:
            depths = tuple(rng.choice(d.values) for d in self.depths)
        return self.architecture(depths, *(rng.choice(r.values) for r in self.axis_ranges.values()))

    def summary(self, seed: int = 0) -> SpaceSummary:
        """Size, complexity range and the fraction within budget (exact, or sampled for large spaces)."""
        if self.size <= _EXACT_SUMMARY_LIMIT:
            archs: Iterator[Architecture] = self.architectures()
            exact = True
        else:
            rng = random.Random(seed)
            archs = (self.random_architecture(rng) for _ in range(_SUMMARY_SAMPLES))
            exact = False
        evaluated = admitted = 0
        for arch in archs:
            evaluated += 1
            admitted += self.budget.admits(count_analytic(arch))
        smallest, largest = self.smallest(), self.largest()
        return SpaceSummary(
            size=self.size,
            smallest=smallest,
            largest=largest,
            smallest_complexity=count_analytic(smallest),
            largest_complexity=count_analytic(largest),
            within_budget=admitted / evaluated,
            exact=exact,
            evaluated=evaluated,
        )

    def to_dict(self) -> dict[str, Any]:
        """The resolved space as plain data (what a run directory stores); loads back with from_dict."""
        axes: dict[str, Any] = {}
        if self.shared_depth:
            axes["depth"] = self.depths[0].to_spec()
        else:
            axes["depths"] = [d.to_spec() for d in self.depths]
        axes.update({name: r.to_spec() for name, r in self.axis_ranges.items()})
        smallest = self.smallest()
        return {
            "name": self.name,
            "description": self.description,
            "template": self.template,
            "resolution": smallest.resolution,
            "num_classes": smallest.num_classes,
            "in_channels": self.in_channels,
            "stem_width": self.stem_width,
            "dataset": self.dataset,
            "data_dir": self.data_dir,
            "axes": axes,
            "budget": self.budget.to_dict(),
            "objectives": list(self.objectives),
            "training": self.training.to_dict(),
            "search": vars(self.search).copy(),
        }

"""nas_resnext: design-space exploration and architecture search for ResNeXt.

Every public name is loaded on first use, so ``import nas_resnext`` (and the command line's light commands)
import neither torch nor anything else heavy until a name that needs it is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas_resnext.lazy import lazy_namespace

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time the names load lazily
    from nas_resnext.architecture import AXES, TEMPLATES, Architecture
    from nas_resnext.complexity import Complexity, count, count_analytic, count_fvcore
    from nas_resnext.data import DATASETS, TrainingData, load_dataset
    from nas_resnext.errors import ConfigError
    from nas_resnext.export.bundle import ExportResult, export_model, load_model
    from nas_resnext.isocomplexity import FamilyMember, iso_complexity_family, solve_axis, spending_plan
    from nas_resnext.latency import Latency, architecture_latency, measure_latency
    from nas_resnext.model import build_model
    from nas_resnext.presets import PRESETS, get_preset
    from nas_resnext.settings import TrainSettings
    from nas_resnext.space import DesignSpace
    from nas_resnext.training import EpochMetrics, StopTraining, TrainResult, train_candidate

_LAZY_EXPORTS = {
    "AXES": "nas_resnext.architecture",
    "TEMPLATES": "nas_resnext.architecture",
    "Architecture": "nas_resnext.architecture",
    "Complexity": "nas_resnext.complexity",
    "count": "nas_resnext.complexity",
    "count_analytic": "nas_resnext.complexity",
    "count_fvcore": "nas_resnext.complexity",
    "DATASETS": "nas_resnext.data.catalog",
    "TrainingData": "nas_resnext.data.datasets",
    "load_dataset": "nas_resnext.data.registry",
    "ConfigError": "nas_resnext.errors",
    "ExportResult": "nas_resnext.export.bundle",
    "export_model": "nas_resnext.export.bundle",
    "load_model": "nas_resnext.export.bundle",
    "FamilyMember": "nas_resnext.isocomplexity",
    "iso_complexity_family": "nas_resnext.isocomplexity",
    "solve_axis": "nas_resnext.isocomplexity",
    "spending_plan": "nas_resnext.isocomplexity",
    "Latency": "nas_resnext.latency",
    "architecture_latency": "nas_resnext.latency",
    "measure_latency": "nas_resnext.latency",
    "build_model": "nas_resnext.model",
    "PRESETS": "nas_resnext.presets",
    "get_preset": "nas_resnext.presets",
    "TrainSettings": "nas_resnext.settings",
    "DesignSpace": "nas_resnext.space",
    "EpochMetrics": "nas_resnext.training",
    "StopTraining": "nas_resnext.training",
    "TrainResult": "nas_resnext.training",
    "train_candidate": "nas_resnext.training",
}

__all__ = [
    "AXES",
    "DATASETS",
    "PRESETS",
    "TEMPLATES",
    "Architecture",
    "Complexity",
    "ConfigError",
    "DesignSpace",
    "EpochMetrics",
    "ExportResult",
    "FamilyMember",
    "Latency",
    "StopTraining",
    "TrainResult",
    "TrainSettings",
    "TrainingData",
    "architecture_latency",
    "build_model",
    "count",
    "count_analytic",
    "count_fvcore",
    "export_model",
    "get_preset",
    "iso_complexity_family",
    "load_dataset",
    "load_model",
    "measure_latency",
    "solve_axis",
    "spending_plan",
    "train_candidate",
]
__version__ = "0.1.0"


__getattr__, __dir__ = lazy_namespace(__name__, _LAZY_EXPORTS)

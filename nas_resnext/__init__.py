"""nas_resnext: design-space exploration and architecture search for ResNeXt."""

from nas_resnext.architecture import AXES, TEMPLATES, Architecture
from nas_resnext.complexity import Complexity, count, count_analytic, count_fvcore
from nas_resnext.data import DATASETS, TrainingData, load_dataset
from nas_resnext.errors import ConfigError
from nas_resnext.isocomplexity import FamilyMember, iso_complexity_family, solve_axis, spending_plan
from nas_resnext.latency import Latency, architecture_latency, measure_latency
from nas_resnext.model import build_model
from nas_resnext.presets import PRESETS, get_preset
from nas_resnext.settings import TrainSettings
from nas_resnext.space import DesignSpace
from nas_resnext.training import EpochMetrics, StopTraining, TrainResult, train_candidate

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
    "get_preset",
    "iso_complexity_family",
    "load_dataset",
    "measure_latency",
    "solve_axis",
    "spending_plan",
    "train_candidate",
]
__version__ = "0.1.0"

"""nas_resnext: design-space exploration and architecture search for ResNeXt."""

from nas_resnext.architecture import AXES, TEMPLATES, Architecture
from nas_resnext.complexity import Complexity, count, count_analytic, count_fvcore
from nas_resnext.errors import ConfigError
from nas_resnext.isocomplexity import FamilyMember, iso_complexity_family, solve_axis, spending_plan
from nas_resnext.model import build_model
from nas_resnext.presets import PRESETS, get_preset
from nas_resnext.settings import TrainSettings

__all__ = [
    "AXES",
    "PRESETS",
    "TEMPLATES",
    "Architecture",
    "Complexity",
    "ConfigError",
    "FamilyMember",
    "TrainSettings",
    "build_model",
    "count",
    "count_analytic",
    "count_fvcore",
    "get_preset",
    "iso_complexity_family",
    "solve_axis",
    "spending_plan",
]
__version__ = "0.1.0"

"""Exporting trained models as self-describing model directories, and loading them back.

``bundle.py`` writes and reads a model directory (the only module that knows its file names), ``card.py``
words its model card and preprocessing, ``formats.py`` writes and checks TorchScript and ONNX, ``from_run.py``
exports a run's kept weights (one trial, or the Pareto front). Names load on first use: importing the
package imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas_resnext.lazy import lazy_namespace

if TYPE_CHECKING:
    from nas_resnext.export.bundle import (
        FORMATS,
        ExportResult,
        export_model,
        load_model,
        parse_formats,
        read_architecture,
        read_preprocessing,
    )
    from nas_resnext.export.formats import ExportCheckError
    from nas_resnext.export.from_run import export_front, export_trial, front_trials

_LAZY_EXPORTS = {
    "FORMATS": "nas_resnext.export.bundle",
    "ExportResult": "nas_resnext.export.bundle",
    "export_model": "nas_resnext.export.bundle",
    "load_model": "nas_resnext.export.bundle",
    "parse_formats": "nas_resnext.export.bundle",
    "read_architecture": "nas_resnext.export.bundle",
    "read_preprocessing": "nas_resnext.export.bundle",
    "ExportCheckError": "nas_resnext.export.formats",
    "export_front": "nas_resnext.export.from_run",
    "export_trial": "nas_resnext.export.from_run",
    "front_trials": "nas_resnext.export.from_run",
}

__all__ = [
    "FORMATS",
    "ExportCheckError",
    "ExportResult",
    "export_front",
    "export_model",
    "export_trial",
    "front_trials",
    "load_model",
    "parse_formats",
    "read_architecture",
    "read_preprocessing",
]

__getattr__, __dir__ = lazy_namespace(__name__, _LAZY_EXPORTS)

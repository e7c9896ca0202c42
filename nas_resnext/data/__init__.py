"""Data sets for candidate training and the trainer's on-device input pipeline.

The catalogue (``DATASETS``, ``get_dataset``) and the checks import no torch; the readers and the pipeline
do, so every name is loaded on first use.
"""

from __future__ import annotations

from nas_resnext.lazy import lazy_namespace

_LAZY_EXPORTS = {
    "DATASETS": "nas_resnext.data.catalog",
    "Augmentation": "nas_resnext.data.catalog",
    "DatasetInfo": "nas_resnext.data.catalog",
    "get_dataset": "nas_resnext.data.catalog",
    "check_architecture_fits": "nas_resnext.data.check",
    "check_data_source": "nas_resnext.data.check",
    "Split": "nas_resnext.data.datasets",
    "TrainingData": "nas_resnext.data.datasets",
    "DeviceBatches": "nas_resnext.data.pipeline",
    "augment": "nas_resnext.data.pipeline",
    "random_crop": "nas_resnext.data.pipeline",
    "random_flip": "nas_resnext.data.pipeline",
    "as_training_data": "nas_resnext.data.registry",
    "load_dataset": "nas_resnext.data.registry",
}
__all__ = sorted(_LAZY_EXPORTS)


__getattr__, __dir__ = lazy_namespace(__name__, _LAZY_EXPORTS)

"""Data sets for candidate training and the trainer's on-device input pipeline."""

from nas_resnext.data.datasets import Augmentation, DatasetInfo, Split, TrainingData
from nas_resnext.data.pipeline import DeviceBatches, augment, random_crop, random_flip
from nas_resnext.data.registry import DATASETS, as_training_data, get_dataset, load_dataset

__all__ = [
    "DATASETS",
    "Augmentation",
    "DatasetInfo",
    "DeviceBatches",
    "Split",
    "TrainingData",
    "as_training_data",
    "augment",
    "get_dataset",
    "load_dataset",
    "random_crop",
    "random_flip",
]

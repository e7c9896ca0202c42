"""The data a candidate trains on: tensors of the train and validation splits, and what they hold."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from nas_resnext.architecture import Architecture
from nas_resnext.data.catalog import Augmentation
from nas_resnext.data.check import require_fields


@dataclass(frozen=True)
class Split:
    """Images (float32, N x C x H x W, normalised) and their labels (int64, N)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True)
class TrainingData:
    """A loaded data set. ``val`` is held out of the training split (stratified, seeded) and is what
    candidates are scored on; ``test`` is the data set's official test split, loaded only on request and never
    used to select a candidate."""

    name: str
    train: Split
    val: Split
    num_classes: int
    in_channels: int
    resolution: int
    augmentation: Augmentation
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test: Split | None = None

    def architecture_fields(self) -> dict[str, int]:
        """The Architecture fields the data fixes: ``in_channels``, ``num_classes``, ``resolution``."""
        return {
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "resolution": self.resolution,
        }

    def check_architecture(self, arch: Architecture) -> None:
        """Raise ConfigError when ``arch`` cannot take this data's images or predict its classes."""
        require_fields(arch, self.architecture_fields(), self.name)


@dataclass(frozen=True)
class LoadRequest:
    """What a reader is asked for. ``in_channels``, ``num_classes``, ``num_samples``: synthetic data only."""

    data_dir: Path | None
    resolution: int
    include_test: bool
    seed: int = 0
    num_samples: int = 1024
    in_channels: int = 3
    num_classes: int = 10


@dataclass(frozen=True)
class Decoded:
    """A reader's output: float32 images in [0, 1] at the requested resolution, int64 labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    num_classes: int
    test_images: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None

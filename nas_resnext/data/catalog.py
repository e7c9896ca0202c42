"""The catalogue of data sets: what each one holds and how its files lie on disk.

Plain data, without torch, so that flag choices, defaults and checks cost nothing to import; the readers
that decode the files live in ``nas_resnext.data.registry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nas_resnext.errors import ConfigError

CIFAR_PIXELS = 3 * 32 * 32  # one 32x32 RGB image, stored plane by plane


@dataclass(frozen=True)
class Augmentation:
    """Training-time augmentation, applied on the training device: random crop after zero padding, flip."""

    crop_padding: int = 0
    flip: bool = False


@dataclass(frozen=True)
class CifarLayout:
    """The files of one CIFAR variant in the standard python-pickle layout."""

    folder: str
    train_files: tuple[str, ...]
    test_file: str
    label_key: str
    num_classes: int

    def describe(self) -> str:
        files = ", ".join((*self.train_files, self.test_file))
        return (
            f"a directory holding {self.folder}/ (or that folder itself) "
            f"with the python-pickle files {files}, "
            f"each a dict with b'data' (uint8, N x {CIFAR_PIXELS}) and b'{self.label_key}'"
        )


CIFAR10 = CifarLayout(
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    label_key="labels",
    num_classes=10,
)
CIFAR100 = CifarLayout(
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    label_key="fine_labels",
    num_classes=100,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp")
IMAGEFOLDER_LAYOUT = (
    "a directory with train/<class>/<image> (and val/<class>/<image>, the test split) holding "
    + "|".join(IMAGE_SUFFIXES)
    + " files; one sub-folder per class"
)


@dataclass(frozen=True)
class DatasetInfo:
    """One registered data set. ``None`` for channels/classes means the files (or the request) decide."""

    name: str
    description: str
    layout: str | None = None  # the expected on-disk layout; None when nothing is read from disk
    in_channels: int | None = None
    num_classes: int | None = None
    default_resolution: int | None = None  # None: the architecture template's default
    augmentation: Augmentation = Augmentation()
    # TrainSettings fields this data set trains well with: they replace TrainSettings' defaults, and give way
    # to a design-space file's ``training:`` keys and to command-line flags (nas_resnext.settings.SOURCES).
    recommended_training: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def needs_data_dir(self) -> bool:
        return self.layout is not None


# The usual short CIFAR recipe for ResNe(X)ts: SGD with Nesterov momentum, batch 128, peak rate 0.1 annealed
# by a cosine, weight decay 5e-4.
CIFAR_TRAINING = {
    "epochs": 10,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 5e-4,
    "schedule": "cosine",
}

# Measured on the digits with `nas-resnext train` (README, "Data sets"): the trainer's defaults (batch 128,
# lr 0.1, 10 epochs: ten steps an epoch on 1,293 training images) reach 90% with the README's X-11-4x4d-w16
# and 92% with the default X-29-1x64d; batch 32, peak rate 0.2 and weight decay 1e-3 reach 98-100% in 8
# epochs. The warm-up epoch keeps the deep default model stable at that rate (77% without it).
DIGITS_TRAINING = {
    "epochs": 8,
    "batch_size": 32,
    "lr": 0.2,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 1e-3,
    "schedule": "cosine",
    "warmup_epochs": 1,
}

DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            name="digits",
            description="scikit-learn's 1,797 handwritten 8x8 digits, upsampled (embedded, no download): "
            "1,438 to train and validate on, a fixed 359 held out as the test split",
            in_channels=1,
            num_classes=10,
            default_resolution=16,
            # None: on 1,600 centred digits, random shifts slow the short schedules a search runs more than
            # they help (8 epochs: 98% plain against 89% with one-pixel shifts), and a flip changes the digit.
            augmentation=Augmentation(),
            recommended_training=DIGITS_TRAINING,
        ),
        DatasetInfo(
            name="cifar10",
            description="CIFAR-10 (50,000 train / 10,000 test 32x32 RGB, 10 classes) from --data-dir",
            layout=CIFAR10.describe(),
            in_channels=3,
            num_classes=10,
            default_resolution=32,
            augmentation=Augmentation(crop_padding=4, flip=True),
            recommended_training=CIFAR_TRAINING,
        ),
        DatasetInfo(
            name="cifar100",
            description="CIFAR-100 (50,000 train / 10,000 test 32x32 RGB, 100 fine classes) from --data-dir",
            layout=CIFAR100.describe(),
            in_channels=3,
            num_classes=100,
            default_resolution=32,
            augmentation=Augmentation(crop_padding=4, flip=True),
            recommended_training=CIFAR_TRAINING,
        ),
        DatasetInfo(
            name="imagefolder",
            description="RGB images in class folders (train/, val/) from --data-dir, decoded with Pillow",
            layout=IMAGEFOLDER_LAYOUT,
            in_channels=3,
            augmentation=Augmentation(crop_padding=0, flip=True),
        ),
        DatasetInfo(
            name="synthetic",
            description="random learnable images of any shape and class count (tests, benchmarks)",
        ),
    ]
}

DEFAULT_DATASET = "digits"  # what train, tradeoff and a space file use when no data set is named
FALLBACK_RESOLUTION = 32  # for a data set and request that leave the resolution open


def get_dataset(name: str) -> DatasetInfo:
    """The catalogue entry of ``name``; an unknown name is a ConfigError listing the known ones."""
    if name not in DATASETS:
        raise ConfigError("dataset", name, " | ".join(DATASETS))
    return DATASETS[name]

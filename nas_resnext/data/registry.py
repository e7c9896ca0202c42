"""The data sets' readers and ``load_dataset``: read one, hold out the validation split, normalise."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from nas_resnext.data.catalog import FALLBACK_RESOLUTION, Augmentation, get_dataset
from nas_resnext.data.cifar import read_cifar10, read_cifar100
from nas_resnext.data.datasets import Decoded, LoadRequest, Split, TrainingData
from nas_resnext.data.digits import read_digits
from nas_resnext.data.imagefolder import read_imagefolder
from nas_resnext.data.prepare import channel_statistics, normalize, stratified_split
from nas_resnext.data.synthetic import read_synthetic
from nas_resnext.errors import ConfigError
from nas_resnext.settings import TrainSettings

# How each catalogued data set is decoded (the catalogue itself says what it holds).
READERS: dict[str, Callable[[LoadRequest], Decoded]] = {
    "digits": read_digits,
    "cifar10": read_cifar10,
    "cifar100": read_cifar100,
    "imagefolder": read_imagefolder,
    "synthetic": read_synthetic,
}


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    resolution: int | None = None,
    settings: TrainSettings | None = None,
    *,
    include_test: bool = False,
    hold_out_validation: bool = True,
    num_samples: int = 1024,
    in_channels: int = 3,
    num_classes: int = 10,
) -> TrainingData:
    """Read data set ``name`` into normalised in-memory tensors with a held-out validation split.

    ``settings.val_fraction`` of every class of the training split is held out for validation, chosen by
    ``settings.seed``; the normalisation statistics come from the remaining training images alone. The
    official test split is read only with ``include_test``. ``hold_out_validation=False`` keeps every
    training image for training (a final training; the validation split is then empty). ``num_samples``,
    ``in_channels`` and ``num_classes`` shape the ``synthetic`` set and are ignored by the others. Bad names,
    missing or malformed directories raise ConfigError naming the path and the expected layout; nothing is
    downloaded.
    """
    info = get_dataset(name)
    settings = settings or TrainSettings()
    resolution = resolution or info.default_resolution or FALLBACK_RESOLUTION
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ConfigError("resolution", resolution, "an integer >= 1")
    if info.needs_data_dir and data_dir is None:
        raise ConfigError("data_dir", None, f"a path for the {name} data set: {info.layout}")
    if name == "synthetic":
        for field, value, minimum in (
            ("num_samples", num_samples, 2),
            ("in_channels", in_channels, 1),
            ("num_classes", num_classes, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(field, value, f"an integer >= {minimum}")
    request = LoadRequest(
        data_dir=Path(data_dir).expanduser() if data_dir is not None else None,
        resolution=resolution,
        include_test=include_test,
        seed=settings.seed,
        num_samples=num_samples,
        in_channels=in_channels,
        num_classes=num_classes,
    )
    decoded = READERS[info.name](request)
    return prepare(info.name, decoded, settings, resolution, info.augmentation, hold_out_validation)


def prepare(
    name: str,
    decoded: Decoded,
    settings: TrainSettings,
    resolution: int,
    augmentation: Augmentation,
    hold_out_validation: bool = True,
) -> TrainingData:
    """Hold out the validation split (unless told not to) and normalise every split with the training
    images' statistics."""
    if hold_out_validation:
        train_index, val_index = stratified_split(decoded.train_labels, settings.val_fraction, settings.seed)
    else:
        train_index = torch.arange(len(decoded.train_labels))
        val_index = torch.zeros(0, dtype=torch.int64)
    if len(train_index) == 0 or (hold_out_validation and len(val_index) == 0):
        raise ConfigError(
            "val_fraction",
            settings.val_fraction,
            f"a fraction leaving images on both sides of {name}'s split",
        )
    train_images = decoded.train_images[train_index]
    mean, std = channel_statistics(train_images)
    train = Split(normalize(train_images, mean, std), decoded.train_labels[train_index])
    val = Split(normalize(decoded.train_images[val_index], mean, std), decoded.train_labels[val_index])
    test = None
    if decoded.test_images is not None and decoded.test_labels is not None:
        test = Split(normalize(decoded.test_images, mean, std), decoded.test_labels)
    return TrainingData(
        name=name,
        train=train,
        val=val,
        num_classes=decoded.num_classes,
        in_channels=int(train.images.shape[1]),
        resolution=resolution,
        augmentation=augmentation,
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
        test=test,
    )


def as_training_data(
    name: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: TrainSettings | None = None,
    augmentation: Augmentation | None = None,
) -> TrainingData:
    """Wrap tensors already in memory (float N x C x R x R, int labels) as a data set, split and normalised
    the same way as a registered one."""
    if images.ndim != 4 or images.shape[-1] != images.shape[-2] or len(images) != len(labels):
        raise ConfigError("images", tuple(images.shape), "a float tensor N x C x R x R with N labels")
    labels = labels.to(torch.int64)
    decoded = Decoded(images.to(torch.float32), labels, num_classes=int(labels.max()) + 1)
    return prepare(
        name, decoded, settings or TrainSettings(), int(images.shape[-1]), augmentation or Augmentation()
    )

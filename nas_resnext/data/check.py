"""Cheap checks before anything is trained: the architecture fits the data set, the files are laid out right.

Nothing here decodes data or imports torch at module level, so the command line can check its input first.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from nas_resnext.data.catalog import get_dataset
from nas_resnext.errors import ConfigError

if TYPE_CHECKING:
    from nas_resnext.architecture import Architecture


def require_fields(arch: Architecture, wanted: Mapping[str, int | None], dataset: str) -> None:
    """Raise ConfigError(field, value, allowed) for the first field of ``arch`` that differs from ``wanted``
    (``None``: the data set leaves that field open)."""
    for name, value in wanted.items():
        if value is not None and getattr(arch, name) != value:
            raise ConfigError(name, getattr(arch, name), f"{value} (what the {dataset} data set holds)")


def check_architecture_fits(dataset: str, arch: Architecture) -> None:
    """Raise ConfigError naming ``in_channels`` or ``num_classes`` when ``arch`` cannot take the images
    of data set ``dataset`` or predict its classes (as the catalogue knows them; no file is read)."""
    info = get_dataset(dataset)
    require_fields(arch, {"in_channels": info.in_channels, "num_classes": info.num_classes}, info.name)


def check_data_source(name: str, data_dir: str | Path | None) -> None:
    """Raise ConfigError (naming the path and the expected layout) if ``name`` cannot be read from
    ``data_dir``. Reads directory listings only, so it is instant even for a large image folder."""
    from nas_resnext.data.catalog import CIFAR10, CIFAR100
    from nas_resnext.data.cifar import find_cifar_folder
    from nas_resnext.data.imagefolder import list_images

    info = get_dataset(name)
    if not info.needs_data_dir:
        return
    if data_dir is None:
        raise ConfigError("data_dir", None, f"a path for the {name} data set: {info.layout}")
    path = Path(data_dir).expanduser()
    if name in ("cifar10", "cifar100"):
        layout = CIFAR10 if name == "cifar10" else CIFAR100
        folder = find_cifar_folder(path, layout)
        for file in layout.train_files:
            if not (folder / file).is_file():
                raise ConfigError("data_dir", str(path), f"{layout.describe()} (this path has no {file})")
    elif name == "imagefolder":
        list_images(path / "train")

"""A cheap look at a data source before a search starts: the layout is right, without decoding it."""

from __future__ import annotations

from pathlib import Path

from nas_resnext.errors import ConfigError


def check_data_source(name: str, data_dir: str | Path | None) -> None:
    """Raise ConfigError (naming the path and the expected layout) if ``name`` cannot be read from
    ``data_dir``. Reads directory listings only, so it is instant even for a large image folder."""
    from nas_resnext.data.cifar import CIFAR10, CIFAR100, find_cifar_folder
    from nas_resnext.data.imagefolder import list_images
    from nas_resnext.data.registry import get_dataset

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

"""CIFAR-10 and CIFAR-100 from a local directory in the standard python-pickle layout. Nothing is downloaded.

Each file is a pickled dict with ``b"data"`` (uint8, N x 3072: the red, green, then blue planes of a 32x32
image, row-major) and ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from nas_resnext.data.catalog import CIFAR10, CIFAR100, CIFAR_PIXELS, CifarLayout
from nas_resnext.data.datasets import Decoded, LoadRequest
from nas_resnext.data.prepare import resize, to_unit_float
from nas_resnext.errors import ConfigError


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a data file must not be able to run code."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core"):  # files written by numpy 1.x name its old module path
            module = "numpy._core" + module[len("numpy.core") :] if hasattr(np, "_core") else module
        return super().find_class(module, name)


def find_cifar_folder(data_dir: Path, layout: CifarLayout) -> Path:
    """The folder holding the batch files: ``data_dir/<folder>`` or ``data_dir`` itself."""
    for candidate in (data_dir / layout.folder, data_dir):
        if (candidate / layout.train_files[0]).is_file():
            return candidate
    reason = "does not exist" if not data_dir.exists() else f"has no {layout.folder}/{layout.train_files[0]}"
    raise ConfigError("data_dir", str(data_dir), f"{layout.describe()} (this path {reason})")


def read_cifar_file(path: Path, layout: CifarLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch file as (uint8 images N x 3 x 32 x 32, int64 labels N); a malformed file is a ConfigError."""

    def bad(reason: str) -> ConfigError:
        return ConfigError("data_dir", str(path), f"{layout.describe()}; this file {reason}")

    if not path.is_file():
        raise bad("is missing")
    try:
        with path.open("rb") as handle:
            content = _ArrayUnpickler(handle, encoding="bytes").load()
    except Exception as error:  # truncated files, foreign pickles, not a pickle at all
        raise bad(f"is not a readable CIFAR pickle ({type(error).__name__}: {error})") from None
    if not isinstance(content, dict):
        raise bad(f"holds a {type(content).__name__}, not a dict")
    # Python 2 pickles (the official files) have bytes keys; re-pickled copies may have str keys.
    content = {key.decode() if isinstance(key, bytes) else key: value for key, value in content.items()}
    data, labels = content.get("data"), content.get(layout.label_key)
    if data is None or labels is None:
        raise bad(f"lacks b'data' or b'{layout.label_key}' (keys: {sorted(map(str, content))})")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_PIXELS:
        raise bad(f"has b'data' of dtype {data.dtype} and shape {data.shape}")
    labels = np.asarray(labels)
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise bad(f"has {labels.shape[0] if labels.ndim else 0} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= layout.num_classes):
        raise bad(f"has labels outside 0..{layout.num_classes - 1}")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return images, torch.from_numpy(labels.astype(np.int64))


def _read_files(
    folder: Path, names: tuple[str, ...], layout: CifarLayout
) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [read_cifar_file(folder / name, layout) for name in names]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def read_cifar(request: LoadRequest, layout: CifarLayout) -> Decoded:
    if request.data_dir is None:
        raise ConfigError("data_dir", None, layout.describe())
    folder = find_cifar_folder(Path(request.data_dir), layout)
    images, labels = _read_files(folder, layout.train_files, layout)
    test_images = test_labels = None
    if request.include_test:
        raw_test, test_labels = _read_files(folder, (layout.test_file,), layout)
        test_images = resize(to_unit_float(raw_test), request.resolution)
    return Decoded(
        resize(to_unit_float(images), request.resolution),
        labels,
        layout.num_classes,
        test_images,
        test_labels,
    )


def read_cifar10(request: LoadRequest) -> Decoded:
    return read_cifar(request, CIFAR10)


def read_cifar100(request: LoadRequest) -> Decoded:
    return read_cifar(request, CIFAR100)

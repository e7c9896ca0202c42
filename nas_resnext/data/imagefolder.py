"""Class folders of image files, decoded with Pillow (the ``images`` extra) into in-memory tensors.

Layout: ``DIR/train/<class>/<image>`` (and ``DIR/val/<class>/<image>``, read as the test split, on request).
Each image is converted to RGB, centre-cropped to a square and resized to the requested resolution.
torch and numpy are imported only where images are decoded, so listing classes stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nas_resnext.data.catalog import IMAGE_SUFFIXES
from nas_resnext.data.catalog import IMAGEFOLDER_LAYOUT as LAYOUT
from nas_resnext.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from nas_resnext.data.datasets import Decoded, LoadRequest


def _bad(path: Path, reason: str) -> ConfigError:
    return ConfigError("data_dir", str(path), f"{LAYOUT} (this path {reason})")


def class_folders(split_dir: Path) -> list[str]:
    """The class folders of one split (``DIR/train``), sorted; a missing or empty split is a ConfigError."""
    if not split_dir.is_dir():
        raise _bad(split_dir, "does not exist" if not split_dir.exists() else "is not a directory")
    found = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise _bad(split_dir, "has no class folders")
    return found


def count_classes(data_dir: str | Path) -> int | None:
    """Classes of the image folder at ``data_dir``, from its ``train/`` folder names (a directory listing,
    no decoding); None when they cannot be listed (reading or checking the data then says why)."""
    try:
        return len(class_folders(Path(data_dir).expanduser() / "train"))
    except ConfigError:
        return None


def list_images(
    split_dir: Path, classes: list[str] | None = None
) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted folder names, or ``classes`` to match a training split) and (file, label) pairs."""
    found = class_folders(split_dir)
    if classes is not None and not set(found) <= set(classes):
        raise _bad(split_dir, f"has classes {sorted(set(found) - set(classes))} that train/ lacks")
    classes = classes if classes is not None else found
    samples: list[tuple[Path, int]] = []
    for name in found:
        files = sorted(
            p for p in (split_dir / name).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise _bad(split_dir / name, "holds no images")
        label = classes.index(name)
        samples.extend((path, label) for path in files)
    return classes, samples


def decode_images(samples: list[tuple[Path, int]], resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode, centre-crop and resize every file: (float32 N x 3 x R x R in [0, 1], int64 labels)."""
    import numpy as np
    import torch

    from nas_resnext.data.prepare import to_unit_float

    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise ConfigError(
            "dataset", "imagefolder", "installed Pillow for image folders: pip install 'nas-resnext[images]'"
        ) from None
    images = np.empty((len(samples), resolution, resolution, 3), dtype=np.uint8)
    for i, (path, _) in enumerate(samples):
        try:
            with Image.open(path) as image:
                fitted = ImageOps.fit(
                    image.convert("RGB"), (resolution, resolution), Image.Resampling.BILINEAR
                )
                images[i] = np.asarray(fitted)
        except OSError as error:  # PIL raises OSError subclasses for unreadable or truncated files
            raise _bad(path, f"is not a readable image ({error})") from None
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    return to_unit_float(tensor), labels


def read_imagefolder(request: LoadRequest) -> Decoded:
    from nas_resnext.data.datasets import Decoded

    if request.data_dir is None:
        raise ConfigError("data_dir", None, LAYOUT)
    root = Path(request.data_dir)
    if not root.is_dir():
        raise _bad(root, "does not exist" if not root.exists() else "is not a directory")
    classes, samples = list_images(root / "train")
    images, labels = decode_images(samples, request.resolution)
    test_images = test_labels = None
    if request.include_test:
        _, test_samples = list_images(root / "val", classes)
        test_images, test_labels = decode_images(test_samples, request.resolution)
    return Decoded(images, labels, len(classes), test_images, test_labels)

"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 grey images of 10 classes, no download.

The set comes without a test split, so a fixed one is set aside here: 20% of every class (359 images), chosen
by a seed of its own, so it never moves with the training seed and no search ever sees it. The other 1,438
images are the training split, from which the validation split is held out as for every data set.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from nas_resnext.data.datasets import Decoded, LoadRequest
from nas_resnext.data.prepare import resize, stratified_split

TEST_FRACTION = 0.2
TEST_SEED = 20_170_000  # fixed for good: changing it would put test images into old runs' training data
IMAGES = 1797
BUNDLED = ("datasets", "data", "digits.csv.gz")  # where scikit-learn keeps the set, inside its package


def bundled_digits_file() -> Path | None:
    """scikit-learn's own copy of the digits (one row per image: 64 pixel values, then the label), found
    without importing scikit-learn; None where the installed version keeps it elsewhere."""
    spec = importlib.util.find_spec("sklearn")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location).joinpath(*BUNDLED)
        if path.is_file():
            return path
    return None


def load_digit_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 images (float64, 0..16, shape (1797, 8, 8)) and labels, as ``sklearn.datasets.load_digits``
    gives them.

    Read from scikit-learn's bundled file directly: importing scikit-learn takes about a second, which every
    new trial worker and every ``train`` would pay for a 1,797-row table. ``load_digits`` is the fallback
    where the file is not where it was, or not the table it was.
    """
    path = bundled_digits_file()
    if path is not None:
        with gzip.open(path, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",")
        if table.shape == (IMAGES, 65):
            return table[:, :-1].reshape(IMAGES, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target.astype(np.int64)


def read_digits(request: LoadRequest) -> Decoded:
    """The 1,438 training images (and, with ``include_test``, the 359 test images), upsampled from 8x8 to
    ``request.resolution``."""
    pixels, targets = load_digit_arrays()
    images = torch.as_tensor(pixels, dtype=torch.float32).div_(16.0).unsqueeze(1)
    labels = torch.as_tensor(targets, dtype=torch.int64)
    train, test = stratified_split(labels, TEST_FRACTION, TEST_SEED)
    images = resize(images, request.resolution)
    if not request.include_test:
        return Decoded(images[train], labels[train], num_classes=10)
    return Decoded(images[train], labels[train], 10, images[test], labels[test])

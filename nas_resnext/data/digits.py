"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 grey images of 10 classes, no download.

The set comes without a test split, so a fixed one is set aside here: 20% of every class (359 images), chosen
by a seed of its own, so it never moves with the training seed and no search ever sees it. The other 1,438
images are the training split, from which the validation split is held out as for every data set.
"""

from __future__ import annotations

import torch

from nas_resnext.data.datasets import Decoded, LoadRequest
from nas_resnext.data.prepare import resize, stratified_split

TEST_FRACTION = 0.2
TEST_SEED = 20_170_000  # fixed for good: changing it would put test images into old runs' training data


def read_digits(request: LoadRequest) -> Decoded:
    """The 1,438 training images (and, with ``include_test``, the 359 test images), upsampled from 8x8 to
    ``request.resolution``."""
    from sklearn.datasets import load_digits  # imported here: scikit-learn takes a second to import

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    train, test = stratified_split(labels, TEST_FRACTION, TEST_SEED)
    images = resize(images, request.resolution)
    if not request.include_test:
        return Decoded(images[train], labels[train], num_classes=10)
    return Decoded(images[train], labels[train], 10, images[test], labels[test])

"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 grey images of 10 classes, no download."""

from __future__ import annotations

import torch

from nas_resnext.data.datasets import Decoded, LoadRequest
from nas_resnext.data.prepare import resize


def read_digits(request: LoadRequest) -> Decoded:
    """All 1,797 images, upsampled from 8x8 to ``request.resolution``. The set has no official test split."""
    from sklearn.datasets import load_digits  # imported here: scikit-learn takes a second to import

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    return Decoded(resize(images, request.resolution), labels, num_classes=10)

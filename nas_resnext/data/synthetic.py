"""Random images of any shape and class count, for tests and benchmarks.

Each class has its own smooth random pattern under uniform noise, so the data is learnable and a trainer
that works can be told from one that does not.
"""

from __future__ import annotations

import torch

from nas_resnext.data.datasets import Decoded, LoadRequest
from nas_resnext.data.prepare import resize


def _sample(
    prototypes: torch.Tensor, count: int, resolution: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    num_classes = prototypes.shape[0]
    labels = torch.arange(count) % num_classes
    labels = labels[torch.randperm(count, generator=generator)]
    noise = torch.rand(count, prototypes.shape[1], resolution, resolution, generator=generator)
    return 0.5 * prototypes[labels] + 0.5 * noise, labels


def read_synthetic(request: LoadRequest) -> Decoded:
    generator = torch.Generator().manual_seed(request.seed)
    coarse = torch.rand(request.num_classes, request.in_channels, 4, 4, generator=generator)
    prototypes = resize(coarse, request.resolution)
    images, labels = _sample(prototypes, request.num_samples, request.resolution, generator)
    test_images = test_labels = None
    if request.include_test:
        test_count = max(request.num_samples // 5, request.num_classes)
        test_images, test_labels = _sample(prototypes, test_count, request.resolution, generator)
    return Decoded(images, labels, request.num_classes, test_images, test_labels)

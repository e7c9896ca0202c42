"""The input pipeline of the trainer: shuffling, batching and augmentation of tensors held on the device.

In-memory data sets live on the training device for the whole run, so a step costs one index-select and a
few element-wise ops, with no DataLoader workers or host-to-device copies (the approach of airbench).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from nas_resnext.data.datasets import Augmentation, Split


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Pad every image by ``padding`` (zeros, i.e. the mean colour after normalisation) and crop back at a
    random offset per image."""
    if padding <= 0:
        return images
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), device=device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=device, generator=generator)
    rows = dy[:, None] + torch.arange(h, device=device)
    cols = dx[:, None] + torch.arange(w, device=device)
    out = padded.gather(2, rows[:, None, :, None].expand(n, c, h, w + 2 * padding))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    flip = torch.rand(images.shape[0], device=images.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def augment(images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator) -> torch.Tensor:
    images = random_crop(images, augmentation.crop_padding, generator)
    if augmentation.flip:
        images = random_flip(images, generator)
    return images


class DeviceBatches:
    """Seeded, shuffled, augmented mini-batches of one split, held on ``device``.

    Iterating yields one epoch. Full batches only (unless the split is smaller than one batch), so every step
    has the same shape: cuDNN autotuning and ``torch.compile`` then see one shape.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        device: torch.device,
        augmentation: Augmentation,
        seed: int,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:
        self.images = split.images.to(device).contiguous(memory_format=memory_format)
        self.labels = split.labels.to(device)
        self.batch_size = min(batch_size, len(self.labels))
        self.augmentation = augmentation
        self.memory_format = memory_format
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def __len__(self) -> int:
        return len(self.labels) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.labels), device=self.images.device, generator=self.generator)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            index = order[start : start + self.batch_size]
            images = augment(self.images[index], self.augmentation, self.generator)
            yield images.contiguous(memory_format=self.memory_format), self.labels[index]


def sequential_batches(
    split: Split, batch_size: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every sample once, in order, unaugmented: for evaluation. The split should already be on ``device``."""
    for start in range(0, len(split.labels), batch_size):
        yield (
            split.images[start : start + batch_size].to(device),
            split.labels[start : start + batch_size].to(device),
        )

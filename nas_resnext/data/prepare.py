"""Turning decoded images into training tensors: scaling, resizing, the held-out split and normalisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 as float32 in [0, 1]."""
    return images.to(torch.float32).div_(255.0)


def resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Square-resize a float batch (N, C, H, W); a no-op at the native size."""
    if images.shape[-2:] == (resolution, resolution):
        return images
    shrinking = images.shape[-1] > resolution or images.shape[-2] > resolution
    # Anti-aliasing only matters when shrinking; bilinear upsampling keeps small digits smooth.
    return F.interpolate(
        images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=shrinking
    )


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, held_out): ``fraction`` of every class held out, chosen by ``seed``.

    Each class with at least two samples keeps at least one on both sides, so every class is both trained on
    and scored. The same labels, fraction and seed always give the same split.
    """
    generator = torch.Generator().manual_seed(seed)
    train_parts: list[torch.Tensor] = []
    held_parts: list[torch.Tensor] = []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        held = int(fraction * len(members) + 0.5)  # half up: round() would send 2.5 to 2 but 3.5 to 4
        if len(members) >= 2:
            held = min(max(held, 1), len(members) - 1)
        held_parts.append(members[:held])
        train_parts.append(members[held:])
    train = torch.sort(torch.cat(train_parts)).values
    held_out = torch.sort(torch.cat(held_parts)).values
    return train, held_out


def channel_statistics(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of a float batch (N, C, H, W), each of shape (C,)."""
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return mean, std


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (images - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)

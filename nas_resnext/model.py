"""``build_model``: one parametrized ResNeXt builder for every template and variant."""

from __future__ import annotations

import torch
from torch import nn

from nas_resnext.architecture import Architecture
from nas_resnext.shapes import BlockShape, block_shapes, head_shape, stem_shape


class Bottleneck(nn.Module):
    """ResNeXt block (form (c) of the paper): 1x1 reduce, grouped 3x3 with the stride, 1x1 expand."""

    def __init__(self, shape: BlockShape) -> None:
        super().__init__()
        width = shape.group_width
        self.conv1 = nn.Conv2d(shape.in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(
            width, width, 3, stride=shape.stride, padding=1, groups=shape.cardinality, bias=False
        )
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, shape.out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(shape.out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if shape.has_projection:
            self.downsample = nn.Sequential(
                nn.Conv2d(shape.in_channels, shape.out_channels, 1, stride=shape.stride, bias=False),
                nn.BatchNorm2d(shape.out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNeXt(nn.Module):
    """Stem, stages of bottleneck blocks, global average pool and a linear classifier.

    Module names follow torchvision's ``ResNet`` (``conv1``, ``bn1``, ``layer1``..``layerN``, ``fc``), so the
    imagenet template loads torchvision's and timm's ResNet/ResNeXt state dicts as they are.
    """

    def __init__(self, arch: Architecture, zero_init_residual: bool = True) -> None:
        super().__init__()
        self.arch = arch
        stem = stem_shape(arch)
        self.conv1 = nn.Conv2d(
            stem.in_channels,
            stem.out_channels,
            stem.kernel,
            stride=stem.stride,
            padding=stem.padding,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(stem.out_channels)
        self.relu = nn.ReLU(inplace=True)
        # The cifar stem has no pool; an Identity keeps the name without adding state-dict keys.
        self.maxpool: nn.Module = nn.MaxPool2d(3, stride=2, padding=1) if stem.pool else nn.Identity()

        blocks = block_shapes(arch)
        self._stage_names = tuple(f"layer{stage + 1}" for stage in range(len(arch.depths)))
        for stage, name in enumerate(self._stage_names):
            self.add_module(name, nn.Sequential(*(Bottleneck(b) for b in blocks if b.stage == stage)))
        head = head_shape(arch)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head.in_channels, head.num_classes)
        self._init_weights(zero_init_residual)

    @property
    def stages(self) -> tuple[nn.Sequential, ...]:
        """The stage modules ``layer1``..``layerN`` in order."""
        return tuple(getattr(self, name) for name in self._stage_names)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            # Each block starts as the identity, which makes deep, wide candidates train stably from epoch 1.
            for module in self.modules():
                if isinstance(module, Bottleneck):
                    nn.init.zeros_(module.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages:
            x = stage(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_model(arch: Architecture, zero_init_residual: bool = True) -> ResNeXt:
    """Build the ``nn.Module`` for ``arch`` (any template, any point of the four axes)."""
    return ResNeXt(arch, zero_init_residual=zero_init_residual)

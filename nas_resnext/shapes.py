"""Channel widths and feature-map sizes of every layer: the one place both the model and the counter read.

``build_model`` constructs modules from these shapes and ``count_analytic`` sums their cost, so the two
cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nas_resnext.architecture import Architecture

EXPANSION = 4  # a bottleneck block outputs 4x its "planes", as in ResNet


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Spatial size after a convolution or pooling window (PyTorch's floor rule)."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class StemShape:
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    input_size: int
    conv_size: int  # after the stem convolution
    pool: bool
    output_size: int  # after the optional 3x3/2 max-pool


@dataclass(frozen=True)
class BlockShape:
    """One bottleneck block: 1x1 reduce, grouped 3x3 (carrying the stride), 1x1 expand."""

    stage: int
    index: int
    in_channels: int
    group_width: int  # channels of the grouped 3x3 conv: C * d * 2**stage
    cardinality: int
    out_channels: int
    stride: int
    input_size: int
    output_size: int

    @property
    def has_projection(self) -> bool:
        return self.stride != 1 or self.in_channels != self.out_channels


@dataclass(frozen=True)
class HeadShape:
    in_channels: int
    input_size: int
    num_classes: int


def stem_shape(arch: Architecture) -> StemShape:
    spec = arch.spec
    padding = spec.stem_kernel // 2
    conv_size = conv_output_size(arch.resolution, spec.stem_kernel, spec.stem_stride, padding)
    output_size = conv_output_size(conv_size, 3, 2, 1) if spec.stem_pool else conv_size
    return StemShape(
        in_channels=arch.in_channels,
        out_channels=arch.stem_width,
        kernel=spec.stem_kernel,
        stride=spec.stem_stride,
        padding=padding,
        input_size=arch.resolution,
        conv_size=conv_size,
        pool=spec.stem_pool,
        output_size=output_size,
    )


def stage_widths(arch: Architecture, stage: int) -> tuple[int, int]:
    """(group width, output channels) of every block in ``stage``; both double per stage."""
    scale = 2**stage
    return arch.cardinality * arch.bottleneck_width * scale, EXPANSION * arch.width * scale


def stage_block_shapes(arch: Architecture) -> list[tuple[BlockShape, BlockShape | None, int]]:
    """Per stage: its first block, the block repeated after it (``None`` for a one-block stage), and the
    number of repeats. Every block after a stage's first has the same shape, so counting needs only two."""
    stem = stem_shape(arch)
    channels, size = stem.out_channels, stem.output_size
    stages = []
    for stage, (depth, stride) in enumerate(zip(arch.depths, arch.spec.stage_strides, strict=True)):
        group_width, out_channels = stage_widths(arch, stage)
        out_size = conv_output_size(size, 3, stride, 1)
        first = BlockShape(
            stage, 0, channels, group_width, arch.cardinality, out_channels, stride, size, out_size
        )
        repeated = None
        if depth > 1:
            repeated = BlockShape(
                stage, 1, out_channels, group_width, arch.cardinality, out_channels, 1, out_size, out_size
            )
        stages.append((first, repeated, depth - 1))
        channels, size = out_channels, out_size
    return stages


def block_shapes(arch: Architecture) -> list[BlockShape]:
    """Every block in order (stage by stage), as the model builds them."""
    blocks = []
    for first, repeated, repeats in stage_block_shapes(arch):
        blocks.append(first)
        if repeated is not None:
            blocks.extend(dataclasses.replace(repeated, index=i) for i in range(1, repeats + 1))
    return blocks


def head_shape(arch: Architecture) -> HeadShape:
    channels = stage_widths(arch, len(arch.depths) - 1)[1]
    size = stem_shape(arch).output_size
    for stride in arch.spec.stage_strides:
        size = conv_output_size(size, 3, stride, 1)
    return HeadShape(in_channels=channels, input_size=size, num_classes=arch.num_classes)

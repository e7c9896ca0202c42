"""FLOPs, parameters and activations of an architecture: fvcore (the reference) and an exact analytic counter.

Convention (fvcore's): FLOPs of ``FlopCountAnalysis(model.eval(), one input of batch 1 at the
architecture's resolution).total()``. One multiply-add counts as one flop; convolution and linear layers
count their multiply-adds only (no bias adds); batch-norm in eval mode counts 2 per output element;
global average pooling counts 1 per input element; ReLU, max-pool and the residual add count nothing.
Parameters are trainable parameters.

Activations (pycls's ``acts``, Radosavovic et al. 2020, a better predictor of GPU time than FLOPs): the
output elements of every convolution (the stem's, each block's three and its projection) plus the
classifier's outputs, at batch 1. Batch-norm, ReLU, pooling and the residual add count nothing. The
reference is fvcore's ``ActivationCountAnalysis(...).total()`` on the same input.

``count_analytic`` mirrors the constructor layer by layer over the shared shapes of ``nas_resnext.shapes``
and returns the same three numbers as fvcore, without building a model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

from nas_resnext.architecture import Architecture
from nas_resnext.errors import ConfigError
from nas_resnext.shapes import BlockShape, head_shape, stage_block_shapes, stem_shape

FLOP_CONVENTION = "multiply-adds, fvcore convention, batch 1"
ACTIVATION_CONVENTION = "output elements of every conv and the classifier (pycls), batch 1"
Method = Literal["analytic", "fvcore"]
METHODS: tuple[str, ...] = ("analytic", "fvcore")


@dataclass(frozen=True, order=True)
class Complexity:
    """FLOPs (multiply-adds, fvcore convention), trainable parameters and activations (output elements
    of every convolution and the classifier, batch 1)."""

    flops: int
    params: int
    activations: int

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def mparams(self) -> float:
        return self.params / 1e6

    @property
    def mactivations(self) -> float:
        return self.activations / 1e6

    def __add__(self, other: Complexity) -> Complexity:
        return Complexity(
            self.flops + other.flops, self.params + other.params, self.activations + other.activations
        )


# Each helper returns (flops, params, activations) as a plain tuple: the counter runs millions of times in
# sampling.
def _conv(
    in_channels: int, out_channels: int, kernel: int, out_size: int, groups: int = 1
) -> tuple[int, int, int]:
    weights = out_channels * (in_channels // groups) * kernel * kernel
    outputs = out_channels * out_size * out_size
    return weights * out_size * out_size, weights, outputs


def _batch_norm(channels: int, size: int) -> tuple[int, int, int]:
    return 2 * channels * size * size, 2 * channels, 0


def _block(b: BlockShape) -> tuple[int, int, int]:
    """Mirrors ``model.Bottleneck.__init__``: conv1/bn1, grouped conv2/bn2, conv3/bn3, projection."""
    layers = [
        _conv(b.in_channels, b.group_width, 1, b.input_size),
        _batch_norm(b.group_width, b.input_size),
        _conv(b.group_width, b.group_width, 3, b.output_size, groups=b.cardinality),
        _batch_norm(b.group_width, b.output_size),
        _conv(b.group_width, b.out_channels, 1, b.output_size),
        _batch_norm(b.out_channels, b.output_size),
    ]
    if b.has_projection:
        layers += [
            _conv(b.in_channels, b.out_channels, 1, b.output_size),
            _batch_norm(b.out_channels, b.output_size),
        ]
    flops = params = activations = 0
    for layer_flops, layer_params, layer_activations in layers:
        flops += layer_flops
        params += layer_params
        activations += layer_activations
    return flops, params, activations


def count_analytic(arch: Architecture) -> Complexity:
    """Exact fvcore-convention FLOPs, params and activations, computed from shapes alone (microseconds)."""
    stem = stem_shape(arch)
    stem_conv = _conv(stem.in_channels, stem.out_channels, stem.kernel, stem.conv_size)
    stem_bn = _batch_norm(stem.out_channels, stem.conv_size)
    flops, params = stem_conv[0] + stem_bn[0], stem_conv[1] + stem_bn[1]
    activations = stem_conv[2]
    for first, repeated, repeats in stage_block_shapes(arch):
        block_flops, block_params, block_activations = _block(first)
        flops, params = flops + block_flops, params + block_params
        activations += block_activations
        if repeated is not None:
            block_flops, block_params, block_activations = _block(repeated)
            flops, params = flops + repeats * block_flops, params + repeats * block_params
            activations += repeats * block_activations
    head = head_shape(arch)
    flops += head.in_channels * head.input_size * head.input_size  # global average pool
    flops += head.in_channels * head.num_classes  # classifier multiply-adds (bias not counted)
    params += head.in_channels * head.num_classes + head.num_classes
    activations += head.num_classes  # the classifier's outputs (the pooled features are not a conv's)
    return Complexity(flops=flops, params=params, activations=activations)


def count_fvcore(arch: Architecture) -> Complexity:
    """The reference count: trace the built model with fvcore, once for FLOPs and once for activations
    (seconds for large models)."""
    import torch

    from nas_resnext.model import build_model

    model = build_model(arch).eval()
    inputs = torch.zeros(1, arch.in_channels, arch.resolution, arch.resolution)
    with torch.no_grad(), warnings.catch_warnings():
        # fvcore traces with torch.jit, which newer torch marks deprecated; the trace itself is sound.
        warnings.filterwarnings("ignore", message=r".*torch\.jit", category=DeprecationWarning)
        from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

        flops = _fvcore_total(FlopCountAnalysis(model, inputs))
        # ActivationCountAnalysis's default handles already are the convention: the output elements of
        # ``aten::_convolution`` and of the dot-product ops (``aten::linear``/``addmm``, which the classifier
        # traces to; ``matmul``, ``bmm`` and ``einsum``, which this model never calls). Every other op
        # (batch-norm, ReLU, pooling, the residual add, flatten) has no handle, so it counts nothing, as in
        # pycls. No ``set_op_handle`` is needed; the tests hold the two counts equal.
        activations = _fvcore_total(ActivationCountAnalysis(model, inputs))
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Complexity(flops=flops, params=params, activations=activations)


def _fvcore_total(analysis: Any) -> int:
    """The total of an fvcore analysis, without its warnings about ops it leaves uncounted on purpose."""
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def count(arch: Architecture, method: str = "analytic") -> Complexity:
    """FLOPs, params and activations of ``arch`` by ``method`` (``analytic`` or ``fvcore``)."""
    if method == "analytic":
        return count_analytic(arch)
    if method == "fvcore":
        return count_fvcore(arch)
    raise ConfigError("method", method, " | ".join(METHODS))

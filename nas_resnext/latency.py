"""Inference latency of a model on the device a trial runs on: warm-up, then the median of timed repeats.

FLOPs do not predict speed for grouped convolutions, so a search that cares about speed needs it measured.
Latency is taken in eval mode under ``torch.inference_mode`` at batch 1 (one image, the serving case) and at
a larger batch (the throughput case), in the precision and memory layout the device trains in
(channels_last; bf16 autocast on CUDA, float32 on CPU), on the eager (uncompiled) module, cuDNN autotuned.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from nas_resnext.architecture import Architecture
from nas_resnext.device import (
    autocast,
    cudnn_autotuning,
    device_description,
    memory_format,
    resolve_device,
    uses_fast_path,
)
from nas_resnext.model import build_model

DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class Latency:
    """Median wall-clock milliseconds per forward pass at batch 1 and at ``batch_size``."""

    device: str
    precision: str
    single_ms: float
    batch_size: int
    batch_ms: float
    repeats: int  # timed repeats behind each median (the fewest over the two batch sizes)
    warmup: int

    @property
    def images_per_second(self) -> float:
        """Inference throughput at ``batch_size``."""
        return self.batch_size * 1000.0 / self.batch_ms

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "images_per_second": self.images_per_second}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Latency:
        """The inverse of :meth:`to_dict` (derived fields are dropped)."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def precision_of(device: torch.device) -> str:
    """The precision inference runs in on ``device``: bf16 autocast on the fast path, else float32."""
    return "bfloat16" if uses_fast_path(device) else "float32"


def measurement_key(arch: Architecture, device: torch.device | str = "auto") -> tuple[str, str, str]:
    """What makes two latency measurements the same: (architecture name, device description, precision).

    These are the fields a :class:`Latency` measured on ``device`` records, so a measurement kept under this
    key serves any later trial of the same architecture on the same kind of device.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    return arch.name, device_description(device), precision_of(device)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_ms(
    model: nn.Module, inputs: torch.Tensor, warmup: int, repeats: int, max_seconds: float
) -> tuple[float, int]:
    device = inputs.device
    # Autotuned on CUDA whatever the last training chose: a deployed model meets the same shapes again and
    # again, and the warm-up passes pay for the tuning.
    with torch.inference_mode(), autocast(device), cudnn_autotuning(device.type == "cuda"):
        for _ in range(warmup):
            model(inputs)
        _synchronize(device)
        times: list[float] = []
        budget_end = time.perf_counter() + max_seconds
        # At least three repeats for a meaningful median; beyond that, stop at the time budget so one slow
        # candidate cannot stall a search.
        while len(times) < repeats and (len(times) < 3 or time.perf_counter() < budget_end):
            start = time.perf_counter()
            model(inputs)
            _synchronize(device)
            times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), len(times)


class LatencyProbe:
    """A model on its device in eval mode with random inputs at batch 1 and ``batch_size``, ready to be timed.

    Preparing is kept apart from timing so that a search can do the slow, device-sharing part (building the
    model, moving it, a first CUDA context, loading each kernel at its first pass: :meth:`load`) while other
    trials train, and hold the device alone only for :meth:`measure`'s warm-up and timed passes.
    """

    def __init__(
        self,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        device: torch.device | str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"need batch_size >= 1; got {batch_size}")
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.batch_size = batch_size
        layout = memory_format(self.device)
        self._was_training = model.training
        self.model = model.to(self.device, memory_format=layout).eval()
        self.inputs = [
            torch.randn(batch, *input_shape, device=self.device).contiguous(memory_format=layout)
            for batch in (1, batch_size)
        ]

    def load(self) -> None:
        """One untimed pass per batch size: lazily loaded kernels are loaded here rather than in the timing.
        Untuned: cuDNN autotuning times kernels, which needs the device alone (it is left to the warm-up)."""
        with torch.inference_mode(), autocast(self.device), cudnn_autotuning(False):
            for inputs in self.inputs:
                self.model(inputs)
        _synchronize(self.device)

    def measure(self, *, warmup: int = 3, repeats: int = 10, max_seconds: float = 5.0) -> Latency:
        """Warm-up passes, then the median of timed passes at each batch size (see :func:`measure_latency`);
        the model is back in its former train/eval mode afterwards."""
        if warmup < 0 or repeats < 1:
            raise ValueError(f"need warmup >= 0 and repeats >= 1; got {warmup}, {repeats}")
        try:
            (single_ms, single_repeats), (batch_ms, batch_repeats) = [
                _median_ms(self.model, inputs, warmup, repeats, max_seconds) for inputs in self.inputs
            ]
        finally:
            self.model.train(self._was_training)
        return Latency(
            device=device_description(self.device),
            precision=precision_of(self.device),
            single_ms=single_ms,
            batch_size=self.batch_size,
            batch_ms=batch_ms,
            repeats=min(single_repeats, batch_repeats),
            warmup=warmup,
        )


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    device: torch.device | str = "auto",
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    warmup: int = 3,
    repeats: int = 10,
    max_seconds: float = 5.0,
) -> Latency:
    """Time ``model`` on random inputs of ``input_shape`` (C, H, W) at batch 1 and ``batch_size``.

    ``model`` is moved to ``device`` and left in its former train/eval mode afterwards. ``max_seconds``
    caps the timed repeats per batch size (never fewer than three).
    """
    if warmup < 0 or repeats < 1 or batch_size < 1:
        raise ValueError(
            f"need warmup >= 0, repeats >= 1 and batch_size >= 1; got {warmup}, {repeats}, {batch_size}"
        )
    probe = LatencyProbe(model, input_shape, device, batch_size)
    return probe.measure(warmup=warmup, repeats=repeats, max_seconds=max_seconds)


def architecture_probe(
    arch: Architecture, device: torch.device | str = "auto", batch_size: int = DEFAULT_BATCH_SIZE
) -> LatencyProbe:
    """``arch`` built (untrained weights time the same as trained ones) and ready to be timed."""
    return LatencyProbe(
        build_model(arch), (arch.in_channels, arch.resolution, arch.resolution), device, batch_size
    )


def architecture_latency(arch: Architecture, device: torch.device | str = "auto", **options: Any) -> Latency:
    """Build ``arch`` (untrained weights time the same as trained ones) and measure its latency."""
    model = build_model(arch)
    return measure_latency(model, (arch.in_channels, arch.resolution, arch.resolution), device, **options)

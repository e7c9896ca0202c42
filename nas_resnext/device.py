"""Which torch device a run uses, and the precision and memory layout each device trains and infers in.

Tensors are channels_last everywhere: cuDNN's fast convolution kernels want it, and on CPU oneDNN's grouped
convolutions run about 1.7x faster with it (a training step of a small ResNeXt, measured). On CUDA the fast
path adds bf16 autocast. cuDNN autotuning is a setting (``TrainSettings.autotune``), off by default: on an
H100 it cost next to nothing and gained nothing for the shipped spaces' models (benchmarks/README.md). CPUs
train in float32 (bf16 is slower there on most CPUs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from nas_resnext.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; asking for CUDA where there is none is bad input."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", name, "auto | cpu (no CUDA device is available here)")
        return torch.device("cuda")
    raise ConfigError("device", name, "auto | cpu | cuda")


def uses_fast_path(device: torch.device) -> bool:
    return device.type == "cuda"


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; nothing elsewhere."""
    if uses_fast_path(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def cudnn_autotuning(enabled: bool) -> Iterator[None]:
    """cuDNN autotuning on or off inside the block, as it was afterwards (the flag is process-wide, and a
    reused trial worker must not pass one trial's choice on to the next)."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def memory_format(device: torch.device) -> torch.memory_format:
    """The layout of model weights and batches on ``device``."""
    return torch.channels_last


def device_description(device: torch.device) -> str:
    """``cpu (2 threads)`` or ``cuda (NVIDIA H100 80GB HBM3)``: the device a measurement was taken on."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"

"""The deployable formats of a model directory: TorchScript and ONNX, each checked against the torch model.

Each writer saves the eval-mode model, loads the written file back with the runtime a user would use
(``torch.jit.load``; ONNX Runtime on its CPU provider) and compares its logits on a seeded random batch with
the torch model's. A difference beyond the tolerance is an :class:`ExportCheckError`: a file that computes
something else must never be handed out.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
from torch import nn

from nas_resnext.errors import ConfigError

ONNX_INPUT = "images"
ONNX_OUTPUT = "logits"
CHECK_BATCH = (
    4  # random images per check; the files are traced at batch 1, so this also checks the batch axis
)
CHECK_SEED = 0
# Allowed max abs difference of the logits, relative to their largest magnitude (at least 1). ONNX Runtime's
# and torch's fp32 kernels sum in different orders, each layer adding rounding of ~1e-7 relative: measured
# 3e-8 to 2e-6 on models from 8 px digit nets to ResNeXt-50. 1e-3 is far above that noise and far below a
# wrong weight, layer or layout (which moves logits by their own size); it can swap only two predictions
# already within 0.1% of each other.
RELATIVE_TOLERANCE = 1e-3
ONNX_MODULES = ("onnx", "onnxruntime")


class ExportCheckError(RuntimeError):
    """A written file does not reproduce the torch model's output."""


def check_onnx_available() -> None:
    """Raise ConfigError (bad input: nothing is written) when the ONNX packages are not installed."""
    missing = [name for name in ONNX_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            "--format",
            "onnx",
            f"a format whose packages are installed ({', '.join(missing)} missing: "
            "pip install 'nas-resnext[export]')",
        )


def check_inputs(in_channels: int, resolution: int) -> torch.Tensor:
    """The seeded batch every check runs: normal noise, as normalised images are zero-mean, unit-variance."""
    generator = torch.Generator().manual_seed(CHECK_SEED)
    return torch.randn(CHECK_BATCH, in_channels, resolution, resolution, generator=generator)


def max_abs_difference(expected: torch.Tensor, actual: torch.Tensor) -> float:
    return float((expected.double() - torch.as_tensor(actual).double()).abs().max())


def tolerance(expected: torch.Tensor) -> float:
    """The allowed max abs difference for reference logits ``expected``."""
    return RELATIVE_TOLERANCE * max(1.0, float(expected.abs().max()))


def _checked(name: str, expected: torch.Tensor, actual: torch.Tensor, path: Path) -> float:
    difference = max_abs_difference(expected, actual)
    if not difference <= tolerance(expected):  # also catches NaN
        raise ExportCheckError(
            f"{path.name}: {name} output differs from torch's by {difference:.3g} "
            f"(allowed {tolerance(expected):.3g}) on {CHECK_BATCH} random inputs"
        )
    return difference


def _example(model: nn.Module) -> torch.Tensor:
    arch = model.arch
    return torch.zeros(1, arch.in_channels, arch.resolution, arch.resolution)


def write_torchscript(model: nn.Module, path: Path) -> float:
    """Trace ``model`` (eval mode, CPU) to ``path``; returns the max abs difference of the reloaded file's
    logits from the model's."""
    with warnings.catch_warnings():
        # torch 2.9+ deprecates torch.jit in favour of torch.export, whose files torch alone can run;
        # TorchScript still loads in libtorch (C++) without Python, which is what users ask it for.
        warnings.simplefilter("ignore", DeprecationWarning)
        with torch.no_grad():
            # check_trace re-runs the model to compare; the check below does that on the saved file.
            traced = torch.jit.trace(model, _example(model), check_trace=False)
        torch.jit.save(traced, str(path))
        loaded = torch.jit.load(str(path), map_location="cpu")
    inputs = check_inputs(model.arch.in_channels, model.arch.resolution)
    with torch.no_grad():
        return _checked("TorchScript", model(inputs), loaded(inputs), path)


def write_onnx(model: nn.Module, path: Path) -> float:
    """Export ``model`` (eval mode, CPU) to ``path`` with a dynamic batch axis (input ``images``, output
    ``logits``); returns the max abs difference of ONNX Runtime's logits from the model's."""
    import onnx
    import onnxruntime

    with warnings.catch_warnings():
        # The TorchScript-based exporter (dynamo=False) is deprecated since torch 2.9 but still shipped. For
        # a static graph of convolutions, batch-norm, ReLU, pooling and a linear layer both exporters give
        # the same operators; this one takes 0.2-1 s against 1.5-4 s, writes one self-contained file (the
        # dynamo exporter splits weights into a .data file unless told not to) and logs nothing. The ONNX
        # Runtime check below vouches for the file either way. When it is removed: dynamo=True,
        # external_data=False, dynamic_shapes=({0: torch.export.Dim("batch")},).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (_example(model),),
            str(path),
            dynamo=False,
            input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT],
            dynamic_axes={ONNX_INPUT: {0: "batch"}, ONNX_OUTPUT: {0: "batch"}},
        )
    onnx.checker.check_model(str(path))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the CPU provider's notices are no news to a user
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = check_inputs(model.arch.in_channels, model.arch.resolution)
    (logits,) = session.run([ONNX_OUTPUT], {ONNX_INPUT: inputs.numpy()})
    with torch.no_grad():
        return _checked("ONNX Runtime", model(inputs), torch.from_numpy(logits), path)

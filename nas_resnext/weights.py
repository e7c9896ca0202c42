"""State-dict files: writing them, reading them, and starting a model from one.

Files are ``.pt``/``.pth``/``.bin`` (``torch.save`` of a dict of tensors, read with ``weights_only=True`` so
no code in the file runs) or ``.safetensors``. Because the built model's module names follow torchvision's
ResNet, torchvision's and timm's ResNet/ResNeXt state dicts load into the imagenet template as they are.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nas_resnext.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nas_resnext.architecture import Architecture

TORCH_SUFFIXES = (".pt", ".pth", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
FILE_KINDS = "state-dict file (.pt, .pth, .bin, .safetensors)"
# Where common training code nests the weights inside a checkpoint.
_WRAPPER_KEYS = ("state_dict", "model")
# Added to every key by nn.DataParallel / DistributedDataParallel and by torch.compile.
_KEY_PREFIXES = ("module.", "_orig_mod.")
CLASSIFIER_KEYS = ("fc.weight", "fc.bias")
ARCHITECTURE_STATE = "a state dict of this architecture (same keys and shapes; only fc may differ)"


@dataclass(frozen=True)
class InitReport:
    """What starting from a state dict did: ``loaded`` tensors came from ``source``; ``reinitialized``
    keys kept the model's fresh values (a classifier for another number of classes)."""

    source: str
    loaded: int
    reinitialized: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"initialized from {self.source}: {self.loaded} tensors loaded"
        if self.reinitialized:
            text += f"; {', '.join(self.reinitialized)} re-initialized (the classifier's shape differs)"
        return text


def save_state_dict(state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Write ``state`` (moved to the CPU) to ``path``, whole or not at all: ``.safetensors`` in that
    format, any other name with ``torch.save``."""
    import torch

    path = Path(path)
    tensors = {key: value.detach().cpu() for key, value in state.items()}
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if path.suffix == SAFETENSORS_SUFFIX:
            from safetensors.torch import save_file

            os.close(fd)
            # safetensors refuses views and tensors sharing storage; private contiguous copies are neither.
            save_file({key: value.contiguous().clone() for key, value in tensors.items()}, temp_name)
        else:
            with os.fdopen(fd, "wb") as file:
                torch.save(tensors, file)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def load_state_dict_file(path: str | Path, field: str = "--init") -> dict[str, torch.Tensor]:
    """The tensors of the state-dict file ``path``, on the CPU.

    A dict nested under ``"state_dict"`` or ``"model"`` (common checkpoint layouts) is unwrapped, and a
    leading ``module.`` (DataParallel) or ``_orig_mod.`` (torch.compile) is stripped from every key. Anything
    else is a ConfigError for ``field``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(field, str(path), f"an existing {FILE_KINDS}")
    if path.suffix == SAFETENSORS_SUFFIX:
        data = _read_safetensors(path, field)
    elif path.suffix in TORCH_SUFFIXES:
        data = _read_torch(path, field)
    else:
        raise ConfigError(field, str(path), f"a {FILE_KINDS}")
    return _as_state_dict(data, path, field)


def _read_safetensors(path: Path, field: str) -> object:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError):
        raise ConfigError(field, str(path), "a valid .safetensors file of tensors") from None


def _read_torch(path: Path, field: str) -> object:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, OSError):
        # weights_only refuses pickled objects (a whole nn.Module, an optimizer's custom classes): running
        # a file's code to read weights is never worth the risk.
        raise ConfigError(
            field, str(path), "a file of tensors only, as torch.save(model.state_dict(), PATH) writes"
        ) from None


def _as_state_dict(data: object, path: Path, field: str) -> dict[str, torch.Tensor]:
    import torch

    allowed = "a state dict (a mapping of names to tensors), bare or under 'state_dict' or 'model'"
    for _ in range(len(_WRAPPER_KEYS)):
        if not isinstance(data, Mapping):
            break
        inner = next((data[k] for k in _WRAPPER_KEYS if isinstance(data.get(k), Mapping)), None)
        if inner is None:
            break
        data = inner
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(field, str(path), allowed)
    state: dict[str, torch.Tensor] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ConfigError(field, str(path), allowed)
        name = _strip_prefixes(key)
        if name in state:
            raise ConfigError(field, str(path), f"{allowed}; {key!r} repeats {name!r}")
        state[name] = value
    return state


def _strip_prefixes(key: str) -> str:
    stripped = True
    while stripped:  # torch.compile of a DataParallel model nests both prefixes
        stripped = False
        for prefix in _KEY_PREFIXES:
            if key.startswith(prefix):
                key, stripped = key.removeprefix(prefix), True
    return key


def _shape(shape: tuple[int, ...]) -> str:
    return str(tuple(shape))


def _plan(
    expected: Mapping[str, tuple[int, ...]], state: Mapping[str, torch.Tensor], source: str, field: str
) -> InitReport:
    """Check ``state`` against the model's key -> shape map ``expected``; the InitReport loading would
    give, or a ConfigError naming the first offending key."""

    def refuse(problem: str) -> ConfigError:
        return ConfigError(
            field, source, ARCHITECTURE_STATE, note=f"{problem}; allowed: {ARCHITECTURE_STATE}"
        )

    reinitialized = []
    for key, shape in expected.items():
        if key not in state:
            # A counter, not a weight: older checkpoints (torchvision's first ResNet files) lack it.
            if key.endswith(".num_batches_tracked"):
                continue
            if key in CLASSIFIER_KEYS:
                reinitialized.append(key)
                continue
            raise refuse(f"{key} is missing from {source}; the architecture expects {_shape(shape)}")
        found = tuple(state[key].shape)
        if found != tuple(shape):
            if key in CLASSIFIER_KEYS:
                reinitialized.append(key)
                continue
            raise refuse(
                f"{key} has shape {_shape(found)} in {source}; the architecture expects {_shape(shape)}"
            )
    for key in state:
        if key not in expected:
            raise refuse(
                f"{key} (shape {_shape(tuple(state[key].shape))}) in {source} is not in the architecture"
            )
    if reinitialized:  # a classifier is replaced whole, never half from the file
        reinitialized = [key for key in CLASSIFIER_KEYS if key in expected]
    loaded = sum(1 for key in expected if key in state and key not in reinitialized)
    return InitReport(source=source, loaded=loaded, reinitialized=tuple(reinitialized))


def _expected_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def initialize_from(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str, field: str = "--init"
) -> InitReport:
    """Load ``state`` into ``model``. A classifier (``fc``) of another shape, or none, keeps the model's
    freshly initialised one (fine-tuning to another number of classes); any other missing key, unknown key
    or shape mismatch is a ConfigError naming the key and both shapes, and leaves ``model`` untouched."""
    import torch

    report = _plan(_expected_shapes(model), state, source, field)
    merged = dict(model.state_dict())
    with torch.no_grad():
        for key in merged:
            if key in state and key not in report.reinitialized:
                merged[key] = state[key]
        model.load_state_dict(merged, strict=True)
    return report


def initialize_model(model: nn.Module, path: str | Path, field: str = "--init") -> InitReport:
    """``initialize_from`` the state-dict file ``path``."""
    return initialize_from(model, load_state_dict_file(path, field), str(path), field)


def check_initialization(arch: Architecture, path: str | Path, field: str = "--init") -> InitReport:
    """What ``initialize_model`` would do for ``arch``, checked without building real weights: lets a
    command refuse a file that does not fit before it reads any data or writes anything."""
    import torch

    from nas_resnext.model import build_model

    with torch.device("meta"):
        model = build_model(arch)
    return _plan(_expected_shapes(model), load_state_dict_file(path, field), str(path), field)

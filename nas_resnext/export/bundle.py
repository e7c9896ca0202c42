"""The model directory: what ``export_model`` writes and ``load_model`` reads. This module alone knows its
file names.

DIR/architecture.json     {"name": canonical name, "architecture": Architecture.to_dict()}
DIR/weights.pt            the state dict (CPU tensors; torch.load(..., weights_only=True))
DIR/preprocessing.json    resolution, channels, classes, data set, mean and std, layout, the recipe in words
DIR/model.torchscript.pt  (format torchscript) the traced eval-mode model
DIR/model.onnx            (format onnx) input "images" N x C x R x R, output "logits" N x K; N is dynamic
DIR/README.md             the model card

A directory is written in a temporary sibling and renamed into place when every file is written and
checked, so a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_resnext.architecture import Architecture
from nas_resnext.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

ARCHITECTURE_FILE = "architecture.json"
WEIGHTS_FILE = "weights.pt"
PREPROCESSING_FILE = "preprocessing.json"
TORCHSCRIPT_FILE = "model.torchscript.pt"
ONNX_FILE = "model.onnx"
CARD_FILE = "README.md"
# pt (the weights, the JSON files and the card) is always written; the others on request.
FORMATS = ("pt", "torchscript", "onnx")
FORMATS_ALLOWED = "a comma list of " + ", ".join(FORMATS)
MODEL_DIRECTORY_HOLDS = (
    f"a model directory written by nas-resnext export (with {ARCHITECTURE_FILE} and {WEIGHTS_FILE})"
)
NEW_DIRECTORY = "a new or empty directory"


@dataclass(frozen=True)
class ExportResult:
    """One exported model: its directory, the files written there (in the order written) and the largest
    logit difference each deployable format showed against the torch model (None: format not written)."""

    directory: Path
    name: str
    files: tuple[Path, ...]
    onnx_max_abs_diff: float | None = None
    torchscript_max_abs_diff: float | None = None
    check_inputs: int = 4  # random images each check ran on
    trial: int | None = None  # the run's trial it came from, if any

    def moved(self, old: Path, new: Path) -> ExportResult:
        """The same result for the directory tree at ``old`` renamed to ``new``."""

        def move(path: Path) -> Path:
            return new / path.relative_to(old)

        return replace(self, directory=move(self.directory), files=tuple(move(p) for p in self.files))


def parse_formats(formats: str | Sequence[str], field: str = "--format") -> tuple[str, ...]:
    """``"onnx,pt"`` or ``["onnx"]`` -> the formats to write, in canonical order, ``pt`` always among them."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = [str(item).strip().lower() for item in items]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        text = formats if isinstance(formats, str) else ",".join(map(str, formats))
        raise ConfigError(field, text, FORMATS_ALLOWED)
    return tuple(name for name in FORMATS if name == "pt" or name in names)


def check_output_directory(path: str | Path, field: str = "out_dir") -> Path:
    """Refuse a path that holds anything: an export never writes over or beside other files."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(field, str(path), NEW_DIRECTORY)
    return path


@contextmanager
def staged_directory(out_dir: Path, field: str = "out_dir") -> Iterator[Path]:
    """A temporary sibling of ``out_dir`` to write into, renamed to ``out_dir`` when the block succeeds.

    When the block raises, the sibling and any parent folders made for it are removed: nothing is left.
    """
    out_dir = check_output_directory(out_dir, field).absolute()
    made = [parent for parent in (out_dir.parent, *out_dir.parent.parents) if not parent.exists()]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        yield staging
        check_output_directory(out_dir, field)  # still free after the (possibly long) export?
        if out_dir.exists():
            out_dir.rmdir()  # an empty directory: rename over it the same way on every platform
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for parent in made:  # innermost first
            with suppress(OSError):
                parent.rmdir()
        raise


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def model_from_state(arch: Architecture, state_dict: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """``build_model(arch)`` in eval mode on the CPU with ``state_dict`` loaded strictly; a state dict of
    another architecture is a ConfigError naming ``source``."""
    from nas_resnext.model import build_model

    model = build_model(arch)
    try:
        model.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as error:
        # torch's message lists every missing, unexpected or misshapen key; its first lines say enough.
        detail = " ".join(str(error).split())[:300]
        raise ConfigError(source, arch.name, f"weights of {arch.name} ({detail})") from None
    return model.float().eval()


@dataclass(frozen=True)
class PreparedModel:
    """A model checked against its architecture and description, ready to write; nothing written yet."""

    arch: Architecture
    model: nn.Module  # eval mode, CPU, float32
    info: Mapping[str, Any]
    preprocessing: dict[str, Any]


def prepare_model(
    arch: Architecture,
    state_dict: Mapping[str, torch.Tensor],
    info: Mapping[str, Any],
    source: str = "state_dict",
) -> PreparedModel:
    """Build ``arch`` with ``state_dict`` and check ``info``: all bad input is found here, before anything is
    written. ``source`` names where the weights came from in errors."""
    from nas_resnext.export.card import preprocessing

    prep = preprocessing(arch, info)
    return PreparedModel(arch, model_from_state(arch, state_dict, source), dict(info), prep)


def write_bundle(
    directory: Path,
    prepared: PreparedModel,
    formats: Sequence[str] = FORMATS,
    final_directory: str | Path | None = None,
) -> ExportResult:
    """Write and check the model directory in ``directory`` (existing and empty) without staging (see
    :func:`export_model`); ``final_directory`` is where it will be loaded from (the card's usage example).
    A file that fails its check raises ExportCheckError."""
    import torch

    from nas_resnext.export.card import model_card
    from nas_resnext.export.formats import (
        CHECK_BATCH,
        ExportCheckError,
        check_inputs,
        write_onnx,
        write_torchscript,
    )

    arch, model, info = prepared.arch, prepared.model, prepared.info
    formats = parse_formats(formats, "formats")
    directory = Path(directory)
    written: list[Path] = []
    described: dict[str, str] = {}

    def wrote(name: str, what: str) -> Path:
        written.append(directory / name)
        described[name] = what
        return directory / name

    _write_json(
        wrote(ARCHITECTURE_FILE, "the architecture (`Architecture.from_dict`)"),
        {"name": arch.name, "architecture": arch.to_dict()},
    )
    weights = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    torch.save(weights, wrote(WEIGHTS_FILE, "the state dict (`torch.load(path, weights_only=True)`)"))
    _write_json(
        wrote(PREPROCESSING_FILE, "what to do to an image before the model sees it"), prepared.preprocessing
    )

    # The weights file must load by itself into a fresh model that computes exactly what this one does.
    reloaded = load_model(directory)
    inputs = check_inputs(arch.in_channels, arch.resolution)
    with torch.no_grad():
        if not torch.allclose(reloaded(inputs), model(inputs), rtol=0, atol=0, equal_nan=True):
            raise ExportCheckError(f"{WEIGHTS_FILE}: the reloaded model computes something else")

    checks: dict[str, str] = {}
    torchscript_diff = onnx_diff = None
    if "torchscript" in formats:
        path = wrote(TORCHSCRIPT_FILE, "TorchScript (`torch.jit.load`), traced in eval mode")
        torchscript_diff = write_torchscript(model, path)
        checks["torchscript"] = (
            f"TorchScript max abs difference {torchscript_diff:.3g} on {CHECK_BATCH} random inputs"
        )
    if "onnx" in formats:
        path = wrote(ONNX_FILE, 'ONNX: input "images" N x C x H x W, output "logits", batch axis dynamic')
        onnx_diff = write_onnx(model, path)
        checks["onnx"] = (
            f"ONNX Runtime (CPU) max abs difference {onnx_diff:.3g} on {CHECK_BATCH} random inputs"
        )
    card_path = wrote(CARD_FILE, "this model card")
    card_path.write_text(
        model_card(arch, info, described, checks, str(final_directory or directory)), encoding="utf-8"
    )
    return ExportResult(
        directory=directory,
        name=arch.name,
        files=tuple(written),
        onnx_max_abs_diff=onnx_diff,
        torchscript_max_abs_diff=torchscript_diff,
        check_inputs=CHECK_BATCH,
        trial=info.get("trial"),
    )


def check_formats(formats: str | Sequence[str], field: str = "--format") -> tuple[str, ...]:
    """``parse_formats``, and ONNX's packages installed when it is asked for (else a ConfigError)."""
    formats = parse_formats(formats, field)
    if "onnx" in formats:
        from nas_resnext.export.formats import check_onnx_available

        check_onnx_available()
    return formats


def export_model(
    out_dir: str | Path,
    arch: Architecture,
    state_dict: Mapping[str, torch.Tensor],
    info: Mapping[str, Any],
    formats: str | Sequence[str] = FORMATS,
) -> ExportResult:
    """Write a model directory for ``arch`` with weights ``state_dict`` at ``out_dir`` (new or empty).

    ``info`` describes the weights for the card and ``preprocessing.json`` (``dataset``, ``mean`` and ``std``
    required; see :mod:`nas_resnext.export.card` for the rest). ``formats``: ``pt`` (always written),
    ``torchscript``, ``onnx``. Each deployable format is checked against the torch model on random inputs.
    Bad input raises ConfigError and a failed check ExportCheckError, both leaving nothing at ``out_dir``.
    """
    formats = check_formats(formats, "formats")
    out_dir = check_output_directory(out_dir)
    prepared = prepare_model(arch, state_dict, info)
    with staged_directory(out_dir) as staging:
        result = write_bundle(staging, prepared, formats, final_directory=out_dir)
    return result.moved(staging, out_dir)


def read_architecture(directory: str | Path) -> Architecture:
    """The architecture of the model directory ``directory``; anything else is a ConfigError."""
    directory = Path(directory)
    path = directory / ARCHITECTURE_FILE
    if not (directory.is_dir() and path.is_file() and (directory / WEIGHTS_FILE).is_file()):
        raise ConfigError("model directory", str(directory), MODEL_DIRECTORY_HOLDS)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), path.name, f"valid JSON ({error})") from None
    if not isinstance(data, dict) or "architecture" not in data:
        raise ConfigError(str(path), data, '{"name": ..., "architecture": {...}}')
    try:
        arch = Architecture.from_dict(data["architecture"])
    except ConfigError as error:
        raise error.within(str(path), "architecture") from None
    if data.get("name") not in (None, arch.name):
        raise ConfigError(f"{path}: name", data["name"], f"{arch.name}, the name of its architecture")
    return arch


def read_preprocessing(directory: str | Path) -> dict[str, Any]:
    """The model directory's ``preprocessing.json``: resolution, channels, classes, mean, std, layout."""
    path = Path(directory) / PREPROCESSING_FILE
    if not path.is_file():
        raise ConfigError("model directory", str(directory), f"a model directory with {PREPROCESSING_FILE}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), path.name, f"valid JSON ({error})") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict saved at ``path``, on the CPU, read with ``weights_only=True`` so that no code in the
    file runs; anything but a dict of tensors is a ConfigError naming the file."""
    import pickle

    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, OSError):
        raise ConfigError(str(path), path.name, "a state dict of tensors, as torch.save writes") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(str(path), type(state).__name__, "a state dict of tensors")
    return state


def load_model(directory: str | Path) -> nn.Module:
    """The model of a directory written by ``export_model`` (or ``nas-resnext export``): built with
    ``build_model`` from ``architecture.json``, weights loaded strictly from ``weights.pt`` with
    ``weights_only=True`` (no code in the file runs), in eval mode on the CPU.

    A directory that is not such a model directory, or whose weights do not fit its architecture, is a
    ConfigError. The images it takes are described by ``preprocessing.json`` (:func:`read_preprocessing`).
    """
    arch = read_architecture(directory)
    path = Path(directory) / WEIGHTS_FILE
    return model_from_state(arch, read_state_dict(path), str(path))

"""What a model directory tells its user in words and data: the preprocessing recipe and the model card.

Pure functions of the architecture and the export's ``info`` (no torch), so they are tested on plain dicts.

``info`` keys (all but ``dataset``, ``mean`` and ``std`` optional; a missing one is shown as not recorded):
``dataset``, ``mean``, ``std`` (per channel, of images scaled to [0, 1]), ``val_accuracy``, ``test_accuracy``
(only after a final retraining, scored once on the data set's test split), ``epochs`` (trained), ``seed``,
``training`` (``TrainSettings.to_dict()``), ``device`` (trained on), ``latency_ms``, ``latency_batch_ms``,
``latency_batch_size``, ``latency_device``, ``run`` (run directory), ``trial``, ``weights_trial`` (the trial
that trained the weights, where ``trial`` reused its result), ``state`` (the trial's, e.g. COMPLETE); after a
final retraining also ``retrained`` (True), ``train_images``, ``test_images``, ``test_interval`` ([low, high])
and ``test_confidence``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from nas_resnext.architecture import Architecture
from nas_resnext.complexity import ACTIVATION_CONVENTION, FLOP_CONVENTION, count_analytic
from nas_resnext.errors import ConfigError
from nas_resnext.units import gflops_text, human_count

REQUIRED_INFO = ("dataset", "mean", "std")
LAYOUT = "NCHW"
NOT_RECORDED = "not recorded"


def preprocessing(arch: Architecture, info: Mapping[str, Any]) -> dict[str, Any]:
    """The preprocessing a user applies to an image before the model sees it, as ``preprocessing.json``.

    Raises ConfigError when ``info`` lacks the data set or its statistics, or disagrees with ``arch``.
    """
    for key in REQUIRED_INFO:
        if info.get(key) is None:
            raise ConfigError(f"info.{key}", None, "a required field of the export's description")
    mean, std = _channel_values("mean", info["mean"], arch), _channel_values("std", info["std"], arch)
    if any(s <= 0 for s in std):
        raise ConfigError("info.std", list(std), "positive numbers (one per input channel)")
    for key in ("resolution", "in_channels", "num_classes"):
        if info.get(key) is not None and info[key] != getattr(arch, key):
            raise ConfigError(f"info.{key}", info[key], f"{getattr(arch, key)}, the architecture's {key}")
    size = f"{arch.resolution} x {arch.resolution}"
    return {
        "resolution": arch.resolution,
        "in_channels": arch.in_channels,
        "num_classes": arch.num_classes,
        "dataset": str(info["dataset"]),
        "mean": mean,
        "std": std,
        "layout": LAYOUT,
        "dtype": "float32",
        "description": (
            f"Resize each image to {size} pixels (centre-crop it to a square first), scale its pixel values "
            f"to [0, 1], subtract mean and divide by std per channel, and pass a float32 batch of shape "
            f"N x {arch.in_channels} x {size} (NCHW); the model returns N x {arch.num_classes} logits."
        ),
    }


def _channel_values(key: str, values: Any, arch: Architecture) -> list[float]:
    allowed = f"a list of {arch.in_channels} numbers (one per input channel)"
    if (
        isinstance(values, (str, bytes))
        or not isinstance(values, Sequence)
        or len(values) != arch.in_channels
    ):
        raise ConfigError(f"info.{key}", values, allowed)
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ConfigError(f"info.{key}", values, allowed) from None
    if not all(math.isfinite(v) for v in numbers):
        raise ConfigError(f"info.{key}", values, allowed)
    return numbers


def _accuracy(value: Any) -> str:
    return f"{float(value):.4f} ({100 * float(value):.2f}%)"


def _metrics(info: Mapping[str, Any]) -> list[str]:
    training = info.get("training") or {}
    fraction = training.get("val_fraction")
    split_seed = training.get("seed", info.get("seed"))
    if fraction is not None:
        split = (
            f"the validation split: {100 * float(fraction):g}% of each class held out of the "
            f"{info['dataset']} training split (stratified, seed {split_seed}), never trained on"
        )
    else:
        split = f"the validation split held out of the {info['dataset']} training split"
    lines = []
    if info.get("retrained"):
        images = f" {info['train_images']:,}" if info.get("train_images") else ""
        lines.append(
            f"- validation accuracy: none (a final training on all{images} {info['dataset']} training "
            "images, the validation split included)"
        )
    elif info.get("val_accuracy") is not None:
        # Scored by the trainer on its device (bf16 autocast on a GPU): fp32 on a CPU may differ by a hair.
        scored = f"; scored on {info['device']}" if info.get("device") else ""
        lines.append(f"- validation accuracy {_accuracy(info['val_accuracy'])} on {split}{scored}")
    else:
        lines.append(f"- validation accuracy: {NOT_RECORDED}")
    if info.get("test_accuracy") is not None:
        images = f" ({info['test_images']:,} images)" if info.get("test_images") else ""
        interval = ""
        if info.get("test_interval"):
            low, high = info["test_interval"]
            confidence = float(info.get("test_confidence") or 0.95)
            interval = f"; {confidence:.0%} Wilson interval [{low:.2%}, {high:.2%}]"
        lines.append(
            f"- test accuracy {_accuracy(info['test_accuracy'])} on the {info['dataset']} test "
            f"split{images}{interval}, scored once after the final retraining"
        )
    elif info.get("retrained"):
        lines.append(f"- test accuracy: not measured (the {info['dataset']} data set has no test split)")
    else:
        lines.append("- test accuracy: not measured (a test split is scored only after a final retraining)")
    return lines


def _latency(info: Mapping[str, Any]) -> str:
    if info.get("latency_ms") is None:
        return f"- latency: {NOT_RECORDED}"
    where = info.get("latency_device") or "an unrecorded device"
    text = f"- latency {float(info['latency_ms']):.3f} ms at batch 1"
    if info.get("latency_batch_ms") is not None and info.get("latency_batch_size") is not None:
        text += f", {float(info['latency_batch_ms']):.3f} ms at batch {info['latency_batch_size']}"
    return text + f" (median forward pass, measured on {where})"


def _training(info: Mapping[str, Any]) -> list[str]:
    training = info.get("training") or {}
    planned = training.get("epochs")
    epochs = info.get("epochs")
    if epochs is None:
        epochs_text = NOT_RECORDED
    else:
        epochs_text = f"{epochs}" + (f" of {planned}" if planned is not None and planned != epochs else "")
    lines = [
        f"- epochs trained: {epochs_text}",
        f"- seed: {info.get('seed', training.get('seed', NOT_RECORDED))}",
        f"- trained on: {info.get('device') or NOT_RECORDED}",
    ]
    if training:
        settings = ", ".join(f"{key} {json.dumps(value)}" for key, value in training.items())
        lines.append(f"- settings: {settings}")
    return lines


def _provenance(info: Mapping[str, Any]) -> list[str]:
    if info.get("trial") is None:
        return [f"- run directory: {info.get('run') or NOT_RECORDED}"]
    trial = f"trial {info['trial']}"
    if info.get("state"):
        trial += f" ({info['state']})"
    lines = [f"- run directory: {info.get('run') or NOT_RECORDED}", f"- {trial}"]
    source = info.get("weights_trial")
    if source is not None and source != info["trial"]:
        lines.append(f"- weights trained in trial {source} (trial {info['trial']} reused its result)")
    return lines


def usage(directory: str, arch: Architecture, prep: Mapping[str, Any]) -> str:
    """Five lines of Python that load the model and classify a batch of images."""
    shape = f"4, {arch.in_channels}, {arch.resolution}, {arch.resolution}"
    mean = ", ".join(repr(float(v)) for v in prep["mean"])
    std = ", ".join(repr(float(v)) for v in prep["std"])
    return "\n".join(
        [
            "import torch, nas_resnext",
            f"model = nas_resnext.load_model({directory!r})  # eval mode, on the CPU",
            f"images = torch.rand({shape})  # your images: resized, values in [0, 1]",
            f"mean, std = torch.tensor([{mean}]), torch.tensor([{std}])",
            "predicted = model((images - mean[:, None, None]) / std[:, None, None]).argmax(dim=1)",
        ]
    )


def model_card(
    arch: Architecture,
    info: Mapping[str, Any],
    files: Mapping[str, str],
    checks: Mapping[str, str],
    directory: str,
) -> str:
    """The model directory's README.md. ``files`` maps each file name to what it holds; ``checks`` each
    exported format to the check it passed; ``directory`` is the path the usage example loads."""
    prep = preprocessing(arch, info)
    complexity = count_analytic(arch)
    axes = arch.axis_values()
    lines = [
        f"# {arch.name}",
        "",
        f"A ResNeXt ({arch.template} template) exported by nas-resnext.",
        "",
        "## Architecture",
        "",
        f"- depths (blocks per stage): {','.join(map(str, axes['depths']))} ({arch.layers} layers)",
        f"- width: {arch.width}; cardinality C: {arch.cardinality}; bottleneck width d: "
        f"{arch.bottleneck_width} (group width C*d = {arch.group_width}); stem width: {arch.stem_width}",
        f"- input: {arch.in_channels} x {arch.resolution} x {arch.resolution}; classes: {arch.num_classes}",
        f"- FLOPs: {complexity.flops:,} ({gflops_text(complexity.flops)} GFLOPs, {FLOP_CONVENTION})",
        f"- parameters: {complexity.params:,} ({human_count(complexity.params)}, trainable)",
        f"- activations: {complexity.activations:,} ({human_count(complexity.activations)}, "
        f"{ACTIVATION_CONVENTION})",
        "",
        "## Data and metrics",
        "",
        f"- data set: {prep['dataset']}",
        *_metrics(info),
        _latency(info),
        "",
        "## Training",
        "",
        *_training(info),
        "",
        "## Where it came from",
        "",
        *_provenance(info),
        "",
        "## Preprocessing",
        "",
        prep["description"],
        "",
        f"mean {prep['mean']}, std {prep['std']} (also in preprocessing.json).",
        "",
        "## Files",
        "",
        *(f"- `{name}`: {what}" for name, what in files.items()),
        "",
        *(f"Checked at export: {check}." for check in checks.values()),
        "",
        "## Usage",
        "",
        "```python",
        usage(directory, arch, prep),
        "```",
        "",
    ]
    return "\n".join(lines)

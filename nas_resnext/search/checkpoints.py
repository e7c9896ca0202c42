"""A trial's checkpoints: what one holds, where Ray Tune keeps it, and the weights taken from it.

After every epoch a trial reports a checkpoint through Ray Tune (``tune.report(..., checkpoint=...)``), which
Ray copies into the trial's folder of the run's experiment (``checkpoint_NNNNNN``, the latest two kept). One
checkpoint is a folder of three files:

- ``model.pt``: the model's state dict (the weights a user keeps);
- ``training.pt``: the optimiser's state, the schedule position and the random state (to continue training);
- ``checkpoint.json``: the epoch, the metrics of every epoch so far, and what the weights need to be used
  (architecture, data set, resolution, normalisation, training settings, devices, latency). Written last.

Every ``.pt`` file loads with ``torch.load(weights_only=True)``. A trial started again (``--resume`` after a
killed search, or a retry after a transient failure) continues from its predecessor's latest checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_resnext.atomic import write_text_atomic

if TYPE_CHECKING:
    from nas_resnext.rundir import RunDirectory
    from nas_resnext.training import TrainingState

MODEL_FILE = "model.pt"
TRAINING_FILE = "training.pt"
INFO_FILE = "checkpoint.json"
CHECKPOINTS_KEPT = 2  # the latest and the one before: a checkpoint cut short by a kill leaves one intact


def trial_dirname(number: int, name: str) -> str:
    """The folder of study trial ``number`` (architecture ``name``) in a Ray Tune experiment."""
    return f"trial_{number:05d}_{name}"


def write_checkpoint(directory: Path, state: TrainingState, info: dict[str, Any]) -> None:
    """Write ``state`` and ``info`` (JSON-able; the epoch and history are added) into ``directory``."""
    import torch

    directory = Path(directory)
    torch.save(state.model, directory / MODEL_FILE)
    training = state.to_dict()
    del training["model"]
    torch.save(training, directory / TRAINING_FILE)
    history = training["history"]
    write_text_atomic(
        directory / INFO_FILE,
        json.dumps({**info, "epoch": state.epoch, "step": state.step, "history": history}, indent=1),
    )


def read_info(directory: Path) -> dict[str, Any] | None:
    """The checkpoint's ``checkpoint.json``, or None when the folder holds no complete checkpoint."""
    directory = Path(directory)
    if not all((directory / name).is_file() for name in (MODEL_FILE, TRAINING_FILE, INFO_FILE)):
        return None
    try:
        return json.loads((directory / INFO_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def read_state(directory: Path) -> TrainingState:
    """The training state saved in checkpoint folder ``directory``."""
    import torch

    from nas_resnext.training import TrainingState

    directory = Path(directory)
    training = torch.load(directory / TRAINING_FILE, map_location="cpu", weights_only=True)
    model = torch.load(directory / MODEL_FILE, map_location="cpu", weights_only=True)
    return TrainingState.from_dict({**training, "model": model})


def latest_checkpoint(trial_dir: str | Path | None) -> Path | None:
    """The complete checkpoint of the latest epoch in a trial's folder, or None."""
    if not trial_dir or not Path(trial_dir).is_dir():
        return None
    found = []
    for folder in Path(trial_dir).glob("checkpoint_*"):
        info = read_info(folder)
        if info is not None and isinstance(info.get("epoch"), int):
            found.append((info["epoch"], folder.name, folder))
    return max(found)[2] if found else None


def remove_checkpoints(trial_dir: str | Path | None) -> None:
    """Delete a finished trial's checkpoints (the optimiser state is of no further use; kept weights are
    copied out first). Ray's result files stay."""
    if not trial_dir or not Path(trial_dir).is_dir():
        return
    for folder in Path(trial_dir).glob("checkpoint_*"):
        shutil.rmtree(folder, ignore_errors=True)


def keep_weights(run: RunDirectory, number: int, checkpoint: Path, extra: dict[str, Any]) -> bool:
    """Copy the weights of ``checkpoint`` to the run's kept weights of trial ``number``, with their
    description (the checkpoint's info without its optimiser-side fields, plus ``extra``). False when the
    checkpoint is incomplete."""
    info = read_info(checkpoint)
    if info is None:
        return False
    run.weights_dir.mkdir(exist_ok=True)
    target = run.weights_file(number)
    partial = target.with_name(f".{target.name}.partial")
    shutil.copyfile(checkpoint / MODEL_FILE, partial)
    os.replace(partial, target)
    described = {k: v for k, v in info.items() if k not in ("step", "history")}
    described["epochs"] = described.pop("epoch")
    write_text_atomic(run.weights_info_file(number), json.dumps({**described, **extra}, indent=2) + "\n")
    return True


def drop_weights(run: RunDirectory, number: int) -> None:
    """Delete trial ``number``'s kept weights, if any."""
    for path in (run.weights_info_file(number), run.weights_file(number)):
        path.unlink(missing_ok=True)

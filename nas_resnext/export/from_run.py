"""Exporting a run's kept weights: one trial, or every trial on the run's Pareto front.

The weights are those the search kept in the run directory (``--keep-weights``); a trial without them is
bad input, with the reason (pruned, failed, not on the front, none kept) and how to get them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nas_resnext.architecture import Architecture
from nas_resnext.errors import ConfigError
from nas_resnext.export.bundle import (
    FORMATS,
    ExportResult,
    PreparedModel,
    check_formats,
    check_output_directory,
    prepare_model,
    read_state_dict,
    staged_directory,
    write_bundle,
)

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from nas_resnext.rundir import RunDirectory

TRIAL_FLAG = "--trial"


def trial_directory_name(number: int, name: str) -> str:
    """The sub-directory of front trial ``number`` (architecture ``name``) in an export of the front."""
    return f"trial_{number:05d}_{name}"


def numbers_text(numbers: Sequence[int]) -> str:
    """``[0, 1, 2, 5, 7, 8] -> '0-2, 5, 7-8'``."""
    parts: list[str] = []
    ordered = sorted(set(numbers))
    start = previous = None
    for number in [*ordered, None]:
        if previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    return ", ".join(parts) if parts else "none"


def _trial(trials: Sequence[FrozenTrial], number: int, run: RunDirectory) -> FrozenTrial:
    by_number = {t.number: t for t in trials}
    if number not in by_number:
        kept = run.kept_weights()
        raise ConfigError(
            TRIAL_FLAG,
            number,
            f"a trial of {run.path}: {numbers_text(list(by_number))} (weights kept for {numbers_text(kept)})",
        )
    return by_number[number]


def _missing_weights(run: RunDirectory, trial: FrozenTrial, source: int) -> ConfigError:
    """Why trial ``trial`` (whose weights would be trial ``source``'s) has no kept weights, and what to do."""
    policy = run.load_options().keep_weights
    state = trial.state.name
    retrain = f"nas-resnext retrain {run.path} --trial {trial.number}"
    if state == "FAIL":
        error = trial.user_attrs.get("error") or "no error recorded"
        why = f"trial {trial.number} failed ({error}): it has no weights"
    elif state in ("RUNNING", "WAITING"):
        why = f"trial {trial.number} has not finished ({state}): it has no weights yet"
    elif policy == "none":
        why = f"the run keeps no weights (--keep-weights none); to get trial {trial.number}'s: {retrain}"
    elif state == "PRUNED" and policy == "front":
        epochs = trial.user_attrs.get("epochs", len(trial.user_attrs.get("history") or []))
        trained = f"{epochs} epoch" + ("s" if epochs != 1 else "")
        why = (
            f"trial {trial.number} was stopped early (PRUNED after {trained}) and the run keeps the "
            f"Pareto front's weights only (--keep-weights front); to get them: {retrain}"
        )
    elif policy == "front":
        why = (
            f"trial {trial.number} is not on the Pareto front and the run keeps the front's weights only "
            f"(--keep-weights front); to get them: {retrain}"
        )
    else:
        copy = f" (a copy of trial {source}'s result)" if source != trial.number else ""
        why = (
            f"the weights of trial {trial.number}{copy} are not in the run directory; to get them: {retrain}"
        )
    return ConfigError(TRIAL_FLAG, trial.number, "", note=why)


def _prepared(run: RunDirectory, trial: FrozenTrial) -> PreparedModel:
    """A trial's kept weights, ready to write; no weights is a ConfigError saying why."""
    source = trial.user_attrs.get("reused_from", trial.number)  # a reused result's weights are its source's
    kept = run.read_weights_info(source)
    if kept is None:
        raise _missing_weights(run, trial, source)
    info_file = str(run.weights_info_file(source))
    try:
        arch = Architecture.from_dict(kept.get("architecture"))
    except ConfigError as error:
        raise error.within(info_file, "architecture") from None
    expected = trial.user_attrs.get("name")
    if expected is not None and arch.name != expected:
        raise ConfigError(f"{info_file}: architecture", arch.name, f"{expected}, trial {trial.number}'s")
    weights_file = run.weights_file(source)
    info = {
        **kept,
        "run": str(run.path.resolve()),
        "trial": trial.number,
        "weights_trial": source,
        "state": trial.state.name,
    }
    if info.get("val_accuracy") is None and trial.values:
        info["val_accuracy"] = trial.values[0]
    return prepare_model(arch, read_state_dict(weights_file), info, str(weights_file))


def export_trial(
    run: RunDirectory, number: int, out_dir: str | Path, formats: str | Sequence[str] = FORMATS
) -> ExportResult:
    """Export trial ``number``'s kept weights as a model directory at ``out_dir`` (new or empty).

    An unknown trial, or one without kept weights, is a ConfigError (saying which exist, or why there are
    none); nothing is written unless every file is written and checked.
    """
    formats = check_formats(formats)
    check_output_directory(out_dir, "--output")
    trial = _trial(run.load_trials(), number, run)
    prepared = _prepared(run, trial)
    with staged_directory(Path(out_dir), "--output") as staging:
        result = write_bundle(staging, prepared, formats, final_directory=out_dir)
    return result.moved(staging, Path(out_dir))


def front_trials(run: RunDirectory) -> list[FrozenTrial]:
    """The run's Pareto front: its non-dominated COMPLETE trials, one per architecture, in trial order."""
    from nas_resnext.search.study import pareto_front

    study = run.load_study()
    return pareto_front(study) if study is not None else []


def export_front(
    run: RunDirectory, out_dir: str | Path, formats: str | Sequence[str] = FORMATS
) -> list[ExportResult]:
    """Export every trial on the run's Pareto front into ``out_dir`` (new or empty), one sub-directory
    ``trial_NNNNN_<name>`` each. A front trial without kept weights is a ConfigError; nothing is written
    unless every model is written and checked."""
    formats = check_formats(formats)
    check_output_directory(out_dir, "--output")
    front = front_trials(run)
    if not front:
        raise ConfigError(
            "--front", str(run.path), "", note=f"{run.path} has no COMPLETE trial: no front yet"
        )
    exports = []
    problems = []
    for trial in front:
        try:
            exports.append((trial, _prepared(run, trial)))
        except ConfigError as error:
            problems.append(error.note or str(error))
    if problems:
        raise ConfigError("--front", str(run.path), "", note="; ".join(problems))
    out_dir = Path(out_dir)
    results = []
    with staged_directory(out_dir, "--output") as staging:
        for trial, prepared in exports:
            name = trial_directory_name(trial.number, prepared.arch.name)
            (staging / name).mkdir()
            results.append(write_bundle(staging / name, prepared, formats, out_dir / name))
    return [result.moved(staging, out_dir) for result in results]

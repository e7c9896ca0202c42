"""The report's data: run directories -> one trials table of all runs, and their per-epoch history.

Every view reads the same ``ReportData``: ``table`` holds one row per trial, all runs stacked (``row`` is
the trial's position, which the page uses to share data between views), and ``history`` one row per
trained epoch. A run directory is read only through ``RunDirectory``, which alone knows its file names.

A run never trains the same architecture (with the same training seed) twice: a later draw of it is a
copy, a row whose ``reused_from`` names the trial that trained. The table keeps copies, so the trials table
can show them, but every statistic counts a trained model once: views take their observations from
``trained(table)``, never from the copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from nas_resnext.pareto import losses, pareto_mask
from nas_resnext.rundir import TRIAL_COLUMNS, RunDirectory, RunOptions, trials_table
from nas_resnext.space import DesignSpace
from nas_resnext.tradeoff.plan import TradeoffPlan

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# All columns of a run's trials table (a trade-off study's results read ``seed``, ``error`` and
# ``reused_from`` too), plus where each row came from and what the report adds.
TABLE_COLUMNS = ["row", "run", *TRIAL_COLUMNS, "pareto", "reason"]


@dataclass
class RunMeta:
    """One run directory as the report sees it."""

    name: str
    path: Path
    space: DesignSpace
    options: RunOptions
    plan: TradeoffPlan | None = None  # a trade-off study's plan; None for a search


class ReportData(NamedTuple):
    """All trials of all runs: ``table`` (``TABLE_COLUMNS``) and ``history`` (row, epoch, accuracy)."""

    runs: tuple[RunMeta, ...]
    table: pd.DataFrame
    history: pd.DataFrame


def load_run(path: Path, name: str | None = None) -> tuple[RunMeta, list[FrozenTrial]]:
    """The run's metadata and its Optuna trials; a path that is not a run directory is a ConfigError."""
    run = RunDirectory.open(Path(path), flag="RUN_DIR")
    meta = RunMeta(
        name=name or run.path.resolve().name,
        path=run.path,
        space=run.load_space(),
        options=run.load_options(),
        plan=TradeoffPlan.load(run) if run.is_tradeoff else None,
    )
    return meta, run.load_trials()


def load_report_data(run_dirs: list[Path]) -> ReportData:
    """Load every run directory (names made unique) into one ``ReportData``."""
    runs, tables, histories = [], [], []
    used: set[str] = set()
    for path in run_dirs:
        base = Path(path).resolve().name
        name, k = base, 2
        while name in used:
            name, k = f"{base} ({k})", k + 1
        used.add(name)
        meta, trials = load_run(Path(path), name)
        table = trials_table(trials)
        table.insert(0, "run", name)
        runs.append(meta)
        tables.append(table)
        histories.append(_history_rows(trials).assign(run=name))
    return build_report_data(runs, tables, histories)


def _history_rows(trials: list[FrozenTrial]) -> pd.DataFrame:
    rows = []
    for trial in trials:
        for entry in trial.user_attrs.get("history") or []:
            accuracy = entry.get("val_accuracy")
            if accuracy is not None:
                rows.append({"number": trial.number, "epoch": entry.get("epoch"), "val_accuracy": accuracy})
    return pd.DataFrame(rows, columns=["number", "epoch", "val_accuracy"])


def is_copy(table: pd.DataFrame) -> pd.Series:
    """True for the rows that copy another trial's outcome (a redrawn architecture, not trained again)."""
    return table["reused_from"].notna()


def trained(table: pd.DataFrame) -> pd.DataFrame:
    """The rows that are observations of their own: every trial but the copies."""
    return table[~is_copy(table)]


def one_run(data: ReportData, run: str | None = None) -> str:
    """The run an analysis within one run reads: ``run``, or else the report's only run.

    Analyses that compare sub-spaces (C against width, EDFs by cardinality or depth) stay within one run:
    runs may differ in data set, budget or training, so pooling their accuracies would compare those too.
    """
    names = [meta.name for meta in data.runs]
    if run is None and len(names) == 1:
        return names[0]
    if run is not None and run in names:
        return run
    raise ValueError(f"name one run of {names} to analyse (got {run!r}): runs are compared, never pooled")


def build_report_data(
    runs: list[RunMeta], tables: list[pd.DataFrame], histories: list[pd.DataFrame] | None = None
) -> ReportData:
    """Stack per-run trials tables (``TRIAL_COLUMNS`` plus ``run``) and add the report's columns.

    ``histories`` hold ``run, number, epoch, val_accuracy`` per trained epoch. ``pareto`` marks the COMPLETE
    trials no other trial of the same run dominates on that run's objectives, copies left out (a copy is
    never on a front: its source is); ``reason`` says why a trial did not complete.
    """
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=TABLE_COLUMNS[1:])
    table.insert(0, "row", np.arange(len(table)))
    table["val_accuracy"] = pd.to_numeric(table["val_accuracy"], errors="coerce").astype(float)
    table["latency_ms"] = pd.to_numeric(table["latency_ms"], errors="coerce").astype(float)
    # Runs older than the activations count have none (an empty column); a Pareto panel leaves them out.
    table["activations"] = pd.to_numeric(table["activations"], errors="coerce").astype(float)
    table["pareto"] = False
    for run in runs:
        selected = (table["run"] == run.name) & (table["state"] == "COMPLETE") & ~is_copy(table)
        part = table[selected & table["val_accuracy"].notna()]
        costs = [c for c in run.space.objectives if c != "val_accuracy"]
        if len(part):
            mask = pareto_mask(
                losses(part["val_accuracy"], [part[c].astype(float) for c in costs], [1.0] * len(costs))
            )
            table.loc[part.index[mask], "pareto"] = True
    table["reason"] = [
        _reason(state, error, epochs)
        for state, error, epochs in zip(table["state"], table["error"], table["epochs"], strict=True)
    ]
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    if len(history):
        keys = table[["run", "number", "row"]]
        history = history.merge(keys, on=["run", "number"], how="inner")[["row", "epoch", "val_accuracy"]]
        history = history.sort_values(["row", "epoch"], kind="stable").reset_index(drop=True)
    else:
        history = pd.DataFrame(columns=["row", "epoch", "val_accuracy"])
    return ReportData(tuple(runs), table[TABLE_COLUMNS], history)


def _reason(state: str, error: Any, epochs: Any) -> str:
    if isinstance(error, str) and error:
        return error
    if state == "PRUNED":
        return f"stopped early after {int(epochs) if pd.notna(epochs) else '?'} epochs"
    return "" if state == "COMPLETE" else state.lower()

"""The trials table, and the trial arrays every view shares.

The page holds each trial once, as one array (``DATA_COLUMNS``) indexed by the table's ``row``. Traces
name the rows they show (``meta.rows``) and the page fills their hover data (``HOVER``) from these arrays,
so 10,000 trials are not written once per view.

A copy of another trial stays in the table, shown as one: its ``copy of`` cell names the trial that
trained (``= trial 16``; the CSV keeps the number, as ``trials.csv`` does), and it is never Pareto-optimal.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from nas_resnext.report.data import ReportData, is_copy
from nas_resnext.report.views.plotting import FLOPS_LABEL

# The shared trial arrays: (key, heading in the table, digits kept)
DATA_COLUMNS = [
    ("run", "run", None),
    ("number", "trial", None),
    ("state", "state", None),
    ("name", "name", None),
    ("depths", "depths", None),
    ("width", "width", None),
    ("cardinality", "C", None),
    ("bottleneck_width", "d", None),
    ("group_width", "C·d", None),
    ("gflops", FLOPS_LABEL, 6),
    ("mparams", "Mparams", 4),
    ("mactivations", "Mactivations", 4),
    ("latency_ms", "latency ms", 3),
    ("val_accuracy", "val accuracy", 4),
    ("epochs", "epochs", None),
    ("seconds", "seconds", 1),
    ("pareto", "Pareto", None),
    ("reused_from", "copy of", None),
    ("reason", "not completed because", None),
]
_KEYS = [key for key, _, _ in DATA_COLUMNS]


def _field(key: str) -> str:
    """A trial's value in a hover template: ``customdata`` is the trial's array (``DATA_COLUMNS``)."""
    return f"%{{customdata[{_KEYS.index(key)}]}}"


# Hover text of a trace whose points are trials. Copies are never plotted, so it has no copy line.
HOVER = (
    f"<b>{_field('name')}</b><br>trial {_field('number')} · {_field('run')} · {_field('state')}<br>"
    f"depths {_field('depths')}, width {_field('width')}, C {_field('cardinality')}, "
    f"d {_field('bottleneck_width')}, C·d {_field('group_width')}<br>"
    f"GFLOPs (multiply-adds, fvcore) {_field('gflops')}, Mparams {_field('mparams')}<br>"
    f"val accuracy {_field('val_accuracy')}, epochs {_field('epochs')}<br>{_field('reason')}<extra></extra>"
)


class TrialsInfo(NamedTuple):
    keys: tuple[str, ...]  # column names of the downloaded CSV
    headings: tuple[str, ...]  # column headings of the table
    pareto: int  # position of the Pareto flag in a trial's array
    copy: int  # position of ``reused_from`` (the trial a copy repeats; None for a trained one)
    rows: tuple[tuple[Any, ...], ...]  # one array per trial (``DATA_COLUMNS``), indexed by ``row``
    order: tuple[int, ...]  # rows in the order the table starts with


def trials_info(data: ReportData) -> TrialsInfo:
    """Every trial as an array of plain JSON values, and the table's first order."""
    keys = tuple(key for key, _, _ in DATA_COLUMNS)
    return TrialsInfo(
        keys=keys,
        headings=tuple(heading for _, heading, _ in DATA_COLUMNS),
        pareto=keys.index("pareto"),
        copy=keys.index("reused_from"),
        rows=trial_rows(data),
        order=table_order(data),
    )


def trial_rows(data: ReportData) -> tuple[tuple[Any, ...], ...]:
    """One array per trial (``DATA_COLUMNS``), indexed by the table's ``row``."""
    table = data.table.assign(
        gflops=data.table["flops"] / 1e9,
        mparams=data.table["params"] / 1e6,
        mactivations=data.table["activations"] / 1e6,
    )
    columns = [table[key].astype(object).tolist() for key, _, _ in DATA_COLUMNS]
    digits = [d for _, _, d in DATA_COLUMNS]
    return tuple(
        tuple(_clean(v, d) for v, d in zip(values, digits, strict=True))
        for values in zip(*columns, strict=True)
    )


def table_order(data: ReportData) -> tuple[int, ...]:
    """Rows for the table: Pareto-optimal first, then completed trials, then the rest; by accuracy within,
    each run's copies after its trained models."""
    table = data.table.assign(
        _front=~data.table["pareto"],
        _unfinished=data.table["state"] != "COMPLETE",
        _copy=is_copy(data.table),
        _acc=-data.table["val_accuracy"].fillna(-1.0),
    )
    ordered = table.sort_values(["_front", "_unfinished", "run", "_copy", "_acc", "number"], kind="stable")
    return tuple(int(r) for r in ordered["row"])


def _clean(value: Any, digits: int | None) -> Any:
    """A plain JSON value: numpy scalars as Python ones, NaN/inf/NA as None, floats rounded to ``digits``."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}") if digits and digits > 4 else round(float(value), digits or 6)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)

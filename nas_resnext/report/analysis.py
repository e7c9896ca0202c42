"""The report's analysis: run directories -> one trials table -> a typed info object per view.

Pure: no plotting here. Every view reads the same table (one row per trial, all runs stacked, ``row`` is the
position used by the rendered page to share data between views) and the long ``history`` table (one row per
trained epoch). A run of ``nas-resnext tradeoff`` also carries its plan (``tradeoff.json``), which the
trade-off study view reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from nas_resnext.complexity import FLOP_CONVENTION
from nas_resnext.errors import ConfigError
from nas_resnext.pareto import losses, pareto_mask
from nas_resnext.search.rundir import RUN_DIRECTORY_HOLDS, TRIAL_COLUMNS, trials_table
from nas_resnext.space import DesignSpace
from nas_resnext.tradeoff.plan import PLAN_FILE, TradeoffPlan
from nas_resnext.tradeoff.results import MemberResult, member_results, ranked, reading

FLOPS_LABEL = "GFLOPs (multiply-adds, fvcore)"
COST_LABELS = {"flops": FLOPS_LABEL, "params": "Mparams", "latency_ms": "latency (ms, batch 1)"}
# Costs as shown: flops in G, params in M.
COST_SCALES = {"flops": 1e9, "params": 1e6, "latency_ms": 1.0}
# All trials.csv columns (a trade-off study's results read ``seed``, ``error`` and ``reused_from`` too), plus
# where each row came from and what the analysis adds.
TABLE_COLUMNS = ["row", "run", *TRIAL_COLUMNS, "pareto", "reason"]


@dataclass
class RunMeta:
    """One run directory as the report sees it."""

    name: str
    path: Path
    space: DesignSpace
    options: dict[str, Any] = field(default_factory=dict)  # run.json as stored (older runs lack keys)
    plan: TradeoffPlan | None = None  # a trade-off study's plan (tradeoff.json); None for a search


class ReportData(NamedTuple):
    """All trials of all runs: ``table`` (``TABLE_COLUMNS``) and ``history`` (row, epoch, accuracy)."""

    runs: tuple[RunMeta, ...]
    table: pd.DataFrame
    history: pd.DataFrame


# ---------------------------------------------------------------------------------------------- loading


def load_run(path: Path, name: str | None = None) -> tuple[RunMeta, list[Any]]:
    """The run's metadata and its Optuna trials; a path that is not a run directory is a ConfigError."""
    path = Path(path)
    missing = [f for f in ("space.yaml", "run.json", "study.db") if not (path / f).is_file()]
    if missing:
        raise ConfigError("RUN_DIR", str(path), RUN_DIRECTORY_HOLDS)
    import optuna

    space = DesignSpace.from_file(path / "space.yaml")
    try:
        options = json.loads((path / "run.json").read_text())
    except json.JSONDecodeError as error:
        raise ConfigError("RUN_DIR", str(path / "run.json"), f"valid JSON ({error.msg})") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{(path / 'study.db').resolve()}"
    names = optuna.get_all_study_names(storage)
    if not names:
        raise ConfigError("RUN_DIR", str(path / "study.db"), "an Optuna study written by nas-resnext search")
    study = optuna.load_study(study_name=space.name if space.name in names else names[0], storage=storage)
    plan = TradeoffPlan.load(path) if (path / PLAN_FILE).is_file() else None
    meta = RunMeta(name=name or path.resolve().name, path=path, space=space, options=options, plan=plan)
    return meta, study.get_trials(deepcopy=False)


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
        history = _history_rows(trials)
        runs.append(meta)
        tables.append(table)
        histories.append(history.assign(run=name))
    return build_report_data(runs, tables, histories)


def _history_rows(trials: list[Any]) -> pd.DataFrame:
    rows = []
    for trial in trials:
        for entry in trial.user_attrs.get("history") or []:
            accuracy = entry.get("val_accuracy")
            if accuracy is not None:
                rows.append({"number": trial.number, "epoch": entry.get("epoch"), "val_accuracy": accuracy})
    return pd.DataFrame(rows, columns=["number", "epoch", "val_accuracy"])


def build_report_data(
    runs: list[RunMeta], tables: list[pd.DataFrame], histories: list[pd.DataFrame] | None = None
) -> ReportData:
    """Stack per-run trials tables (``trials.csv`` columns plus ``run``) and add the report's columns.

    ``histories`` hold ``run, number, epoch, val_accuracy`` per trained epoch. ``pareto`` marks the COMPLETE
    trials no other trial of the same run dominates on that run's objectives; ``reason`` says why a trial
    did not complete.
    """
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=TABLE_COLUMNS[1:])
    table.insert(0, "row", np.arange(len(table)))
    table["val_accuracy"] = pd.to_numeric(table["val_accuracy"], errors="coerce").astype(float)
    table["latency_ms"] = pd.to_numeric(table["latency_ms"], errors="coerce").astype(float)
    table["pareto"] = False
    for run in runs:
        selected = (table["run"] == run.name) & (table["state"] == "COMPLETE")
        part = table[selected & table["val_accuracy"].notna()]
        costs = [c for c in run.space.objectives if c != "val_accuracy"]
        if len(part):
            mask = pareto_mask(
                losses(part["val_accuracy"], [part[c].astype(float) for c in costs], [1.0] * len(costs))
            )
            table.loc[part.index[mask], "pareto"] = True
    table["reason"] = [_reason(state, error, epochs) for state, error, epochs in _rows(table)]
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    if len(history):
        keys = table[["run", "number", "row"]]
        history = history.merge(keys, on=["run", "number"], how="inner")[["row", "epoch", "val_accuracy"]]
        history = history.sort_values(["row", "epoch"], kind="stable").reset_index(drop=True)
    else:
        history = pd.DataFrame(columns=["row", "epoch", "val_accuracy"])
    return ReportData(tuple(runs), table[TABLE_COLUMNS], history)


def _rows(table: pd.DataFrame) -> Any:
    return zip(table["state"], table["error"], table["epochs"], strict=True)


def _reason(state: str, error: Any, epochs: Any) -> str:
    if isinstance(error, str) and error:
        return error
    if state == "PRUNED":
        return f"stopped early after {int(epochs) if pd.notna(epochs) else '?'} epochs"
    return "" if state == "COMPLETE" else state.lower()


# ----------------------------------------------------------------------------------------------- header


class HeaderInfo(NamedTuple):
    run: str
    space_file: str
    description: str
    dataset: str
    budget: str
    objectives: tuple[str, ...]
    sampler: str
    scheduler: str
    seed: str
    hardware: str
    versions: tuple[tuple[str, str], ...]
    wall_time: str
    created: str
    counts: tuple[tuple[str, int], ...]  # trials by state, COMPLETE/PRUNED/FAIL first
    flop_convention: str
    study: str = ""  # a trade-off study: what it compares, and its seeds; "" for a search


def header_info(data: ReportData, run: RunMeta) -> HeaderInfo:
    options = run.options
    states = data.table.loc[data.table["run"] == run.name, "state"].value_counts()
    order = ["COMPLETE", "PRUNED", "FAIL", *sorted(set(states.index) - {"COMPLETE", "PRUNED", "FAIL"})]
    wall = options.get("wall_seconds")
    return HeaderInfo(
        run=run.name,
        space_file=str(options.get("space_file") or run.path / "space.yaml"),
        description=run.space.description,
        dataset=run.space.dataset,
        budget=run.space.budget.describe(),
        objectives=tuple(run.space.objectives),
        sampler=str(options.get("sampler", "?")),
        scheduler=str(options.get("scheduler", "?")),
        seed=str(options.get("seed", "?")),
        hardware=str(options.get("hardware") or "not recorded"),
        versions=tuple((str(k), str(v)) for k, v in (options.get("versions") or {}).items()),
        wall_time=format_duration(wall) if wall else "not recorded",
        created=str(options.get("created") or options.get("updated") or ""),
        counts=tuple((state, int(states.get(state, 0))) for state in order),
        flop_convention=f"GFLOPs: {FLOP_CONVENTION}",
        study=_study_text(run.plan) if run.plan is not None else "",
    )


def _study_text(plan: TradeoffPlan) -> str:
    seeds = ", ".join(map(str, plan.seed_values))
    return f"{plan.describe()}; {plan.seeds} seed{'s' if plan.seeds > 1 else ''} each ({seeds})"


def format_duration(seconds: float) -> str:
    seconds = round(float(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# ----------------------------------------------------------------------------------------- Pareto front


class ParetoRun(NamedTuple):
    run: str
    front: tuple[int, ...]  # rows on this panel's 2-D front, by increasing cost
    dominated: tuple[int, ...]  # other COMPLETE rows
    pruned: tuple[int, ...]  # PRUNED rows with an accuracy (their last epoch's)
    failed: tuple[tuple[int, str], ...]  # rows without an accuracy to plot, and why


class ParetoInfo(NamedTuple):
    cost: str  # column of the table
    label: str
    scale: float  # the column divided by this is what the axis shows
    log_x: bool
    budget: tuple[float, ...]  # vertical budget lines, in axis units
    runs: tuple[ParetoRun, ...]


def pareto_infos(data: ReportData) -> list[ParetoInfo]:
    """One panel per cost that was measured: accuracy vs GFLOPs, Mparams and latency."""
    table = data.table
    infos = []
    for cost in ("flops", "params", "latency_ms"):
        if table[cost].notna().sum() == 0:
            continue
        runs = tuple(_pareto_run(table[table["run"] == run.name], run.name, cost) for run in data.runs)
        # Every run's limits (runs over one space share them, so one line each).
        budget: set[float] = set()
        for run in data.runs:
            b = run.space.budget
            if cost == "flops":
                budget.update(v for v in (b.min_gflops, b.max_gflops) if v is not None)
            elif cost == "params" and b.max_mparams is not None:
                budget.add(b.max_mparams)
        infos.append(
            ParetoInfo(
                cost, COST_LABELS[cost], COST_SCALES[cost], cost != "latency_ms", tuple(sorted(budget)), runs
            )
        )
    return infos


def _pareto_run(table: pd.DataFrame, run: str, cost: str) -> ParetoRun:
    has_point = table["val_accuracy"].notna() & table[cost].notna()
    complete = table[(table["state"] == "COMPLETE") & has_point]
    mask = pareto_mask(losses(complete["val_accuracy"], [complete[cost].astype(float)], [1.0]))
    front = complete[mask].sort_values([cost, "val_accuracy"], ascending=[True, False], kind="stable")
    pruned = table[(table["state"] == "PRUNED") & has_point]
    others = table[~table.index.isin(complete.index) & ~table.index.isin(pruned.index)]
    return ParetoRun(
        run=run,
        front=tuple(int(r) for r in front["row"]),
        dominated=tuple(int(r) for r in complete.loc[~mask, "row"]),
        pruned=tuple(int(r) for r in pruned["row"]),
        failed=tuple(
            (int(r), str(reason)) for r, reason in zip(others["row"], others["reason"], strict=True)
        ),
    )


# --------------------------------------------------------------------------------- C vs width trade-off


class CardinalityStats(NamedTuple):
    cardinality: int
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    group_widths: tuple[int, ...]
    bottleneck_widths: tuple[int, ...]


class ComplexityBin(NamedTuple):
    low_gflops: float
    high_gflops: float
    groups: tuple[CardinalityStats, ...]


class TradeoffInfo(NamedTuple):
    bins: tuple[ComplexityBin, ...]  # every bin that holds a COMPLETE trial
    slope: float | None  # accuracy change (points of %) per doubling of C at matched complexity
    ci_low: float | None
    ci_high: float | None
    n: int  # trials in bins that compare at least two cardinalities
    answer: str


def complexity_bin_edges(flops: np.ndarray, ratio: float = math.sqrt(2)) -> np.ndarray:
    """Edges at powers of ``ratio``: each bin spans one factor of ``ratio`` in FLOPs ("matched")."""
    exponents = np.floor(np.log(flops) / np.log(ratio))
    return np.arange(exponents.min(), exponents.max() + 2)


def tradeoff_info(
    data: ReportData, ratio: float = math.sqrt(2), resamples: int = 1000, confidence: float = 0.9
) -> TradeoffInfo:
    """Accuracy against cardinality within complexity bins (factor ``ratio`` wide), with bootstrap CIs.

    The answer is the pooled within-bin least-squares slope of accuracy on log2(C): bins remove the
    complexity difference, so a positive slope says "at this budget spend it on cardinality", a negative one
    "on width (fewer, wider groups)". Its CI comes from resampling trials within each bin.
    """
    table = data.table
    done = table[(table["state"] == "COMPLETE") & table["val_accuracy"].notna() & table["flops"].notna()]
    done = done[done["cardinality"].notna()]
    if done.empty:
        return TradeoffInfo((), None, None, None, 0, "Not enough data: no completed trials.")
    flops = done["flops"].astype(float).to_numpy()
    bin_of = np.floor(np.log(flops) / np.log(ratio)).astype(int)
    rng = np.random.default_rng(0)
    bins, samples = [], []
    for b in np.unique(bin_of):
        part = done[bin_of == b]
        groups = tuple(
            _cardinality_stats(int(c), part[part["cardinality"] == c], rng, resamples, confidence)
            for c in sorted(part["cardinality"].astype(int).unique())
        )
        bins.append(ComplexityBin(ratio**b / 1e9, ratio ** (b + 1) / 1e9, groups))
        if len(groups) >= 2:
            samples.append(
                (np.log2(part["cardinality"].astype(float).to_numpy()), part["val_accuracy"].to_numpy() * 100)
            )
    n = sum(len(x) for x, _ in samples)
    if not samples or n < 6:
        return TradeoffInfo(
            tuple(bins),
            None,
            None,
            None,
            n,
            "Not enough data: fewer than 6 completed trials share a complexity bin with a trial of another "
            f"cardinality ({n} do). Run more trials to compare C and width at matched complexity.",
        )
    slope = _pooled_slope(samples)
    boot = []
    for _ in range(resamples):
        drawn = []
        for x, y in samples:
            pick = rng.integers(0, len(x), len(x))
            drawn.append((x[pick], y[pick]))
        value = _pooled_slope(drawn)
        if value is not None:
            boot.append(value)
    alpha = (1 - confidence) / 2
    low, high = (float(v) for v in np.quantile(boot, [alpha, 1 - alpha]))
    where = f"{n} trials in {len(samples)} complexity bin{'s' if len(samples) > 1 else ''}"
    interval = (
        f"{slope:+.2f} points of accuracy per doubling of C "
        f"({confidence:.0%} CI {low:+.2f} to {high:+.2f}; {where})"
    )
    if low > 0:
        answer = f"At matched complexity, more cardinality helped: {interval}. Spend the budget on C."
    elif high < 0:
        answer = (
            f"At matched complexity, more cardinality hurt: {interval}. "
            "Spend the budget on width (fewer, wider groups)."
        )
    else:
        answer = (
            f"At matched complexity the data do not separate C from width: {interval}; "
            "the interval includes 0."
        )
    return TradeoffInfo(tuple(bins), slope, low, high, n, answer)


def _pooled_slope(samples: list[tuple[np.ndarray, np.ndarray]]) -> float | None:
    sxy = sxx = 0.0
    for x, y in samples:
        xc = x - x.mean()
        sxy += float(xc @ (y - y.mean()))
        sxx += float(xc @ xc)
    return sxy / sxx if sxx > 0 else None


def _cardinality_stats(
    cardinality: int, part: pd.DataFrame, rng: np.random.Generator, resamples: int, confidence: float
) -> CardinalityStats:
    accuracy = part["val_accuracy"].to_numpy() * 100
    mean = float(accuracy.mean())
    std = float(accuracy.std(ddof=1)) if len(accuracy) > 1 else 0.0
    if len(accuracy) > 1:
        means = rng.choice(accuracy, (resamples, len(accuracy))).mean(axis=1)
        alpha = (1 - confidence) / 2
        low, high = (float(v) for v in np.quantile(means, [alpha, 1 - alpha]))
    else:
        low = high = mean
    return CardinalityStats(
        cardinality,
        len(accuracy),
        mean,
        std,
        low,
        high,
        tuple(sorted(int(v) for v in part["group_width"].dropna().unique())),
        tuple(sorted(int(v) for v in part["bottleneck_width"].dropna().unique())),
    )


# --------------------------------------------------------------------------------------------------- EDFs


class EdfCurve(NamedTuple):
    label: str
    n: int
    errors: tuple[float, ...]  # sorted error (1 - accuracy)
    cdf: tuple[float, ...]  # normalised cumulative weight at each error


class EdfInfo(NamedTuple):
    grouping: str  # "cardinality", "depths" or "run"
    curves: tuple[EdfCurve, ...]
    note: str


def edf_info(data: ReportData, grouping: str, bins: int = 8) -> EdfInfo:
    """Complexity-normalised error EDFs of sub-spaces (Radosavovic et al., 2019).

    Each trial is weighted so that every sub-space's distribution over log-FLOPs bins matches the pooled
    one: weight = pooled share of the trial's bin / the sub-space's count in that bin. Bins a sub-space has
    no trial in are left out of its curve and the rest renormalised.
    """
    table = data.table
    done = table[(table["state"] == "COMPLETE") & table["val_accuracy"].notna() & table["flops"].notna()]
    done = done[done[grouping].notna()]
    if done[grouping].nunique() < 2:
        return EdfInfo(grouping, (), f"Needs completed trials in at least two groups by {grouping}.")
    log_flops = np.log(done["flops"].astype(float).to_numpy())
    low, high = log_flops.min(), log_flops.max()
    if high > low:
        bin_of = np.minimum(((log_flops - low) / (high - low) * bins).astype(int), bins - 1)
    else:
        bin_of = np.zeros(len(done), dtype=int)
    pooled = np.bincount(bin_of, minlength=bins) / len(done)
    curves = []
    keys = done[grouping].to_numpy()
    for key in _sorted_keys(done[grouping].unique()):
        mine = keys == key
        counts = np.bincount(bin_of[mine], minlength=bins)
        weights = pooled[bin_of[mine]] / counts[bin_of[mine]]
        weights = weights / weights.sum()
        errors = 1.0 - done.loc[mine, "val_accuracy"].to_numpy()
        order = np.argsort(errors, kind="stable")
        label = f"{_group_label(grouping, key)} (n={int(mine.sum())})"
        curves.append(
            EdfCurve(
                label,
                int(mine.sum()),
                tuple(float(e) for e in errors[order]),
                tuple(float(c) for c in np.cumsum(weights[order])),
            )
        )
    note = "Weighted so that each group's GFLOPs distribution matches the pooled one (8 log-spaced bins)."
    return EdfInfo(grouping, tuple(curves), note)


def _sorted_keys(keys: Any) -> list[Any]:
    try:
        return sorted(keys, key=lambda k: (float(k), str(k)))
    except (TypeError, ValueError):
        return sorted(keys, key=str)


def _group_label(grouping: str, key: Any) -> str:
    return {"cardinality": f"C={key}", "depths": f"depths {key}"}.get(grouping, str(key))


# ---------------------------------------------------------------------------------- parameter importance


class ImportanceInfo(NamedTuple):
    run: str
    objective: str
    importances: tuple[tuple[str, float], ...]  # (axis, importance), largest first; empty with a message
    message: str


MIN_IMPORTANCE_TRIALS = 5
IMPORTANCE_AXES = ("depths", "width", "cardinality", "bottleneck_width")


def importance_infos(data: ReportData, max_trials: int = 1000) -> list[ImportanceInfo]:
    """fANOVA importance of each axis for each objective of each run, on the axes' natural values.

    The study's own parameters are the sampler's quantiles (positions within each axis); importance is
    asked of the architecture axes themselves, so the trials are re-expressed with natural distributions in
    an in-memory study. Above ``max_trials`` a seeded sample keeps the random forest fast.
    """
    infos = []
    for run in data.runs:
        table = data.table
        part = table[(table["run"] == run.name) & (table["state"] == "COMPLETE")]
        part = part.dropna(subset=["val_accuracy", *IMPORTANCE_AXES])
        for i, objective in enumerate(run.space.objectives):
            usable = part[part[objective].notna()]
            if len(usable) < MIN_IMPORTANCE_TRIALS:
                infos.append(
                    ImportanceInfo(
                        run.name,
                        objective,
                        (),
                        f"Not enough completed trials for importance ({len(usable)}; needs "
                        f"{MIN_IMPORTANCE_TRIALS}).",
                    )
                )
                continue
            if len(usable) > max_trials:
                usable = usable.sample(max_trials, random_state=0)
            infos.append(_importance(run.name, objective, usable, i))
    return infos


def _importance(run: str, objective: str, usable: pd.DataFrame, index: int) -> ImportanceInfo:
    import optuna
    from optuna.distributions import CategoricalDistribution, IntDistribution

    distributions: dict[str, Any] = {}
    for axis in IMPORTANCE_AXES:
        values = usable[axis]
        if values.nunique() < 2:
            continue  # an axis that never varied explains nothing
        if axis == "depths":
            distributions[axis] = CategoricalDistribution(sorted(values.astype(str).unique()))
        else:
            low, high = int(values.min()), int(values.max())
            distributions[axis] = IntDistribution(low, high, log=high >= 4 * low)
    if not distributions:
        return ImportanceInfo(run, objective, (), "No axis varied across the completed trials.")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if objective == "val_accuracy" else "minimize")
    for _, row in usable.iterrows():
        params = {a: (str(row[a]) if a == "depths" else int(row[a])) for a in distributions}
        study.add_trial(
            optuna.trial.create_trial(params=params, distributions=distributions, value=float(row[objective]))
        )
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=32, seed=0)
        result = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)
    except (RuntimeError, ValueError) as error:
        return ImportanceInfo(run, objective, (), f"Importance could not be computed: {error}")
    return ImportanceInfo(run, objective, tuple((k, float(v)) for k, v in result.items()), "")


# ------------------------------------------------------------------------------------- learning curves


class CurvesInfo(NamedTuple):
    complete: tuple[int, ...]  # rows with a history that completed
    stopped: tuple[int, ...]  # rows stopped early (PRUNED) or failed after some epochs
    epochs: int  # the most epochs any trial trained


def curves_info(data: ReportData) -> CurvesInfo:
    rows = set(data.history["row"].astype(int))
    table = data.table[data.table["row"].isin(rows)]
    max_epoch = data.history["epoch"].max() if len(data.history) else 0
    return CurvesInfo(
        tuple(int(r) for r in table.loc[table["state"] == "COMPLETE", "row"]),
        tuple(int(r) for r in table.loc[table["state"] != "COMPLETE", "row"]),
        int(max_epoch) if pd.notna(max_epoch) else 0,
    )


# ------------------------------------------------------------------------------------------ trials table


def table_order(data: ReportData) -> tuple[int, ...]:
    """Rows for the table: Pareto-optimal first, then completed trials, then the rest; by accuracy within."""
    table = data.table.assign(
        _front=~data.table["pareto"],
        _unfinished=data.table["state"] != "COMPLETE",
        _acc=-data.table["val_accuracy"].fillna(-1.0),
    )
    ordered = table.sort_values(["_front", "_unfinished", "run", "_acc", "number"], kind="stable")
    return tuple(int(r) for r in ordered["row"])


# ------------------------------------------------------------------------------------ trade-off study


class MemberCurve(NamedTuple):
    """One member's learning curve: validation error per epoch over its completed seeds."""

    label: str
    epochs: tuple[int, ...]
    mean: tuple[float, ...]  # validation error (fraction), mean over the seeds that reached the epoch
    std: tuple[float | None, ...]  # sample standard deviation over seeds; None with fewer than two
    seeds: tuple[int, ...]  # how many seeds reached each epoch


class StudyInfo(NamedTuple):
    """A trade-off study (one run with a plan): the paper's Table 3 and Figure 5 for its members."""

    run: str
    description: str
    axis: str  # the varied axis, or "spending"
    match: str  # "flops" or "params"
    target: str  # the matched complexity in words
    seeds: int  # seeds planned per member
    members: tuple[MemberResult, ...]  # in plan order
    best: int | None  # index of the member with the lowest mean error; None when none completed a seed
    reading: str
    curves: tuple[MemberCurve, ...]  # in plan order, one per member (empty curves for members without one)


def study_infos(data: ReportData) -> tuple[StudyInfo, ...]:
    """One ``StudyInfo`` per run that holds a trade-off plan, in the order of ``data.runs``."""
    return tuple(_study_info(data, run, run.plan) for run in data.runs if run.plan is not None)


def _study_info(data: ReportData, run: RunMeta, plan: TradeoffPlan) -> StudyInfo:
    part = data.table[data.table["run"] == run.name]
    results = member_results(plan, part)
    order = ranked(results)
    curves = tuple(
        _member_curve(data.history, plan.label(i), _completed_rows(part, m.arch.name, plan.seed_values))
        for i, m in enumerate(plan.members)
    )
    return StudyInfo(
        run=run.name,
        description=plan.describe(),
        axis=plan.axis,
        match=plan.match,
        target=plan.target_text(),
        seeds=plan.seeds,
        members=tuple(results),
        best=order[0].index if order else None,
        reading=reading(plan, results),
        curves=curves,
    )


def _completed_rows(part: pd.DataFrame, name: str, seeds: tuple[int, ...]) -> list[int]:
    """The rows whose errors ``member_results`` counts: per planned seed, the first COMPLETE trial that was
    trained (a reused trial copies another's history, so it would count that training run twice)."""
    done = part[(part["name"] == name) & (part["state"] == "COMPLETE") & part["val_accuracy"].notna()]
    done = done[done["reused_from"].isna()]
    seed = pd.to_numeric(done["seed"], errors="coerce")
    return [int(done.loc[seed == s, "row"].iloc[0]) for s in seeds if (seed == s).any()]


def _member_curve(history: pd.DataFrame, label: str, rows: list[int]) -> MemberCurve:
    mine = history[history["row"].isin(rows)]
    errors = (1.0 - mine["val_accuracy"].astype(float)).groupby(mine["epoch"].astype(int))
    stats = errors.agg(["mean", "std", "count"]).sort_index()
    return MemberCurve(
        label,
        tuple(int(e) for e in stats.index),
        tuple(float(v) for v in stats["mean"]),
        tuple(float(v) if n > 1 else None for v, n in zip(stats["std"], stats["count"], strict=True)),
        tuple(int(n) for n in stats["count"]),
    )


# ------------------------------------------------------------------------------------------ all together


class ReportInfo(NamedTuple):
    data: ReportData
    headers: tuple[HeaderInfo, ...]
    studies: tuple[StudyInfo, ...]  # one per trade-off run; empty for searches
    pareto: tuple[ParetoInfo, ...]
    tradeoff: TradeoffInfo
    edfs: tuple[EdfInfo, ...]
    importance: tuple[ImportanceInfo, ...]
    curves: CurvesInfo
    order: tuple[int, ...]


def analyse(data: ReportData) -> ReportInfo:
    """Every view's info from one ``ReportData``."""
    groupings = (["run"] if len(data.runs) > 1 else []) + ["cardinality", "depths"]
    return ReportInfo(
        data=data,
        headers=tuple(header_info(data, run) for run in data.runs),
        studies=study_infos(data),
        pareto=tuple(pareto_infos(data)),
        tradeoff=tradeoff_info(data),
        edfs=tuple(edf_info(data, g) for g in groupings),
        importance=tuple(importance_infos(data)),
        curves=curves_info(data),
        order=table_order(data),
    )

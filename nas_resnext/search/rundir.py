"""The run directory: everything one search keeps, self-describing.

RUN/space.yaml    the resolved design space (flags applied)
RUN/run.json      how the search runs: trials, sampler, scheduler, execution options, versions
RUN/study.db      the Optuna study (SQLite): the search's history
RUN/ray/          the Ray Tune experiments (one per start or resume)
RUN/trials.csv    one row per trial, rewritten as trials finish
RUN/tradeoff.json a trade-off study's plan (members and seeds; only in runs of nas-resnext tradeoff)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.errors import ConfigError
from nas_resnext.space import DesignSpace

RUN_DIRECTORY_HOLDS = (
    "a run directory made by nas-resnext search or tradeoff (with space.yaml, run.json and study.db)"
)
TRIAL_COLUMNS = [
    "number",
    "state",
    "name",
    "depths",
    "width",
    "cardinality",
    "bottleneck_width",
    "group_width",
    "seed",
    "flops",
    "params",
    "latency_ms",
    "val_accuracy",
    "epochs",
    "seconds",
    "error",
    "reused_from",
]


@dataclass
class RunOptions:
    """How a search runs (besides the space): stored in run.json and reused by --resume."""

    trials: int
    sampler: str
    scheduler: str
    seed: int
    kind: str = "search"  # or "tradeoff": a trade-off study (its plan in tradeoff.json)
    ray_address: str | None = None
    storage_path: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    grace_period: int = 1
    reduction_factor: int = 3
    selection: str = (
        "crowding"  # moasha: order within a front by crowding distance or hypervolume contribution
    )
    space_file: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    hardware: str = ""  # where the search ran (driver's view), for the report's header
    created: str = ""
    wall_seconds: float = 0.0  # summed over the start and every resume


def hardware_description() -> str:
    """CPU count and GPUs visible to the process that runs the search."""
    import torch

    parts = [f"{platform.machine()} {os.cpu_count()} CPUs", f"torch {torch.__version__}"]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        parts.append("CUDA: " + ", ".join(names))
    return "; ".join(parts)


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("nas-resnext", "torch", "optuna", "ray", "fvcore", "pandas", "plotly"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


@dataclass
class RunDirectory:
    path: Path

    @property
    def space_file(self) -> Path:
        return self.path / "space.yaml"

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def study_file(self) -> Path:
        return self.path / "study.db"

    @property
    def trials_file(self) -> Path:
        return self.path / "trials.csv"

    @property
    def ray_dir(self) -> Path:
        return self.path / "ray"

    @property
    def plan_file(self) -> Path:
        from nas_resnext.tradeoff.plan import PLAN_FILE

        return self.path / PLAN_FILE

    @property
    def is_tradeoff(self) -> bool:
        return self.plan_file.is_file()

    @staticmethod
    def check_new(path: Path) -> None:
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ConfigError(
                "--run-dir", str(path), "a new or empty directory (use --resume RUN_DIR to continue a run)"
            )

    @classmethod
    def create(cls, path: Path, space: DesignSpace, options: RunOptions) -> RunDirectory:
        """Make the directory and write the resolved space and options (call after all validation)."""
        import yaml

        cls.check_new(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.space_file.write_text(
            "# The resolved design space of this run (flags applied); nas-resnext space can read it.\n"
            + yaml.safe_dump(space.to_dict(), sort_keys=False)
        )
        run.save_options(options)
        return run

    @classmethod
    def open(cls, path: Path) -> RunDirectory:
        run = cls(path)
        if not run.run_file.is_file() or not run.space_file.is_file():
            raise ConfigError(
                "--resume",
                str(path),
                RUN_DIRECTORY_HOLDS,
            )
        return run

    def load_space(self) -> DesignSpace:
        return DesignSpace.from_file(self.space_file)

    def load_options(self) -> RunOptions:
        data = json.loads(self.run_file.read_text())
        known = {k: v for k, v in data.items() if k in RunOptions.__dataclass_fields__}
        return RunOptions(**known)

    def save_options(self, options: RunOptions) -> None:
        data = asdict(options)
        data["updated"] = dt.datetime.now().isoformat(timespec="seconds")
        _atomic_write(self.run_file, json.dumps(data, indent=2) + "\n")

    def write_trials(self, trials: list[FrozenTrial]) -> pd.DataFrame:
        table = trials_table(trials)
        _atomic_write(self.trials_file, table.to_csv(index=False))
        return table


def _atomic_write(path: Path, text: str) -> None:
    # A search killed mid-write must leave the previous complete file, never half of a new one.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _last_accuracy(trial: FrozenTrial) -> float | None:
    if trial.state == TrialState.COMPLETE and trial.values:
        return trial.values[0]
    history = trial.user_attrs.get("history") or []
    return history[-1].get("val_accuracy") if history else None


def trials_table(trials: list[FrozenTrial]) -> pd.DataFrame:
    """One row per trial, columns ``TRIAL_COLUMNS``; a PRUNED trial's accuracy is that of its last epoch."""
    rows = []
    for trial in trials:
        if trial.state == TrialState.WAITING:  # queued (e.g. a re-run), not started yet
            continue
        attrs = trial.user_attrs
        rows.append(
            {
                "number": trial.number,
                "state": trial.state.name,
                "name": attrs.get("name"),
                "depths": ",".join(map(str, attrs["depths"])) if "depths" in attrs else None,
                "width": attrs.get("width"),
                "cardinality": attrs.get("cardinality"),
                "bottleneck_width": attrs.get("bottleneck_width"),
                "group_width": attrs.get("group_width"),
                "seed": attrs.get("seed"),
                "flops": attrs.get("flops"),
                "params": attrs.get("params"),
                "latency_ms": attrs.get("latency_ms"),
                "val_accuracy": _last_accuracy(trial),
                "epochs": attrs.get("epochs", 0),
                "seconds": attrs.get("seconds"),
                "error": attrs.get("error"),
                "reused_from": attrs.get("reused_from"),
            }
        )
    table = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    # Nullable integers keep "4" from printing as "4.0" in rows that lack a value.
    for column in (
        "width",
        "cardinality",
        "bottleneck_width",
        "group_width",
        "seed",
        "flops",
        "params",
        "epochs",
        "reused_from",
    ):
        table[column] = table[column].astype("Int64")
    return table

"""The run directory: everything one search or trade-off study keeps, self-describing.

RUN/space.yaml    the resolved design space (flags applied)
RUN/run.json      how the run runs: trials, sampler, scheduler, execution options, versions
RUN/study.db      the Optuna study (SQLite): the run's history; a run started with --storage keeps its study
                  in that database instead, under a name of its own (both recorded in run.json)
RUN/ray/          the Ray Tune experiments (one per start or resume)
RUN/trials.csv    one row per trial, rewritten as trials finish
RUN/weights/      kept trained weights (--keep-weights): trial_NNNNN.pt, a state dict, and trial_NNNNN.json,
                  what a user of the weights needs (architecture, preprocessing, metrics, training)
RUN/retrained/    model directories of final trainings (nas-resnext retrain), unless -o says elsewhere
RUN/tradeoff.json a trade-off study's plan (members and seeds; only in runs of nas-resnext tradeoff)
RUN/run.lock      while a search, resume or trade-off study runs: who holds the run (host, process, start)

This module alone knows these names; every other module asks a :class:`RunDirectory` for its paths. A run
is a trade-off study exactly when it holds a plan.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nas_resnext.atomic import write_text_atomic
from nas_resnext.errors import ConfigError
from nas_resnext.run_lock import hold_lock
from nas_resnext.space import DesignSpace

if TYPE_CHECKING:
    import pandas as pd
    from optuna.trial import FrozenTrial

SPACE_FILE = "space.yaml"
RUN_FILE = "run.json"
STUDY_FILE = "study.db"
TRIALS_FILE = "trials.csv"
RAY_DIR = "ray"
PLAN_FILE = "tradeoff.json"
LOCK_FILE = "run.lock"
WEIGHTS_DIR = "weights"
RETRAINED_DIR = "retrained"
KEEP_WEIGHTS = ("front", "all", "none")
RUN_DIRECTORY_HOLDS = (
    f"a run directory made by nas-resnext search or tradeoff (with {SPACE_FILE}, {RUN_FILE} and {STUDY_FILE} "
    "or the --storage database its run.json names)"
)
TRADEOFF_RUN_HOLDS = (
    f"a run directory made by nas-resnext tradeoff (with {SPACE_FILE}, {RUN_FILE}, {STUDY_FILE} or the "
    f"--storage database its run.json names, and {PLAN_FILE})"
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
    "activations",
    "latency_ms",
    "val_accuracy",
    "epochs",
    "seconds",
    "error",
    "reused_from",
    "attempt",
    "node",
    "start_epoch",
]
# Columns copied from the trial's user attributes as they are: those from width to latency_ms.
_ATTRIBUTE_COLUMNS = tuple(
    TRIAL_COLUMNS[TRIAL_COLUMNS.index("width") : TRIAL_COLUMNS.index("latency_ms") + 1]
)
# Nullable integers keep "4" from printing as "4.0" in rows that lack a value.
_INTEGER_COLUMNS = (
    *(c for c in _ATTRIBUTE_COLUMNS if c != "latency_ms"),
    "epochs",
    "reused_from",
    "attempt",
    "start_epoch",
)


@dataclass
class RunOptions:
    """How a run runs (besides the space): stored in run.json and reused by --resume."""

    trials: int
    sampler: str
    scheduler: str
    seed: int
    ray_address: str | None = None
    storage_path: str | None = None
    # --storage: the database that holds the study, as a URL without its password (None: RUN/study.db), and
    # the study's name there (None: the space's name, as in RUN/study.db); both fixed when the run starts
    study_storage: str | None = None
    study_name: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    # transient failures (a lost worker or node, out of memory, an OS or connection error) trained again
    retries: int = 2
    # the cluster adds nodes on demand: per-trial resources no node has yet are not refused
    autoscaling: bool = False
    grace_period: int = 1
    reduction_factor: int = 3
    # moasha: order within a front by crowding distance or hypervolume contribution
    selection: str = "crowding"
    # moasha: where a result on its rung's Pareto front goes on past the quota (filling | upper | all | none)
    front_grace: str = "filling"
    # whose trained weights stay in RUN/weights: the final Pareto front's, every trained trial's, or none
    keep_weights: str = "front"
    space_file: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    hardware: str = ""  # where the run ran (driver's view), for the report's header
    created: str = ""
    updated: str = ""  # set whenever the options are saved
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
    """Versions of Python and of the packages a run's results depend on."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("nas-resnext", "torch", "optuna", "ray", "fvcore", "pandas", "plotly"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


class _InRun:
    """A read-only attribute: the path of one of the run's files or folders (on the class, its name)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, run: RunDirectory | None, owner: type) -> Path:
        return Path(self.name) if run is None else run.path / self.name


@dataclass(frozen=True)
class RunDirectory:
    """One run's folder. ``flag`` names the command-line argument that gave it, for error messages."""

    path: Path
    flag: str = field(default="--resume", compare=False)

    space_file = _InRun(SPACE_FILE)
    run_file = _InRun(RUN_FILE)
    study_file = _InRun(STUDY_FILE)
    trials_file = _InRun(TRIALS_FILE)
    ray_dir = _InRun(RAY_DIR)
    plan_file = _InRun(PLAN_FILE)
    lock_file = _InRun(LOCK_FILE)
    weights_dir = _InRun(WEIGHTS_DIR)
    retrained_dir = _InRun(RETRAINED_DIR)

    def _recorded_options(self) -> RunOptions | None:
        return self.load_options() if self.run_file.is_file() else None

    @property
    def storage_url(self) -> str:
        """The study's storage, as Optuna's RDB storage takes it: the database run.json records (a run started
        with ``--storage``; its password from the environment, or the command line of this very start) or
        ``RUN/study.db``. A recorded database that cannot be opened is bad input naming run.json's field."""
        return self._storage_url(self._recorded_options())

    def _storage_url(self, options: RunOptions | None) -> str:
        from nas_resnext.search.study import StudyStorage

        if options is None or options.study_storage is None:
            return f"sqlite:///{self.study_file.resolve()}"
        return StudyStorage(options.study_storage, field="study_storage", source=str(self.run_file))

    @property
    def study_name(self) -> str:
        """The run's study in its storage: the name recorded by a run started with ``--storage`` (whose
        database other runs share), else the space's name."""
        return self._study_name(self._recorded_options(), self.load_space())

    @staticmethod
    def _study_name(options: RunOptions | None, space: DesignSpace) -> str:
        return options.study_name if options is not None and options.study_name else space.name

    @property
    def study_description(self) -> str:
        """What the study is (for optuna-dashboard and the optuna CLI): the space's description, the run."""
        return self._study_description(self.load_space())

    def _study_description(self, space: DesignSpace) -> str:
        from nas_resnext.search.study import study_description

        return study_description(space.description, space.name, self.path)

    @property
    def has_shared_storage(self) -> bool:
        """Whether the study is in a ``--storage`` database (which other runs may share)."""
        options = self._recorded_options()
        return options is not None and options.study_storage is not None

    def open_study(self, sampler: Any = None) -> Any:
        """The run's Optuna study, created on first use (directions from the space's objectives)."""
        from nas_resnext.search.study import open_study

        options, space = self._recorded_options(), self.load_space()
        return open_study(
            self._storage_url(options),
            self._study_name(options, space),
            space.objectives,
            sampler,
            self._study_description(space),
        )

    def load_study(self) -> Any:
        """The run's Optuna study as it is, or None when it has none yet."""
        from nas_resnext.search.study import load_study

        options = self._recorded_options()
        shared = options is not None and options.study_storage is not None
        if not (shared or self.study_file.is_file()):
            return None
        url, name = self._storage_url(options), self._study_name(options, self.load_space())
        return load_study(url, name, shared=shared)

    @staticmethod
    def new_study_name(space_name: str, path: Path) -> str:
        """The study name of a new run with ``--storage`` at ``path``: unique among runs sharing a database
        as long as their directories' names differ (the default names hold the space's name and the time)."""
        directory = Path(path).resolve().name
        return directory if directory.startswith(space_name) else f"{space_name}-{directory}"

    @property
    def is_tradeoff(self) -> bool:
        """Whether the run is a trade-off study (it holds a plan)."""
        return self.plan_file.is_file()

    # -- making and opening ----------------------------------------------------------------------

    @staticmethod
    def check_new(path: Path, flag: str = "--run-dir") -> None:
        """Refuse a path that holds anything: a new run never writes over another."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ConfigError(
                flag, str(path), "a new or empty directory (use --resume RUN_DIR to continue a run)"
            )

    @classmethod
    def create(
        cls, path: Path, space: DesignSpace, options: RunOptions, plan: dict[str, Any] | None = None
    ) -> RunDirectory:
        """Make the directory and write the resolved space, the options and (for a trade-off study) the
        plan. Call after all validation: bad input writes nothing."""
        import yaml

        path = Path(path)
        cls.check_new(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path, flag="--run-dir")
        write_text_atomic(
            run.space_file,
            "# The resolved design space of this run (flags applied); nas-resnext space can read it.\n"
            + yaml.safe_dump(space.to_dict(), sort_keys=False),
        )
        if plan is not None:
            run.write_plan(plan)
        run.save_options(options)
        return run

    @classmethod
    def open(cls, path: Path, flag: str = "--resume", tradeoff: bool = False) -> RunDirectory:
        """An existing run (a trade-off study when ``tradeoff``); anything else is bad input for ``flag``."""
        run = cls(Path(path), flag)
        complete = run.run_file.is_file() and run.space_file.is_file()
        if tradeoff and not (complete and run.is_tradeoff):
            raise ConfigError(flag, str(path), TRADEOFF_RUN_HOLDS)
        if not complete:
            raise ConfigError(flag, str(path), RUN_DIRECTORY_HOLDS)
        return run

    # -- reading and writing ---------------------------------------------------------------------

    def load_space(self, check_init: bool = False) -> DesignSpace:
        """The run's resolved space. ``check_init``: a ``training.init`` file that is gone is bad input (for
        a start that trains); reading a finished run needs no such file."""
        return DesignSpace.from_file(self.space_file, check_init=check_init)

    def load_options(self) -> RunOptions:
        """The stored options; keys this version does not know (or no longer uses) are ignored."""
        try:
            data = json.loads(self.run_file.read_text())
        except json.JSONDecodeError as error:
            raise ConfigError(self.flag, str(self.run_file), f"valid JSON ({error.msg})") from None
        known = {k: v for k, v in data.items() if k in RunOptions.__dataclass_fields__}
        return RunOptions(**known)

    def save_options(self, options: RunOptions) -> None:
        data = asdict(options)
        data["updated"] = dt.datetime.now().isoformat(timespec="seconds")
        write_text_atomic(self.run_file, json.dumps(data, indent=2) + "\n")

    def read_plan(self) -> dict[str, Any]:
        """The trade-off plan as stored (``TradeoffPlan.load`` turns it into a plan)."""
        try:
            return json.loads(self.plan_file.read_text())
        except json.JSONDecodeError as error:
            raise ConfigError(str(self.plan_file), error.msg, "valid JSON") from None

    def write_plan(self, plan: dict[str, Any]) -> None:
        write_text_atomic(self.plan_file, json.dumps(plan, indent=2) + "\n")

    def load_trials(self) -> list[FrozenTrial]:
        """Every trial of the run's study, in order; a run without a study is bad input."""
        study = self.load_study()
        if study is None:
            raise ConfigError(self.flag, str(self.path), RUN_DIRECTORY_HOLDS)
        return study.get_trials(deepcopy=False)

    def write_trials(self, trials: list[FrozenTrial]) -> pd.DataFrame:
        table = trials_table(trials)
        write_text_atomic(self.trials_file, table.to_csv(index=False))
        return table

    def weights_file(self, number: int) -> Path:
        """Where trial ``number``'s kept weights are (a state dict for ``torch.load(weights_only=True)``)."""
        return self.weights_dir / f"trial_{number:05d}.pt"

    def weights_info_file(self, number: int) -> Path:
        """Beside the weights: the architecture, preprocessing, metrics and training of trial ``number``."""
        return self.weights_dir / f"trial_{number:05d}.json"

    def read_weights_info(self, number: int) -> dict[str, Any] | None:
        """Trial ``number``'s kept-weights description, or None when its weights are not kept."""
        if not (self.weights_file(number).is_file() and self.weights_info_file(number).is_file()):
            return None
        try:
            return json.loads(self.weights_info_file(number).read_text())
        except json.JSONDecodeError as error:
            raise ConfigError(str(self.weights_info_file(number)), error.msg, "valid JSON") from None

    def kept_weights(self) -> list[int]:
        """Numbers of the trials whose weights are kept, in order."""
        if not self.weights_dir.is_dir():
            return []
        numbers = []
        for path in self.weights_dir.glob("trial_*.pt"):
            number = path.stem.removeprefix("trial_")
            if number.isdigit() and self.weights_info_file(int(number)).is_file():
                numbers.append(int(number))
        return sorted(numbers)

    # -- one driver at a time --------------------------------------------------------------------

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the run while the block runs: no other process can search, resume or study it meanwhile.

        The lock file names this host and process; another start on the run is a ConfigError naming them
        (for ``self.flag``). A lock left by a process that is gone is taken over: on this host, when its
        process no longer runs; from another host, when it has not been refreshed for a while (see
        :mod:`nas_resnext.run_lock`). The same process may hold a run again inside the block. Reading a run
        (``report``) needs no lock.
        """
        with hold_lock(self.lock_file, self.flag, self.path):
            yield


def _last_accuracy(trial: FrozenTrial) -> float | None:
    from optuna.trial import TrialState

    if trial.state == TrialState.COMPLETE and trial.values:
        return trial.values[0]
    history = trial.user_attrs.get("history") or []
    return history[-1].get("val_accuracy") if history else None


def trials_table(trials: list[FrozenTrial]) -> pd.DataFrame:
    """One row per trial, columns ``TRIAL_COLUMNS``; a PRUNED trial's accuracy is that of its last epoch."""
    import pandas as pd
    from optuna.trial import TrialState

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
                **{column: attrs.get(column) for column in _ATTRIBUTE_COLUMNS},
                "val_accuracy": _last_accuracy(trial),
                "epochs": attrs.get("epochs", 0),
                **{column: attrs.get(column) for column in ("seconds", "error", "reused_from")},
                # 1-based; runs older than retries trained each trial once. A reused copy trained nothing.
                "attempt": attrs.get("attempt", None if "reused_from" in attrs else 1),
                # The Ray node's id; none for a reused copy, a trial that never reported, or an older run.
                "node": attrs.get("node"),
                # 1 for a fresh start, k + 1 for a trial continued from its checkpoint after epoch k
                "start_epoch": attrs.get("start_epoch", None if "reused_from" in attrs else 1),
            }
        )
    table = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    for column in _INTEGER_COLUMNS:
        table[column] = table[column].astype("Int64")
    return table

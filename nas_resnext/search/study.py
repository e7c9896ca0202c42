"""The Optuna study that holds a search's history: opening it, recording trials, reading them back.

Every trial carries its architecture as user attributes (``name``, ``depths``, ``width``, ``cardinality``,
``bottleneck_width``, ``flops``, ``params``, ``activations``) beside the sampler's quantile parameters, and
the study names its objectives (``study.set_metric_names``) and says what it is (its ``description`` user
attribute: the space's description and the run directory), so the study is readable on its own
(``optuna-dashboard sqlite:///RUN/study.db``, or the database of ``--storage``).

The study lives in the run's ``study.db`` or, with ``--storage``, in any database Optuna's RDB storage takes
(PostgreSQL, MySQL, an SQLite file elsewhere), which many runs may share: such a run's study has a name of its
own (``RunDirectory.study_name``), and its URL is kept without the password (:func:`check_storage`).

Two kinds of FAIL trial are not outcomes of their candidate and do not count toward the requested number:
``interrupted`` ones (the search stopped while they ran) and ``retried`` ones (a transient fault ended them).
Each is queued again with the same parameters, so the same architecture and seed train again; ``attempt``
(1-based) numbers the tries of a candidate, ``rerun_of`` and ``retry_of`` name the trial tried again.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import socket
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.architecture import Architecture
from nas_resnext.compat import set_finished_trial_user_attr
from nas_resnext.complexity import Complexity
from nas_resnext.errors import ConfigError
from nas_resnext.pareto import study_direction

INTERRUPTED = "interrupted: the search stopped while this trial ran; it is run again on --resume"
# How the error of a transient failure that is trained again begins; the final attempt's error has no prefix.
RETRIED = "retried"


def retried_error(message: str, attempt: int) -> str:
    """The recorded error of attempt ``attempt`` that failed transiently and is trained again."""
    return f"{RETRIED}: attempt {attempt} failed transiently and is trained again ({message})"


FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off while the block runs (the search prints its own), then restored."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


# -- where the study lives ------------------------------------------------------------------------------

# The databases Optuna's RDB storage supports, by SQLAlchemy's dialect names.
STORAGE_DIALECTS = ("postgresql", "mysql", "mariadb", "sqlite")
MYSQL_FAMILY = ("mysql", "mariadb")
STORAGE_URLS = (
    "an Optuna storage URL: postgresql://USER@HOST:PORT/DATABASE, mysql+pymysql://USER@HOST:PORT/DATABASE or "
    "sqlite:////ABSOLUTE/PATH.db"
)
# How to install the driver the plain URL of a dialect needs.
_DRIVERS = {
    "postgresql": "pip install 'nas-resnext[postgres]'",
    "mysql": "pip install 'nas-resnext[mysql]' and use mysql+pymysql://... (or pip install mysqlclient)",
    "mariadb": "pip install 'nas-resnext[mysql]' and use mariadb+pymysql://... (or pip install mysqlclient)",
}
# Seconds a connection to a PostgreSQL server may take before it fails (libpq waits for the system's TCP
# time-out otherwise, minutes for a host that drops packets).
CONNECT_TIMEOUT = 30
# Passwords given in --storage URLs on the command line, by the URL without them: used by this process only,
# never written (run.json keeps the URL without it; a resume takes it from the environment).
_PASSWORDS: dict[str, str] = {}


class _Password(str):
    """A password handed to the driver as a connection argument, looked up where it lives: ``("url", URL)``,
    the password of a ``--storage`` URL given on this process's command line; ``("env", NAME)``, the
    environment variable NAME (``MYSQL_PWD``, which MySQL's own clients read). Pickled (Ray Tune keeps the
    searcher, and so the study's storage, in its experiment state) as where it lives, never as itself."""

    where: tuple[str, str]

    def __new__(cls, where: tuple[str, str]) -> _Password:
        kind, key = where
        value = _PASSWORDS.get(key, "") if kind == "url" else os.environ.get(key, "")
        password = super().__new__(cls, value)
        password.where = where
        return password

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Password, (self.where,))

    def __repr__(self) -> str:
        return "'***'"


class StudyStorage(str):
    """A storage URL recorded in a run's files: ``field`` and ``source`` name where, so that a database that
    cannot be opened is bad input naming them (a plain string's errors are not: ``RUN/study.db``). The URL
    has no password: one given on the command line of this start is added when connecting
    (:func:`check_storage`)."""

    field: str | None
    source: str | None

    def __new__(cls, url: str, field: str | None = None, source: str | None = None) -> StudyStorage:
        storage = super().__new__(cls, url)
        storage.field = field
        storage.source = source
        return storage

    def __repr__(self) -> str:
        return f"StudyStorage({str(self)!r}, field={self.field!r})"


def public_url(url: str) -> str:
    """``url`` without its password (in the authority, or a ``password`` query parameter); a URL that does
    not parse, with ``***`` for what may be its password (``user:...@``)."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        head, at, tail = url.rpartition("@")
        if not at or "//" not in head:
            return url
        scheme, _, user = head.partition("//")
        return f"{scheme}//{user.split(':', 1)[0]}{':***' if ':' in user else ''}@{tail}"
    # URL.set cannot unset a field: a new URL without the password
    public = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query={key: value for key, value in parsed.query.items() if key != "password"},
    )
    return public.render_as_string(hide_password=False)


def check_storage(url: str, study_name: str, flag: str = "--storage") -> str:
    """Check a ``--storage`` URL before a run is made in its database and return the URL to record: without
    its password (which this process keeps in memory and hands to the driver whenever it connects to that
    URL), an SQLite path made absolute.

    Connects once. A ConfigError naming ``flag``, the URL without password and the reason for a URL that
    does not parse, a database Optuna does not support, an in-memory SQLite database, one that cannot be
    opened (wrong password, no server answering, driver not installed: the driver's one-line reason), or one
    that already holds a study named ``study_name``. The database gets Optuna's tables if it lacks them.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        raise ConfigError(flag, public_url(url), STORAGE_URLS) from None
    backend = parsed.get_backend_name()
    if backend not in STORAGE_DIALECTS:
        raise ConfigError(flag, public_url(url), STORAGE_URLS)
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
            allowed = "an SQLite file, e.g. sqlite:////ABSOLUTE/PATH.db (an in-memory database keeps nothing)"
            raise ConfigError(flag, public_url(url), allowed)
        # recorded absolute, so that a resume from another folder finds the same file
        parsed = parsed.set(database=str(Path(parsed.database).expanduser().resolve()))
    password = parsed.password if parsed.password is not None else parsed.query.get("password")
    recorded = public_url(parsed.render_as_string(hide_password=False))
    if password is not None:
        _PASSWORDS[recorded] = str(password)
    else:  # the environment's, as on a resume
        _PASSWORDS.pop(recorded, None)
    storage = _rdb_storage(StudyStorage(recorded, field=flag))
    if study_name in optuna.get_all_study_names(storage):
        raise ConfigError(
            flag,
            recorded,
            f"a database without a study named {study_name!r} (another run's; give this run a --run-dir "
            "of another name, or delete that study: optuna delete-study)",
        )
    return recorded


def _engine_options(storage_url: str) -> dict[str, Any]:
    """SQLAlchemy engine settings for the database of ``storage_url``."""
    from sqlalchemy.engine import make_url

    url = make_url(storage_url)
    if url.get_backend_name() == "sqlite":
        # A long timeout rides out the brief locks a reader (dashboard, report) may hold.
        return {"connect_args": {"timeout": 60}}
    # A connection the server closed while a long epoch trained is replaced instead of failing the search.
    options: dict[str, Any] = {"pool_pre_ping": True}
    connect: dict[str, Any] = {}
    libpq = url.get_backend_name() == "postgresql" and url.get_driver_name() in ("psycopg2", "psycopg")
    if libpq and "connect_timeout" not in url.query:
        connect["connect_timeout"] = CONNECT_TIMEOUT
    if str(storage_url) in _PASSWORDS:  # "password" is the keyword of psycopg, psycopg2, mysqlclient, PyMySQL
        connect["password"] = _Password(("url", str(storage_url)))
    elif url.get_backend_name() in MYSQL_FAMILY and url.password is None and "password" not in url.query:
        # libpq reads PGPASSWORD and ~/.pgpass itself; MySQL's Python drivers read neither MYSQL_PWD nor
        # ~/.my.cnf unless asked, so a resume (whose URL has no password) would not log in.
        if os.environ.get("MYSQL_PWD"):
            connect["password"] = _Password(("env", "MYSQL_PWD"))
        option_file = Path("~/.my.cnf").expanduser()
        if url.get_driver_name() in ("pymysql", "mysqldb") and option_file.is_file():
            connect["read_default_file"] = str(option_file)
    if connect:
        options["connect_args"] = connect
    return options


def _rdb_storage(storage_url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage of ``storage_url`` with its database's engine settings. A database a
    :class:`StudyStorage` with a ``field`` names that cannot be opened is a ConfigError naming that field,
    the URL without password and the driver's reason."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = make_url(storage_url)
    try:
        return optuna.storages.RDBStorage(str(storage_url), engine_kwargs=_engine_options(storage_url))
    except (SQLAlchemyError, ImportError, RuntimeError) as error:
        field = getattr(storage_url, "field", None)
        if field is None:
            raise
        public = public_url(str(storage_url))
        source = getattr(storage_url, "source", None)
        raise ConfigError(field, public, _cannot_open(url, error), source=source) from None


def _cannot_open(url: Any, error: BaseException) -> str:
    """What a storage must be, with the first line of why this one could not be opened."""
    cause: BaseException = getattr(error, "orig", None) or error
    if isinstance(error, ImportError) and error.__cause__ is not None:
        cause = error.__cause__  # Optuna's "Failed to import DB access module" hides the module's name
    lines = [" ".join(line.split()) for line in str(cause).splitlines() if line.strip()]
    reason = lines[0] if lines else type(cause).__name__
    backend = url.get_backend_name()
    if isinstance(error, ImportError) and backend in _DRIVERS:
        reason += f"; install its driver: {_DRIVERS[backend]}"
    elif backend == "postgresql" and "password" in reason:
        reason += "; the password comes from PGPASSWORD or ~/.pgpass"
    elif backend in MYSQL_FAMILY and "access denied" in reason.lower():
        reason += "; the password comes from MYSQL_PWD or ~/.my.cnf"
    return f"a database Optuna can open (this one: {reason})"


def study_description(space_description: str, space_name: str, run_path: Path) -> str:
    """What a run's study is, for optuna-dashboard: the space's description and where the run directory is."""
    what = " ".join(space_description.split()) or f"nas-resnext run of the design space {space_name}"
    return f"{what} (run directory {socket.gethostname()}:{Path(run_path).resolve()})"


# -- opening and reading ---------------------------------------------------------------------------------


def open_study(
    storage_url: str, name: str, objectives: Sequence[str], sampler: Any, description: str = ""
) -> optuna.Study:
    """Create or load the study ``name`` in ``storage_url``; directions follow ``objectives``. The study is
    labelled for optuna-dashboard and the optuna CLI (:func:`label_study`)."""
    storage = _rdb_storage(storage_url)
    _widen_attribute_values(storage)
    with quiet_optuna():
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            directions=[study_direction(objective) for objective in objectives],
            sampler=sampler,
            load_if_exists=True,
        )
    label_study(study, objectives, description)
    return study


def _widen_attribute_values(storage: optuna.storages.RDBStorage) -> None:
    """On MySQL and MariaDB, make the column of trials' user attributes hold 16 MiB (MEDIUMTEXT) instead of
    TEXT's 64 KiB, which a trial's per-epoch ``history`` (some 170 bytes an epoch) outgrows after about
    380 epochs; PostgreSQL's and SQLite's text has no such limit. A database user not allowed to alter
    the table gets a warning saying what that means."""
    engine = storage.engine
    if engine.dialect.name not in MYSQL_FAMILY:
        return
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.begin() as connection:
            kind = connection.execute(
                text(
                    "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                    "AND TABLE_NAME = 'trial_user_attributes' AND COLUMN_NAME = 'value_json'"
                )
            ).scalar()
            if kind is not None and str(kind).lower() in ("text", "tinytext"):
                connection.execute(text("ALTER TABLE trial_user_attributes MODIFY value_json MEDIUMTEXT"))
    except SQLAlchemyError as error:
        cause = str(getattr(error, "orig", None) or error).splitlines()[0]
        logging.getLogger(__name__).warning(
            "the study's database keeps a trial's user attributes in TEXT (64 KiB): the per-epoch history "
            "of a trial longer than about 380 epochs will not be recorded in the study (widening the column "
            "to MEDIUMTEXT was refused: %s)",
            cause,
        )


def label_study(study: optuna.Study, objectives: Sequence[str], description: str = "") -> None:
    """Name the study's objectives (``study.set_metric_names``) and describe it: its ``description`` user
    attribute and, where optuna-dashboard is installed, the study's note there, unless it has one already
    (a note someone wrote in the dashboard is kept). The note is written in the background (a thread the
    process waits for before it exits)."""
    names = list(objectives)
    if study.metric_names != names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    if not description:
        return
    if study.user_attrs.get("description") != description:
        study.set_user_attr("description", description)
    if importlib.util.find_spec("optuna_dashboard") is not None:
        # Importing optuna-dashboard takes a second and a half (it imports scikit-learn), which a search
        # would otherwise wait out before it starts Ray. Not a daemon: the process ends after the note.
        threading.Thread(
            target=_write_note, args=(study, names, description), name="nas-resnext-dashboard-note"
        ).start()


def _write_note(study: optuna.Study, objectives: list[str], description: str) -> None:
    """Write the study's optuna-dashboard note unless it has one; a failure is a warning, never an error."""
    try:
        from optuna_dashboard import get_note, save_note

        if not get_note(study):
            save_note(study, _note(study, objectives, description))
    except Exception as error:  # the note is a courtesy to dashboard users
        logging.getLogger(__name__).warning(
            "the study's optuna-dashboard note was not written: %s: %s", type(error).__name__, error
        )


def _note(study: optuna.Study, objectives: list[str], description: str) -> str:
    """The study's note in optuna-dashboard (Markdown)."""
    directions = ", ".join(
        f"`{name}` ({direction.name.lower()})"
        for name, direction in zip(objectives, study.directions, strict=True)
    )
    return (
        f"## {study.study_name}\n\n{description}\n\nObjectives: {directions}.\n\n"
        "Each trial's architecture is in its user attributes (`name`, `depths`, `width`, `cardinality`, "
        "`bottleneck_width`, `group_width`, `flops`, `params`, `activations`); its parameters are the "
        "sampler's own. Per-epoch metrics are in `history`.\n\n"
        "Written by nas-resnext when the study started; edit freely, it is not written again.\n"
    )


def load_study(storage_url: str, name: str, shared: bool = False) -> optuna.Study | None:
    """The study ``name`` in ``storage_url``; None if there is none. In a database of the run's own
    (``shared=False``, ``RUN/study.db``) its only study is taken under any name (runs renamed by hand)."""
    storage = _rdb_storage(storage_url)
    names = optuna.get_all_study_names(storage)
    if shared:
        chosen = name if name in names else None
    else:
        chosen = name if name in names else (names[0] if names else None)
    if chosen is None:
        return None
    with quiet_optuna():
        return optuna.load_study(study_name=chosen, storage=storage)


def architecture_attrs(arch: Architecture, complexity: Complexity) -> dict[str, Any]:
    """The user attributes that describe a trial's architecture."""
    return {
        "name": arch.name,
        "architecture": arch.to_dict(),
        **arch.axis_values(),
        "flops": complexity.flops,
        "params": complexity.params,
        "activations": complexity.activations,
    }


def is_counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts toward the requested number: finished, and neither interrupted nor retried."""
    attrs = trial.user_attrs
    return trial.state in FINISHED_STATES and not attrs.get("interrupted", False) and not attrs.get("retried")


def queue_retry(study: optuna.Study, number: int, params: dict[str, Any], attempt: int) -> None:
    """Queue attempt ``attempt`` of the candidate trial ``number`` tried (its parameters, so the same
    architecture and seed)."""
    study.enqueue_trial(params, user_attrs={"attempt": attempt, "retry_of": number}, skip_if_exists=False)


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto-optimal COMPLETE trials, one per architecture (a reused result is not listed twice)."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return []
    front: dict[str, FrozenTrial] = {}
    for trial in sorted(study.best_trials, key=lambda t: t.number):
        front.setdefault(trial.user_attrs.get("name", str(trial.number)), trial)
    return list(front.values())


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Mark trials left RUNNING by a killed search as failed (with the reason) and queue them again, as
    the same attempt (the stop was no fault of the candidate's). A retry that a search killed at that
    moment never queued is queued too.

    Returns the numbers of the interrupted trials queued for a re-run.
    """
    requeued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        set_finished_trial_user_attr(study, trial, "error", INTERRUPTED)
        set_finished_trial_user_attr(study, trial, "interrupted", True)
        study.tell(trial.number, state=TrialState.FAIL)
        if trial.params:
            attrs = {"rerun_of": trial.number, "attempt": trial.user_attrs.get("attempt", 1)}
            study.enqueue_trial(trial.params, user_attrs=attrs, skip_if_exists=False)
        requeued.append(trial.number)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for trial in trials:
        if trial.user_attrs.get("retried") and trial.number not in retried and trial.params:
            queue_retry(study, trial.number, trial.params, trial.user_attrs.get("attempt", 1) + 1)
    return requeued


def objective_values(metrics: dict[str, Any], objectives: Sequence[str]) -> list[float] | None:
    """Objective values from a trial's metrics, or None if one is missing or not finite."""
    values = []
    for objective in objectives:
        value = metrics.get(objective)
        if value is None or not math.isfinite(float(value)):
            return None
        values.append(float(value))
    return values

"""The study in a database of the user's (``--storage``): real PostgreSQL and MariaDB servers that this module
starts on 127.0.0.1, SQLite files outside the run directory, and the checks made before a run is created.

The PostgreSQL server is Debian's ``postgresql`` package (``make postgres`` installs it): a fresh cluster in a
temporary folder, started as the ``postgres`` system user when the tests run as root (the server refuses
root), with a database and a role that logs in with a password over TCP. The MariaDB server is Debian's
``mariadb-server`` (``make mysql``), set up the same way as the ``mysql`` user, reached through PyMySQL.
Tests that need a server are skipped, with the reason, where it cannot be started.
"""

from __future__ import annotations

import json
import os
import pickle
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from conftest import NAS
from optuna.trial import TrialState

from nas_resnext.cli import main
from nas_resnext.errors import ConfigError
from nas_resnext.rundir import RunDirectory
from nas_resnext.search.study import StudyStorage, check_storage, open_study, public_url

pytestmark = pytest.mark.usefixtures("in_tmp_path")


@dataclass(frozen=True)
class Postgres:
    """A running server: a database ``database`` owned by ``user``, who logs in with ``password``."""

    port: int
    user: str
    password: str
    database: str
    host: str = "127.0.0.1"

    def url(self, password: str | None = None, port: int | None = None) -> str:
        """The database's URL, with ``password`` in it if given."""
        login = self.user if password is None else f"{self.user}:{password}"
        return f"postgresql://{login}@{self.host}:{port or self.port}/{self.database}"

    def environment(self) -> dict[str, str]:
        """The environment of a command that logs in with the password from PGPASSWORD (and no ~/.pgpass)."""
        return {**os.environ, "PGPASSWORD": self.password, "PGPASSFILE": os.devnull}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> Path | None:
    """The folder of the server's programs: ``initdb`` on the PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "postgres").is_file():
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def _stop(server: subprocess.Popen[bytes], how: signal.Signals) -> None:
    """Stop a database server this module started: ``how``, then a kill if it is still running 30 s on."""
    if server.poll() is not None:
        return
    server.send_signal(how)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server on 127.0.0.1 (a free port) for the session, in a temporary folder; skipped with the
    reason where one cannot be started."""
    psycopg2 = pytest.importorskip("psycopg2", reason="psycopg2 is missing: pip install -e '.[dev]'")
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (make postgres installs Debian's postgresql package)")
    run_as: dict[str, int] = {}
    if os.geteuid() == 0:  # the server refuses to run as root: its system user runs it
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and there is no postgres system user to run the server as")
        run_as = {"user": account.pw_uid, "group": account.pw_gid}
    base = Path(tempfile.mkdtemp(prefix="nas-resnext-pg-"))
    if run_as:
        os.chown(base, run_as["user"], run_as["group"])
    admin, port = "nas_admin", _free_port()
    initdb = subprocess.run(
        [
            *(bin_dir / "initdb", "-D", base / "data", "-U", admin, "-E", "UTF8", "--locale=C", "--no-sync"),
            *("--auth-local=trust", "--auth-host=scram-sha-256"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **run_as,
    )
    if initdb.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {_last_line(initdb.stderr)}")
    log_file = base / "server.log"
    with log_file.open("w") as log:
        server = subprocess.Popen(
            # -F: no fsync (a throw-away cluster); -k: its Unix socket in the temporary folder
            [bin_dir / "postgres", "-D", base / "data", "-k", base, "-p", str(port), "-h", "127.0.0.1", "-F"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **run_as,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = psycopg2.connect(host=str(base), port=port, user=admin, dbname="postgres")
                break
            except psycopg2.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.skip(f"the PostgreSQL server did not start: {_last_line(log_file.read_text())}")
                time.sleep(0.2)
        password = secrets.token_urlsafe(16)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE ROLE nas LOGIN PASSWORD %s", (password,))
            cursor.execute("CREATE DATABASE nas OWNER nas")
        connection.close()
        yield Postgres(port=port, user="nas", password=password, database="nas")
    finally:
        _stop(server, signal.SIGINT)  # PostgreSQL's fast shutdown: ends the sessions, stops at once
        shutil.rmtree(base, ignore_errors=True)


def _nas(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NAS, *argv], env=env, capture_output=True, text=True, timeout=600, check=False)


def _files_hold(directory: Path, text: str) -> list[str]:
    """The files under ``directory`` whose bytes contain ``text``."""
    return [str(p) for p in directory.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def _search_then_resume(space: str, run_dir: Path, url: str, password: str, env: dict[str, str]) -> None:
    """A 2-trial search with its study at ``url`` (the password from ``env``), then its resume to 3 trials:
    run.json names the database without the password, and no file of the run holds it."""
    first = _nas("search", space, "--trials", "2", "--run-dir", str(run_dir), "--storage", url, env=env)
    assert first.returncode == 0, first.stderr
    assert not (run_dir / "study.db").exists()
    recorded = json.loads((run_dir / "run.json").read_text())
    assert recorded["study_storage"] == url and recorded["study_name"] == "tiny-run"
    assert _files_hold(run_dir, password) == []
    resumed = _nas("search", "--resume", str(run_dir), "--trials", "3", "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert sum(json.loads(resumed.stdout)["trials"].values()) == 3


# -- URLs and their checks (no server) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("postgresql://nas:s3cret@db:5432/studies", "postgresql://nas@db:5432/studies"),
        ("postgresql+psycopg2://nas@db/studies?password=s3cret", "postgresql+psycopg2://nas@db/studies"),
        ("postgresql://nas@db/studies?sslmode=require", "postgresql://nas@db/studies?sslmode=require"),
        ("mysql://nas:p%40ss@db/studies", "mysql://nas@db/studies"),
        ("sqlite:////data/studies.db", "sqlite:////data/studies.db"),
        ("postgresql://nas:s3cret@db:notaport/studies", "postgresql://nas:***@db:notaport/studies"),
    ],
)
def test_the_url_recorded_and_shown_has_no_password(url: str, public: str) -> None:
    assert public_url(url) == public


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "--storage: got 'not a url'; allowed: an Optuna storage URL: postgresql://"),
        (
            "postgres://nas:s3cret@db/x",
            "--storage: got 'postgres://nas@db/x'; allowed: an Optuna storage URL",
        ),
        ("redis://db:6379", "--storage: got 'redis://db:6379'; allowed: an Optuna storage URL"),
        ("sqlite://", "allowed: an SQLite file, e.g. sqlite:////ABSOLUTE/PATH.db (an in-memory database"),
        ("sqlite:////no/such/folder/x.db", "allowed: a database Optuna can open (this one: unable to open"),
        ("mysql://nas:s3cret@127.0.0.1/x", "(this one: No module named 'MySQLdb'; install its driver: pip"),
    ],
)
def test_a_storage_that_cannot_hold_the_study_is_bad_input(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        check_storage(url, "tiny-run")
    assert message in str(error.value) and "s3cret" not in str(error.value)


def test_an_sqlite_file_elsewhere_is_recorded_absolute(tmp_path: Path) -> None:
    assert check_storage("sqlite:///studies.db", "tiny-run") == f"sqlite:///{tmp_path / 'studies.db'}"


def test_storage_is_only_for_a_run_that_starts(
    tmp_path: Path, tiny_space: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["search", "--resume", str(tmp_path), "--storage", "postgresql://nas:s3cret@db/x"],
        ["tradeoff", "--resume", str(tmp_path), "--storage", "postgresql://nas:s3cret@db/x"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "--storage: got 'postgresql://nas@db/x'; allowed: nothing with --resume" in err, err
        assert "s3cret" not in err
    plan = ["tradeoff", "--plan", "--preset", "resnet50", "--cardinalities", "1,2"]
    assert main([*plan, "--storage", "sqlite:////x.db"]) == 2
    assert "--storage: got 'sqlite:////x.db'; allowed: nothing with --plan" in capsys.readouterr().err


# -- PostgreSQL ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["wrong password", "no password", "no server"])
def test_a_database_that_cannot_be_reached_exits_2_and_writes_nothing(
    failure: str,
    postgres: Postgres,
    tmp_path: Path,
    tiny_space: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGPASSFILE", os.devnull)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url, reason = {
        "wrong password": (postgres.url("not-it"), "password authentication failed for user"),
        # psycopg2 says "no password supplied", psycopg that authentication failed
        "no password": (postgres.url(), "; the password comes from PGPASSWORD or ~/.pgpass)"),
        "no server": (postgres.url(port=_free_port()), "Connection refused"),
    }[failure]
    run_dir = tmp_path / "run"
    code = main(["search", str(tiny_space()), "--run-dir", str(run_dir), "--storage", url])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    shown = public_url(url)
    assert f"--storage: got {shown!r}; allowed: a database Optuna can open (this one: " in err
    assert reason in err and "not-it" not in err
    assert not run_dir.exists() and not Path("runs").exists()


def test_a_password_given_on_the_command_line_is_used_but_never_kept(
    postgres: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSFILE", os.devnull)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    recorded = check_storage(postgres.url(postgres.password), "tiny-pickled")
    assert recorded == postgres.url()
    try:
        storage = StudyStorage(recorded, field="--storage")
        study = open_study(storage, "tiny-pickled", ["val_accuracy", "flops"], None, "a tiny study")
        assert study.study_name == "tiny-pickled" and study.metric_names == ["val_accuracy", "flops"]
        assert study.user_attrs["description"] == "a tiny study"
        # Ray Tune pickles the searcher, and so the study, into the run directory
        assert postgres.password.encode() not in pickle.dumps(study)
    finally:
        optuna.delete_study(study_name="tiny-pickled", storage=postgres.url(postgres.password))


@pytest.mark.ray
def test_searches_share_a_postgresql_database_and_resume_report_and_export_from_it(
    postgres: Postgres,
    tmp_path: Path,
    tiny_space: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    space = str(tiny_space())
    env = postgres.environment()
    run_dir = tmp_path / "run"
    _search_then_resume(
        space, run_dir, postgres.url(), postgres.password, env
    )  # the password from PGPASSWORD

    # a second run of the same space in the same database, the password on the command line this time
    other = tmp_path / "run2"
    no_password = {**env, "PGPASSWORD": ""}
    argv = [
        "search",
        space,
        "--trials",
        "1",
        "--run-dir",
        str(other),
        "--storage",
        postgres.url(postgres.password),
    ]
    second = _nas(*argv, env=no_password)
    assert second.returncode == 0, second.stderr
    assert json.loads((other / "run.json").read_text())["study_storage"] == postgres.url()
    assert _files_hold(other, postgres.password) == []

    # the trials are in PostgreSQL, each run's in its own study
    storage = postgres.url(postgres.password)
    assert sorted(optuna.get_all_study_names(storage)) == ["tiny-run", "tiny-run2"]
    studies = {
        name: optuna.load_study(study_name=name, storage=storage) for name in ("tiny-run", "tiny-run2")
    }
    finished = {name: [t for t in s.trials if t.state == TrialState.COMPLETE] for name, s in studies.items()}
    assert (len(finished["tiny-run"]), len(finished["tiny-run2"])) == (3, 1)
    assert all(set(t.user_attrs) >= {"name", "depths", "cardinality", "flops"} for t in finished["tiny-run"])
    assert studies["tiny-run"].metric_names == ["val_accuracy", "flops"]
    assert str(run_dir.resolve()) in studies["tiny-run"].user_attrs["description"]

    # a run of the same name elsewhere would take the first run's study: refused before anything is written
    monkeypatch.setenv("PGPASSWORD", postgres.password)
    clash = tmp_path / "elsewhere" / "run"
    assert main(["search", space, "--run-dir", str(clash), "--storage", postgres.url()]) == 2
    assert "allowed: a database without a study named 'tiny-run'" in capsys.readouterr().err
    assert not clash.exists()

    # report and export read the study where it is (the password from the environment)
    report = _nas("report", str(run_dir), str(other), "-o", str(tmp_path / "report.html"), env=env)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report.html").is_file()
    front = RunDirectory(run_dir).kept_weights()
    assert (
        front
        and main(["export", str(run_dir), "--front", "-o", str(tmp_path / "front"), "--format", "pt"]) == 0
    )
    assert len(list((tmp_path / "front").iterdir())) == len(front)
    # without the password, a run in PostgreSQL is bad input naming run.json's URL and why
    monkeypatch.setenv("PGPASSWORD", "")
    with pytest.raises(
        ConfigError, match=r"run.json: study_storage: got .* the password comes from PGPASSWORD"
    ):
        RunDirectory(other).load_trials()


# -- MySQL and MariaDB -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MariaDB:
    """A running MariaDB server: a database ``database`` that ``user`` (password ``password``) may alter."""

    port: int
    user: str
    password: str
    database: str
    socket: str  # where the data folder's root logs in (as the system's root)
    host: str = "127.0.0.1"

    def url(self, password: str | None = None) -> str:
        login = self.user if password is None else f"{self.user}:{password}"
        return f"mysql+pymysql://{login}@{self.host}:{self.port}/{self.database}"

    def environment(self, **extra: str) -> dict[str, str]:
        """A command's environment with the password in MYSQL_PWD (and no ~/.my.cnf of the user's)."""
        return {**os.environ, "MYSQL_PWD": self.password, **extra}


def _mariadb_bin() -> tuple[Path, Path] | None:
    """The server and the program that makes its data folder, where installed."""
    server = shutil.which("mariadbd") or (
        "/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").is_file() else None
    )
    install = shutil.which("mariadb-install-db")
    return (Path(server), Path(install)) if server and install else None


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    """A MariaDB server on 127.0.0.1 (a free port) for the session, in a temporary folder; skipped with the
    reason where one cannot be started."""
    pymysql = pytest.importorskip("pymysql", reason="PyMySQL is missing: pip install -e '.[dev]'")
    programs = _mariadb_bin()
    if programs is None:
        pytest.skip("MariaDB is not installed (make mysql installs Debian's mariadb-server package)")
    server_bin, install_bin = programs
    as_user: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="nas-resnext-mariadb-"))
    if os.geteuid() == 0:  # the server refuses to run as root unless told which user to become
        try:
            account = pwd.getpwnam("mysql")
        except KeyError:
            pytest.skip("running as root, and there is no mysql system user to run the server as")
        os.chown(base, account.pw_uid, account.pw_gid)
        as_user = ["--user=mysql"]
    socket_file, port = base / "server.sock", _free_port()
    install = subprocess.run(
        [install_bin, "--no-defaults", f"--datadir={base / 'data'}", *as_user, "--skip-test-db"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if install.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"mariadb-install-db failed: {_last_line(install.stderr or install.stdout)}")
    log_file = base / "server.log"
    server = subprocess.Popen(
        [
            *(server_bin, "--no-defaults", f"--datadir={base / 'data'}", f"--socket={socket_file}"),
            *(f"--port={port}", "--bind-address=127.0.0.1", f"--log-error={log_file}", *as_user),
            *(f"--pid-file={base / 'server.pid'}", "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:  # the data folder's root logs in over the socket as the system's root (unix_socket)
                connection = pymysql.connect(unix_socket=str(socket_file), user="root")
                break
            except pymysql.err.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = log_file.read_text() if log_file.is_file() else "no log"
                    pytest.skip(f"the MariaDB server did not start: {_last_line(log)}")
                time.sleep(0.2)
        password = secrets.token_urlsafe(16)
        with connection.cursor() as cursor:
            cursor.execute("CREATE USER 'nas'@'127.0.0.1' IDENTIFIED BY %s", (password,))
            cursor.execute("CREATE DATABASE nas")
            cursor.execute("GRANT ALL PRIVILEGES ON nas.* TO 'nas'@'127.0.0.1'")
        connection.commit()
        connection.close()
        yield MariaDB(port=port, user="nas", password=password, database="nas", socket=str(socket_file))
    finally:
        _stop(server, signal.SIGTERM)  # MariaDB's normal shutdown
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.ray
def test_a_search_keeps_its_study_in_mariadb_and_resumes_and_reports_from_it(
    mariadb: MariaDB, tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    run_dir = tmp_path / "run"
    home = tmp_path / "home"  # no ~/.my.cnf of the machine's user
    home.mkdir()
    env = mariadb.environment(HOME=str(home))
    _search_then_resume(str(tiny_space()), run_dir, mariadb.url(), mariadb.password, env)  # MYSQL_PWD
    study = optuna.load_study(study_name="tiny-run", storage=mariadb.url(mariadb.password))
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    assert all(len(t.user_attrs["history"]) == 2 for t in complete)  # tiny space: 2 epochs

    # the password from ~/.my.cnf instead of MYSQL_PWD
    (home / ".my.cnf").write_text(f"[client]\npassword={mariadb.password}\n")
    without_variable = {k: v for k, v in env.items() if k != "MYSQL_PWD"}
    report = _nas("report", str(run_dir), "-o", str(tmp_path / "report.html"), env=without_variable)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report.html").is_file()

    # with neither, bad input that says where the password comes from
    (home / ".my.cnf").unlink()
    refused = _nas("report", str(run_dir), "-o", str(tmp_path / "other.html"), env=without_variable)
    assert refused.returncode == 2
    assert (
        "Access denied" in refused.stderr
        and "the password comes from MYSQL_PWD or ~/.my.cnf" in refused.stderr
    )
    assert not (tmp_path / "other.html").exists()


def test_a_long_trials_history_fits_in_mariadb(mariadb: MariaDB) -> None:
    """MySQL's TEXT holds 64 KiB; the study's attribute column is widened so that a history of 600 epochs
    (about 100 KB) is stored and read back whole."""
    storage = mariadb.url(mariadb.password)
    study = open_study(storage, "long-history", ["val_accuracy", "flops"], sampler=None)
    trial = study.ask()
    history = [
        {
            "epoch": float(epoch),
            "val_accuracy": 0.8206896551724138,
            "val_loss": 0.6234567891234567,
            "train_loss": 0.5234567891234567,
            "epoch_seconds": 0.8812345678901234,
            "images_per_second": 1523.3312345678901,
        }
        for epoch in range(1, 601)
    ]
    assert len(json.dumps(history)) > 65_535
    trial.set_user_attr("history", history)
    again = optuna.load_study(study_name="long-history", storage=storage)
    assert again.trials[0].user_attrs["history"] == history
    import pymysql

    connection = pymysql.connect(
        host=mariadb.host, port=mariadb.port, user=mariadb.user, password=mariadb.password, database="nas"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'nas' "
            "AND TABLE_NAME = 'trial_user_attributes' AND COLUMN_NAME = 'value_json'"
        )
        assert cursor.fetchone()[0].lower() == "mediumtext"
    connection.close()


def test_a_history_the_database_cannot_hold_never_ends_the_search(
    mariadb: MariaDB, caplog: pytest.LogCaptureFixture
) -> None:
    """A database user who may not widen the column: a warning when the study opens, and a trial whose
    history outgrows TEXT trains on, completes, and says its history was cut short."""
    import pymysql

    from nas_resnext.search.sampling import FeasibleSampler
    from nas_resnext.search.searcher import StudySearcher
    from nas_resnext.space import DesignSpace

    password = secrets.token_urlsafe(16)
    admin = pymysql.connect(unix_socket=mariadb.socket, user="root")
    with admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE narrow")
        cursor.execute("CREATE USER 'narrow'@'127.0.0.1' IDENTIFIED BY %s", (password,))
        cursor.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON narrow.* TO 'narrow'@'127.0.0.1'")
    admin.commit()
    admin.close()
    optuna.storages.RDBStorage(
        f"mysql+pymysql://root@localhost/narrow?unix_socket={mariadb.socket}"
    )  # tables
    url = f"mysql+pymysql://narrow:{password}@127.0.0.1:{mariadb.port}/narrow"
    with caplog.at_level("WARNING"):
        study = open_study(url, "narrow", ["val_accuracy", "flops"], sampler=None)
    assert "widening the column to MEDIUMTEXT was refused" in caplog.text

    space = DesignSpace.from_file(Path(__file__).resolve().parents[1] / "search_spaces" / "digits_demo.yaml")
    epochs = 450  # about 74 KB of history
    searcher = StudySearcher(
        study,
        FeasibleSampler(space),
        space.objectives,
        max_epochs=epochs,
        total_trials=1,
        base_config={"training": space.training.to_dict(), "dataset": "digits", "data_dir": None},
    )
    assert searcher.suggest("t1") is not None
    metrics = {
        "val_accuracy": 0.8206896551724138,
        "val_loss": 0.6234567891234567,
        "train_loss": 0.5234567891234567,
        "epoch_seconds": 0.8812345678901234,
        "images_per_second": 1523.3312345678901,
    }
    result: dict[str, object] = {}
    caplog.clear()
    for epoch in range(1, epochs + 1):
        state = "running" if epoch < epochs else "complete"
        result = {"state": state, "epoch": epoch, **metrics, "flops": 1e6, "latency_ms": 1.0}
        searcher.on_trial_result("t1", result)
    searcher.on_trial_complete("t1", result)
    trial = optuna.load_study(study_name="narrow", storage=url).trials[0]
    assert trial.state == TrialState.COMPLETE and trial.user_attrs["epochs"] == epochs
    stored = trial.user_attrs["history"]
    # every epoch up to where the column ended
    assert 300 < len(stored) < epochs
    assert stored == [{"epoch": float(epoch), **metrics} for epoch in range(1, len(stored) + 1)]
    assert trial.user_attrs["history_error"].startswith(f"history from epoch {len(stored) + 1} not stored")
    assert sum("could not be stored in the study" in r.getMessage() for r in caplog.records) == 1

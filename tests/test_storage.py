"""The study in a database of the user's (``--storage``): a real PostgreSQL server that this module starts on
127.0.0.1, SQLite files outside the run directory, and the checks made before a run is created.

The server is Debian's ``postgresql`` package (``make postgres`` installs it): a fresh cluster in a temporary
folder, started as the ``postgres`` system user when the tests run as root (the server refuses root), with a
database and a role that logs in with a password over TCP. Tests that need it are skipped, with the reason,
where it cannot be started.
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
        if server.poll() is None:
            server.send_signal(signal.SIGINT)  # fast shutdown: ends the sessions, stops at once
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
        shutil.rmtree(base, ignore_errors=True)


def _nas(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NAS, *argv], env=env, capture_output=True, text=True, timeout=600, check=False)


def _files_hold(directory: Path, text: str) -> list[str]:
    """The files under ``directory`` whose bytes contain ``text``."""
    return [str(p) for p in directory.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


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
    # the password from the environment
    first = _nas(
        "search", space, "--trials", "2", "--run-dir", str(run_dir), "--storage", postgres.url(), env=env
    )
    assert first.returncode == 0, first.stderr
    assert not (run_dir / "study.db").exists()
    recorded = json.loads((run_dir / "run.json").read_text())
    assert recorded["study_storage"] == postgres.url() and recorded["study_name"] == "tiny-run"
    assert _files_hold(run_dir, postgres.password) == []

    resumed = _nas("search", "--resume", str(run_dir), "--trials", "3", "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert sum(json.loads(resumed.stdout)["trials"].values()) == 3

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

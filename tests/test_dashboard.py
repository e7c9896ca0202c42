"""optuna-dashboard on a run's study: the real app (its WSGI application, called in-process) shows the study's
objective names, its description and note, and every trial's architecture beside the sampler's parameters.

The run keeps its study in an SQLite file outside the run directory (``--storage sqlite:////...``), as a
team's shared database would hold it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import wsgiref.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import NAS

optuna_dashboard = pytest.importorskip("optuna_dashboard", reason="pip install -e '.[dev]' installs it")

ARCHITECTURE_ATTRS = {"name", "depths", "width", "cardinality", "bottleneck_width", "group_width", "flops"}
DESCRIPTION = "Tiny digits ResNeXts, for the dashboard test"


def get_json(app: Callable[..., Any], path: str) -> dict[str, Any]:
    """GET ``path`` from the WSGI application ``app``; the body as JSON (the status must be 200)."""
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="GET", PATH_INFO=path, QUERY_STRING="")
    statuses = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses and statuses[0].startswith("200"), (statuses, body[:500])
    return json.loads(body)


@pytest.mark.ray
@pytest.mark.usefixtures("in_tmp_path")  # the search writes its report under the working directory
def test_optuna_dashboard_shows_objectives_description_and_architectures(
    tmp_path: Path, tiny_space: Callable[..., Path]
) -> None:
    storage = f"sqlite:///{tmp_path / 'shared' / 'studies.db'}"
    (tmp_path / "shared").mkdir()
    run_dir = tmp_path / "runs" / "first"
    search = subprocess.run(
        [
            *(NAS, "search", str(tiny_space(description=DESCRIPTION)), "--trials", "2"),
            *("--run-dir", str(run_dir), "--storage", storage, "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert search.returncode == 0, search.stderr
    assert not (run_dir / "study.db").exists()
    assert json.loads((run_dir / "run.json").read_text())["study_name"] == "tiny-first"

    app = optuna_dashboard.wsgi(storage)
    (summary,) = get_json(app, "/api/studies")["study_summaries"]
    assert summary["study_name"] == "tiny-first"
    assert summary["directions"] == ["maximize", "minimize"]
    description = {a["key"]: a["value"] for a in summary["user_attrs"]}["description"]
    assert description.startswith(DESCRIPTION) and str(run_dir.resolve()) in description

    study = get_json(app, f"/api/studies/{summary['study_id']}")
    assert study["objective_names"] == ["val_accuracy", "flops"]
    assert study["note"]["body"].startswith("## tiny-first") and DESCRIPTION in study["note"]["body"]
    assert {a["key"] for a in study["union_user_attrs"]} >= ARCHITECTURE_ATTRS
    assert len(study["trials"]) == 2
    for trial in study["trials"]:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert set(attrs) >= ARCHITECTURE_ATTRS
        assert attrs["name"].startswith("X-11-") and json.loads(attrs["depths"]) == [1, 1, 1]
        # the sampler's own parameters are there too, beside the architecture
        assert {p["name"] for p in trial["params"]} >= {"q_width", "q_cardinality", "q_bottleneck_width"}

    # the optuna command line lists the study by name
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "optuna"), "studies", "--storage", storage, "-f", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert [s["name"] for s in json.loads(listed.stdout)] == ["tiny-first"]

"""The report in a real headless Chromium: every plot renders, hover data is there, nothing logs an error,
and user strings (architecture names, error messages, the space's description) never run as script."""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import TINY_NAME, TINY_SPACE
from plotly.offline import get_plotlyjs

from nas_resnext.architecture import Architecture
from nas_resnext.cli import main
from nas_resnext.report import write_report
from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.search.study import architecture_attrs
from nas_resnext.space import DesignSpace
from nas_resnext.tradeoff.plan import TradeoffPlan

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCRIPT_TAG = "<script>window.__xss=1</script>"
IMG_TAG = "<img src=x onerror=window.__xss=1>"


def make_run(path: Path, name: str, evil: bool = False, seed: int = 0, copy_of: int | None = None) -> Path:
    """A real run directory: the resolved space, the run's options and an Optuna study with trials; with
    ``copy_of``, a last trial that is a copy of that one, as the search records a redrawn architecture."""
    description = f"space {SCRIPT_TAG} {IMG_TAG}" if evil else "a test space"
    space = DesignSpace.from_dict(
        {
            **TINY_SPACE,
            "name": IMG_TAG if evil else name,
            "description": description,
            "axes": {"depth": [1, 2], "width": [2, 4], "cardinality": [1, 2, 4], "bottleneck_width": [1, 2]},
        }
    )
    options = RunOptions(
        trials=14,
        sampler="random",
        scheduler="moasha",
        seed=seed,
        hardware="x86_64 2 CPUs",
        versions={"optuna": optuna.__version__},
        wall_seconds=75.0,
    )
    run = RunDirectory.create(path, space, options)
    study = optuna.create_study(
        storage=run.storage_url, study_name=space.name, directions=["maximize", "minimize"]
    )
    number = 0
    for depth in (1, 2):
        for width in (2, 4):
            for cardinality in (1, 2, 4):
                bottleneck = 2 if cardinality < 4 else 1
                label = f"X-{depth}-{cardinality}x{bottleneck}d-w{width}"
                if evil:
                    label += SCRIPT_TAG if number % 2 else IMG_TAG
                flops = 100_000 * depth * width * (1 + cardinality * bottleneck) // 4
                accuracy = (
                    0.5
                    + 0.05 * width / 2
                    + 0.02 * depth
                    - 0.01 * cardinality
                    + 0.003 * (number % 3)
                    + seed * 0.01
                )
                state = optuna.trial.TrialState.COMPLETE
                epochs = 3
                error = None
                if number % 6 == 5:
                    state, epochs = optuna.trial.TrialState.PRUNED, 1
                if number == 7:
                    state, epochs = optuna.trial.TrialState.FAIL, 0
                    error = (
                        f"RuntimeError: out of memory {SCRIPT_TAG} {IMG_TAG}"
                        if evil
                        else "RuntimeError: NaN loss"
                    )
                history = [
                    {"epoch": float(e), "val_accuracy": accuracy - 0.1 * (3 - e)}
                    for e in range(1, epochs + 1)
                ]
                attrs: dict[str, Any] = {
                    "name": label,
                    "depths": [depth] * 3,
                    "width": width,
                    "cardinality": cardinality,
                    "bottleneck_width": bottleneck,
                    "group_width": cardinality * bottleneck,
                    "flops": flops,
                    "params": flops // 20,
                    "latency_ms": 0.1 * depth * width,
                    "history": history,
                    "epochs": epochs,
                    "seconds": 1.5 * epochs,
                    "error": error,
                }
                values = [accuracy, float(flops)] if state == optuna.trial.TrialState.COMPLETE else None
                distribution = optuna.distributions.FloatDistribution(0.0, 1.0)
                study.add_trial(
                    optuna.trial.create_trial(
                        state=state,
                        values=values,
                        params={"q_width": width / 5},
                        distributions={"q_width": distribution},
                        user_attrs=attrs,
                    )
                )
                number += 1
    if copy_of is not None:
        source = study.trials[copy_of]
        study.add_trial(
            optuna.trial.create_trial(
                state=source.state,
                values=source.values,
                params=source.params,
                distributions=source.distributions,
                user_attrs={**source.user_attrs, "reused_from": copy_of},
            )
        )
    return path


def make_tradeoff_run(path: Path) -> Path:
    """A real trade-off run directory: a run over C = 1, 2, 4 at matched FLOPs, two seeds each, one failed."""
    reference = Architecture.from_name(TINY_NAME)
    plan = TradeoffPlan.family(
        reference, "cardinality", [1, 2, 4], "bottleneck_width", match="flops", seeds=2
    )
    space = DesignSpace.from_dict(
        {
            **TINY_SPACE,
            "name": "study",
            "description": plan.describe(),
            "axes": {"depth": [1], "width": [4], "cardinality": [1, 2, 4], "bottleneck_width": [1, 2, 4]},
        }
    )
    options = RunOptions(trials=plan.trials, sampler="grid", scheduler="fifo", seed=0)
    run = RunDirectory.create(path, space, options, plan=plan.to_dict())
    study = optuna.create_study(
        storage=run.storage_url, study_name=space.name, directions=["maximize", "minimize"]
    )
    for seed in plan.seed_values:
        for k, member in enumerate(plan.members):
            accuracy = 0.7 + 0.02 * k + 0.01 * seed
            history = [{"epoch": float(e), "val_accuracy": accuracy - 0.1 * (3 - e)} for e in (1, 2, 3)]
            failed = (k, seed) == (2, 1)
            attrs = {
                **architecture_attrs(member.arch, member.complexity),
                "seed": seed,
                "latency_ms": 0.2,
                "history": [] if failed else history,
                "epochs": 0 if failed else 3,
                "error": "RuntimeError: NaN loss" if failed else None,
            }
            study.add_trial(
                optuna.trial.create_trial(
                    state=optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE,
                    values=None if failed else [accuracy, float(member.complexity.flops)],
                    user_attrs=attrs,
                )
            )
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_report(browser: Any, report: Path) -> tuple[Any, list[str], list[str]]:
    """Open the report from file:// with every network request refused; returns page, errors, requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []

    def refuse(route: Any) -> None:
        if not route.request.url.startswith(("file://", "blob:", "data:")):
            requests.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", refuse)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report.resolve().as_uri())
    page.wait_for_function("document.querySelectorAll('#trials tbody tr').length > 0")
    return page, errors, requests


def rendered_plots(page: Any) -> tuple[int, int]:
    return page.evaluate(
        "[document.querySelectorAll('div.plot').length,"
        " document.querySelectorAll('div.plot.js-plotly-plot .main-svg').length > 0 ?"
        " [...document.querySelectorAll('div.plot')].filter(d => d.querySelector('.main-svg')).length : 0]"
    )


@pytest.mark.browser
def test_report_renders_every_view_offline(tmp_path: Path, browser: Any) -> None:
    runs = [make_run(tmp_path / "run-a", "tiny"), make_run(tmp_path / "run-b", "tiny", seed=1)]
    report = write_report(runs, tmp_path / "report.html")
    page, errors, requests = open_report(browser, report)
    divs, drawn = rendered_plots(page)
    ids = page.evaluate("[...document.querySelectorAll('div.plot')].map(d => d.id)")
    assert divs == drawn
    for view in ("plot-pareto-flops", "plot-pareto-params", "plot-edf-run", "plot-curves"):
        assert view in ids
    # Sub-spaces are compared within each run: one C-vs-width answer and plot, and one EDF per grouping, each.
    for run in (0, 1):
        for view in ("plot-tradeoff", "plot-edf-cardinality", "plot-edf-depths"):
            assert f"{view}-{run}" in ids
    answers = page.evaluate("[...document.querySelectorAll('#tradeoff p.answer')].map(p => p.textContent)")
    assert len(answers) == 2 and all(answer.startswith("Not enough data") for answer in answers)
    assert page.evaluate("[...document.querySelectorAll('#tradeoff h3')].map(h => h.textContent)") == [
        "run-a",
        "run-b",
    ]
    assert "plot-importance" in ids
    names = page.evaluate(
        "[...document.querySelectorAll('div.plot')].flatMap(d => d.data)"
        ".filter(t => t.customdata).flatMap(t => t.customdata.filter(Boolean).map(c => c[3]))"
    )
    assert "X-1-2x2d-w4" in names
    template = page.evaluate("document.getElementById('plot-pareto-flops').data[0].hovertemplate")
    assert "customdata[3]" in template
    assert page.evaluate("document.querySelectorAll('#trials tbody tr').length") == 24
    assert page.locator("#trials tbody tr.front").count() >= 2
    assert page.locator("#page-range").text_content() == "rows 1–24 of 24"
    assert page.locator("#page-next").is_disabled() and page.locator("#page-prev").is_disabled()
    assert errors == []
    assert requests == []
    # plotly.js is embedded exactly once: its licence banner ("plotly.js v4.1.1") occurs once in the bundle
    bundle = get_plotlyjs()
    banner = re.search(r"plotly\.js v[0-9.]+", bundle)
    assert banner is not None and bundle.count(banner.group()) == 1
    assert report.read_text().count(banner.group()) == 1


@pytest.mark.browser
def test_a_copy_is_shown_as_a_copy(tmp_path: Path, browser: Any) -> None:
    # Trial 12 copies trial 0, the cheapest trial and so on the front.
    report = write_report([make_run(tmp_path / "run", "tiny", copy_of=0)], tmp_path / "copies.html")
    page, errors, _ = open_report(browser, report)
    headings = page.evaluate("[...document.querySelectorAll('#trials th')].map(th => th.textContent)")
    cells = page.evaluate(
        "[...document.querySelectorAll('#trials tbody tr')].map(tr =>"
        " [tr.className, ...[...tr.cells].map(td => td.textContent)])"
    )
    by_trial = {row[1 + headings.index("trial")]: row for row in cells}
    copy, source = by_trial["12"], by_trial["0"]
    assert copy[1 + headings.index("copy of")] == "= trial 0"
    assert copy[1 + headings.index("Pareto")] == "" and "front" not in copy[0] and "copy" in copy[0]
    assert source[1 + headings.index("Pareto")] == "★" and source[1 + headings.index("copy of")] == ""
    # The copy is drawn nowhere: it would sit on its source's point and count twice.
    drawn = page.evaluate(
        "[...document.querySelectorAll('div.plot')].flatMap(d => d.data)"
        ".filter(t => t.customdata).flatMap(t => t.customdata.filter(Boolean).map(c => c[1]))"
    )
    assert 0 in drawn and 12 not in drawn
    front = page.evaluate(
        "document.getElementById('plot-pareto-flops').data"
        ".filter(t => t.name.startsWith('Pareto front')).flatMap(t => t.meta.rows).length"
    )
    assert page.locator("#trials tbody tr.front").count() == front
    # The downloaded table keeps the source's trial number, as trials.csv does.
    page.locator("#csv").click()
    text = page.evaluate("fetch(document.getElementById('csv').href).then(r => r.text())")
    rows = {line["number"]: line for line in csv.DictReader(io.StringIO(text))}
    assert (rows["12"]["reused_from"], rows["12"]["pareto"]) == ("0", "")
    assert (rows["0"]["reused_from"], rows["0"]["pareto"]) == ("", "True")
    assert errors == []


@pytest.mark.browser
def test_user_strings_never_execute(tmp_path: Path, browser: Any) -> None:
    run = make_run(tmp_path / IMG_TAG.replace("/", ""), "evil", evil=True)
    report = write_report([run], tmp_path / "evil.html")
    page, errors, _ = open_report(browser, report)
    # Hover every point of the Pareto plot so Plotly draws the names in its labels too.
    page.evaluate(
        "(() => { const gd = document.getElementById('plot-pareto-flops');"
        " gd.data.forEach((t, c) => (t.x || []).forEach((_, i) =>"
        " Plotly.Fx.hover(gd, [{curveNumber: c, pointNumber: i}]))); })()"
    )
    page.locator("#trials th").first.click()
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    body = page.locator("body").inner_text()
    assert SCRIPT_TAG in body  # shown as text, in the table and the header
    assert IMG_TAG in body
    assert errors == []


@pytest.mark.browser
def test_tradeoff_report_leads_with_the_study(tmp_path: Path, browser: Any) -> None:
    report = write_report([make_tradeoff_run(tmp_path / "tradeoff")], tmp_path / "tradeoff.html")
    page, errors, requests = open_report(browser, report)
    divs, drawn = rendered_plots(page)
    assert divs == drawn
    sections = page.evaluate("[...document.querySelectorAll('section')].map(s => s.id)")
    assert sections[:3] == ["run", "study", "pareto"]
    assert page.locator("#study p.answer").text_content().startswith("at ")
    assert page.locator("#study p.method").text_content().startswith("Confidence 95% for the comparisons")
    assert page.locator("#study table.comparisons tbody tr").count() == 2  # the best against each rival
    assert page.locator("#study table.study tbody tr").count() == 3
    for plot, traces in (("plot-study-0", 2), ("plot-study-curves-0", 3)):
        assert page.evaluate(f"document.getElementById('{plot}').data.length") == traces
        # The study plot: members' t-intervals over seeds (C=1 and C=2); the curves: std per epoch.
        assert page.locator(f"#{plot} .errorbar").count() > 0
    assert errors == [] and requests == []


def test_cli_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = make_run(tmp_path / "cli-run", "tiny")
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(Path("reports") / "cli-run.html")
    assert (tmp_path / "reports" / "cli-run.html").stat().st_size > 1_000_000
    missing = tmp_path / "missing"
    assert main(["report", str(run), str(missing), "-o", str(tmp_path / "x.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0] and "run.json" in err[0]
    assert not (tmp_path / "x.html").exists()
    shutil.rmtree(tmp_path / "reports")

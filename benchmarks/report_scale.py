"""Report scale: 10,000 synthetic trials -> one HTML report; prints its size and the seconds it took.

Goals: under 12 MB and under 10 s. The trials are synthetic but shaped like a real run's
(the trials table and per-epoch history the analysis reads), built in memory through the public API, so the
timing covers analysis, rendering and writing.

    python benchmarks/report_scale.py [--trials 10000] [--epochs 5] [--output /tmp/report_scale.html]
                                      [--no-browser]

Then, unless --no-browser, it opens the report in headless Chromium (Debian's, software rendering: no GPU)
and prints the seconds until every plot is drawn, and how long 10 hover moves and one table sort take.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nas_resnext.report import render_report
from nas_resnext.report.data import RunMeta, build_report_data
from nas_resnext.rundir import TRIAL_COLUMNS, RunOptions
from nas_resnext.space import DesignSpace

SPACE = Path(__file__).resolve().parent.parent / "search_spaces" / "digits_demo.yaml"
MAX_MB = 12.0
MAX_SECONDS = 10.0


def synthetic_trials(trials: int, epochs: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    depth = rng.choice([1, 2, 3], trials)
    width = rng.choice([8, 16, 24, 32], trials)
    cardinality = rng.choice([1, 2, 4, 8], trials)
    bottleneck = rng.choice([2, 3, 4, 6, 8, 12, 16], trials)
    flops = (2e5 * depth * width * (1 + cardinality * bottleneck / 8)).astype(int)
    accuracy = np.clip(0.6 + 0.05 * np.log(flops / 1e5) + rng.normal(0, 0.02, trials), 0, 1)
    state = rng.choice(["COMPLETE", "PRUNED", "FAIL"], trials, p=[0.8, 0.15, 0.05])
    trained = np.where(state == "COMPLETE", epochs, np.where(state == "PRUNED", 1, 0))
    table = pd.DataFrame(
        {
            "run": "scale",
            "number": np.arange(trials),
            "state": state,
            "name": [
                f"X-{9 * d + 2}-{c}x{b}d-w{w}"
                for d, c, b, w in zip(depth, cardinality, bottleneck, width, strict=True)
            ],
            "depths": [f"{d},{d},{d}" for d in depth],
            "width": width,
            "cardinality": cardinality,
            "bottleneck_width": bottleneck,
            "group_width": cardinality * bottleneck,
            "seed": 0,
            "flops": flops,
            "params": flops // 30,
            "latency_ms": flops / 3e6,
            "val_accuracy": np.where(state == "FAIL", np.nan, accuracy),
            "epochs": trained,
            "seconds": trained * 4.0,
            "error": np.where(state == "FAIL", "RuntimeError: CUDA out of memory", None),
            "reused_from": None,
        }
    )[["run", *TRIAL_COLUMNS]]
    numbers = np.repeat(np.arange(trials), trained)
    epoch = np.concatenate([np.arange(1, n + 1) for n in trained])
    final = accuracy[numbers]
    history = pd.DataFrame(
        {
            "run": "scale",
            "number": numbers,
            "epoch": epoch,
            "val_accuracy": final - 0.05 * (trained[numbers] - epoch),
        }
    )
    return table, history


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path(tempfile.gettempdir()) / "report_scale.html")
    parser.add_argument("--no-browser", action="store_true", help="skip opening it in headless Chromium")
    args = parser.parse_args()
    space = DesignSpace.from_file(SPACE)
    table, history = synthetic_trials(args.trials, args.epochs)
    start = time.perf_counter()
    options = RunOptions(trials=args.trials, sampler="random", scheduler="moasha", seed=0)
    data = build_report_data([RunMeta("scale", Path("scale"), space, options)], [table], [history])
    output = render_report(data, args.output)
    seconds = time.perf_counter() - start
    megabytes = output.stat().st_size / 1e6
    print(f"trials: {args.trials} ({args.epochs} epochs each when complete; {len(history)} history points)")
    print(f"report: {output}")
    print(f"size:    {megabytes:.2f} MB (goal < {MAX_MB:g} MB): {'ok' if megabytes < MAX_MB else 'MISSED'}")
    print(
        f"seconds: {seconds:.2f} s (goal < {MAX_SECONDS:g} s): {'ok' if seconds < MAX_SECONDS else 'MISSED'}"
    )
    if not args.no_browser:
        browser_timings(output)
    return 0 if megabytes < MAX_MB and seconds < MAX_SECONDS else 1


def browser_timings(report: Path) -> None:
    """Open the report as a user would and time the first draw and two interactions."""
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        start = time.perf_counter()
        page.goto(report.resolve().as_uri(), wait_until="load", timeout=300_000)
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6")
        drawn = time.perf_counter() - start
        box = page.locator(".js-plotly-plot").first.bounding_box()
        start = time.perf_counter()
        for k in range(10):
            page.mouse.move(box["x"] + box["width"] * (0.3 + 0.04 * k), box["y"] + box["height"] * 0.5)
        page.evaluate("new Promise(done => requestAnimationFrame(() => done()))")
        hover = time.perf_counter() - start
        start = time.perf_counter()
        page.locator("#trials th").first.click()
        page.evaluate("new Promise(done => requestAnimationFrame(() => done()))")
        sort = time.perf_counter() - start
        browser.close()
    print(
        f"browser: every plot drawn {drawn:.1f} s after opening; "
        f"10 hover moves {hover:.2f} s; sort {sort:.2f} s"
    )


if __name__ == "__main__":
    raise SystemExit(main())

"""Run a search: Optuna proposes in-budget candidates, Ray Tune trains them, the study records them."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.search.rundir import RunDirectory, RunOptions
from nas_resnext.search.sampling import FeasibleSampler, make_sampler
from nas_resnext.search.study import is_counted, open_study, recover_interrupted
from nas_resnext.space import DesignSpace

if TYPE_CHECKING:  # the searcher imports Ray, which must wait for prepare_ray_environment
    from nas_resnext.search.searcher import CandidateSampler


@dataclass
class SearchOutcome:
    run: RunDirectory
    trials: list[FrozenTrial]
    pareto: list[FrozenTrial]
    interrupted: bool
    requeued: list[int]
    seconds: float

    def counts(self) -> dict[str, int]:
        """Trials by outcome; ``INTERRUPTED`` ones failed because the search stopped and run again."""
        counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "INTERRUPTED": 0}
        for trial in self.trials:
            if trial.user_attrs.get("interrupted"):
                counts["INTERRUPTED"] += 1
            elif trial.state.name in counts:
                counts[trial.state.name] += 1
        return counts


def prepare_ray_environment(address: str | None) -> None:
    """Settings read when Ray is first imported: call before importing it.

    Without an address, the private local Ray binds to 127.0.0.1 only (Ray otherwise advertises the
    machine's network address; this switch is Ray's own for single-machine clusters). Usage statistics
    stay off unless the user turned them on.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not address:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def connect_ray(address: str | None) -> None:
    """Join the cluster at ``address``, or start a private local Ray (dashboard off, loopback only).

    A cluster with token authentication (Ray's default) needs ``RAY_AUTH_MODE=token`` and its token
    (``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``) in the environment of the search.
    """
    prepare_ray_environment(address)
    import ray

    if ray.is_initialized():
        return
    common: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "configure_logging": True,
    }
    # Ray logs a notice about its (default, kept) token authentication on every start; it is not news.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    if address:
        ray.init(address=address, **common)
    else:
        # "local" always starts a new private instance instead of joining one found on this machine.
        ray.init(address="local", **common)


class Progress:
    """One line per finished trial: done/total, running, best accuracy, front size, elapsed and ETA."""

    def __init__(self, total: int, already: int, stream: TextIO | None, show_seed: bool = False) -> None:
        self.total = total
        self.show_seed = show_seed
        self.already = already
        self.stream = stream
        self.started = time.monotonic()
        self.finished_here = 0

    def trial_finished(self, trial: FrozenTrial, study: optuna.Study, running: int) -> None:
        self.finished_here += 1
        if self.stream is None:
            return
        trials = study.get_trials(deepcopy=False)
        done = sum(is_counted(t) for t in trials)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        best = max((t.values[0] for t in complete), default=None)
        front = len(pareto_front(study))
        elapsed = time.monotonic() - self.started
        remaining = max(self.total - done, 0)
        eta = elapsed / self.finished_here * remaining if self.finished_here else 0.0
        attrs = trial.user_attrs
        if trial.state == TrialState.COMPLETE:
            outcome = f"acc {trial.values[0]:.2%}"
        elif trial.state == TrialState.PRUNED:
            outcome = f"stopped after {attrs.get('epochs', 0)} epochs"
        else:
            outcome = f"FAIL {str(attrs.get('error', ''))[:80]}"
        if "reused_from" in attrs:
            outcome += f" (reused from trial {attrs['reused_from']})"
        best_text = f"{best:.2%}" if best is not None else "-"
        seed = f" seed {attrs.get('seed')}" if self.show_seed else ""
        self.stream.write(
            f"[{done}/{self.total}] trial {trial.number} {attrs.get('name', '?')}{seed} "
            f"{attrs.get('flops', 0) / 1e9:.4f} GFLOPs: {outcome} | running {running}, best {best_text}, "
            f"front {front}, elapsed {_duration(elapsed)}, ETA {_duration(eta)}\n"
        )
        self.stream.flush()


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto-optimal COMPLETE trials, one per architecture (a reused result is not listed twice)."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not trials:
        return []
    front: dict[str, FrozenTrial] = {}
    for trial in sorted(study.best_trials, key=lambda t: t.number):
        front.setdefault(trial.user_attrs.get("name", str(trial.number)), trial)
    return list(front.values())


def restore_rungs(scheduler: Any, trials: list[FrozenTrial]) -> int:
    """Give a resumed search's ``moasha`` the rung results of the trials trained before it stopped.

    Each trained trial's per-epoch history (kept in the study) is replayed onto the rungs it reached, so
    the first trials after a resume are ranked against everything seen before, not against an empty rung.
    A reused trial is the same training as its source and is replayed once. Returns the trials replayed.
    """
    replayed = 0
    for trial in trials:
        attrs = trial.user_attrs
        history = attrs.get("history") or []
        if (
            trial.state not in (TrialState.COMPLETE, TrialState.PRUNED)
            or "reused_from" in attrs
            or not history
        ):
            continue
        fixed = {k: attrs[k] for k in ("flops", "params", "latency_ms") if k in attrs}
        results = [
            {**fixed, **entry, scheduler.time_attr: int(entry["epoch"])}
            for entry in history
            if "epoch" in entry
        ]
        try:
            replayed += scheduler.record_history(f"study-trial-{trial.number}", results) > 0
        except KeyError:  # a trial of an older run lacks an objective the scheduler ranks on
            continue
    return replayed


def _trial_dirname(trial: Any) -> str:
    return f"trial_{trial.config['trial_number']:05d}_{trial.config['name']}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def run_search(
    run: RunDirectory, space: DesignSpace, options: RunOptions, stream: TextIO | None = sys.stderr
) -> SearchOutcome:
    """Run (or continue) the search of ``run`` until it holds ``options.trials`` finished trials.

    Trials left running by a killed search are recorded FAIL ("interrupted") and queued to run again.
    Ctrl-C stops cleanly: trials in flight are handled the same way, and ``--resume`` continues.
    """
    started = time.monotonic()
    feasible = FeasibleSampler(space)
    feasible.check_feasible()
    with warnings.catch_warnings():
        # multivariate TPE is marked experimental; the warning says nothing a user can act on
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = make_sampler(options.sampler, feasible, options.seed)
    study = open_study(run.study_file, space.name, space.objectives, sampler)
    queue = feasible.queue_grid if options.sampler == "grid" else None
    return run_study(run, space, options, study, feasible, stream, queue=queue, started=started)


def run_study(
    run: RunDirectory,
    space: DesignSpace,
    options: RunOptions,
    study: optuna.Study,
    candidates: CandidateSampler,
    stream: TextIO | None = sys.stderr,
    queue: Callable[[optuna.Study], object] | None = None,
    started: float | None = None,
) -> SearchOutcome:
    """Train the candidates ``study`` asks for through Ray Tune until it holds ``options.trials`` finished
    trials; what ``run_search`` and a trade-off study share.

    ``candidates`` maps Optuna parameters to architectures (and, for a trade-off study, training seeds);
    ``queue`` (if given) queues fixed trials after interrupted ones were recovered.
    """
    prepare_ray_environment(options.ray_address)
    from ray import tune

    from nas_resnext.search.schedulers import MOASHAScheduler, make_scheduler
    from nas_resnext.search.searcher import StudySearcher
    from nas_resnext.search.trial import train_trial

    started = time.monotonic() if started is None else started
    requeued = recover_interrupted(study)
    if queue is not None:
        queue(study)
    already = sum(is_counted(t) for t in study.get_trials(deepcopy=False))
    per_trial_seed = hasattr(candidates, "seed_of")
    progress = Progress(options.trials, already, stream, show_seed=per_trial_seed)

    def finished(trial: FrozenTrial) -> None:
        run.write_trials(study.get_trials(deepcopy=False))
        progress.trial_finished(trial, study, searcher.running)

    searcher = StudySearcher(
        study,
        candidates,
        space.objectives,
        max_epochs=space.training.epochs,
        total_trials=options.trials,
        base_config={
            "training": space.training.to_dict(),
            "dataset": space.dataset,
            "data_dir": str(Path(space.data_dir).resolve()) if space.data_dir else None,
        },
        on_trial_finished=finished,
        grid=options.sampler == "grid",
    )
    run.write_trials(study.get_trials(deepcopy=False))
    interrupted = False
    if already < options.trials:
        if stream is not None:
            what = "studying" if options.kind == "tradeoff" else "searching"
            how = f"{space.training.epochs} epochs each"
            if options.kind != "tradeoff":
                how = f"sampler {options.sampler}, scheduler {options.scheduler}, " + how
            stream.write(
                f"{what} {space.name}: {options.trials - already} trials to run "
                f"({already} already finished), {how}; run directory {run.path}\n"
            )
            if requeued:
                stream.write(f"trials interrupted earlier and queued again: {requeued}\n")
            stream.flush()
        connect_ray(options.ray_address)
        search_alg: Any = searcher
        if options.max_concurrent:
            search_alg = tune.search.ConcurrencyLimiter(searcher, max_concurrent=options.max_concurrent)
        scheduler = make_scheduler(
            options.scheduler,
            list(space.objectives),
            max_t=space.training.epochs,
            grace_period=options.grace_period,
            reduction_factor=options.reduction_factor,
            selection=options.selection,
        )
        if isinstance(scheduler, MOASHAScheduler):
            restore_rungs(scheduler, study.get_trials(deepcopy=False))
        storage = options.storage_path or str(run.ray_dir.resolve())
        experiment = f"{run.path.resolve().name}-{time.strftime('%Y%m%d-%H%M%S')}"
        resources = {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial}
        # Progress is ours (one line per trial); Ray's own tables would interleave with it.
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        tuner = tune.Tuner(
            tune.with_resources(train_trial, resources),
            tune_config=tune.TuneConfig(
                search_alg=search_alg,
                scheduler=scheduler,
                num_samples=-1,
                trial_dirname_creator=_trial_dirname,
                # A worker that already imported torch and read the data set takes the next trial.
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=experiment,
                storage_path=storage,
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=0),
            ),
        )
        # Ray's own advice on an interrupted run (Tuner.restore) does not apply: --resume does it.
        logging.getLogger("ray.tune").setLevel(logging.ERROR)
        try:
            tuner.fit()
        except KeyboardInterrupt:
            interrupted = True
        trials = study.get_trials(deepcopy=False)
        if sum(is_counted(t) for t in trials) < options.trials:
            interrupted = True
            requeued = recover_interrupted(study)
    trials = study.get_trials(deepcopy=False)
    run.write_trials(trials)
    options.wall_seconds += time.monotonic() - started
    run.save_options(options)
    return SearchOutcome(run, trials, pareto_front(study), interrupted, requeued, time.monotonic() - started)

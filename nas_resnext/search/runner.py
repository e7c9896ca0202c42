"""The search loop: Optuna proposes candidates, Ray Tune trains them, the study records them."""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial

from nas_resnext.rundir import RunDirectory, RunOptions
from nas_resnext.search.candidates import CandidateSampler
from nas_resnext.search.checkpoints import CHECKPOINTS_KEPT, trial_dirname
from nas_resnext.search.environment import check_cluster, connect_ray, search_environment
from nas_resnext.search.kept_weights import KeptWeights
from nas_resnext.search.progress import Progress
from nas_resnext.search.sampling import FeasibleSampler, fidelities, make_sampler
from nas_resnext.search.study import is_counted, pareto_front, quiet_optuna, recover_interrupted
from nas_resnext.space import DesignSpace


@dataclass
class SearchOutcome:
    run: RunDirectory
    trials: list[FrozenTrial]
    pareto: list[FrozenTrial]
    interrupted: bool
    requeued: list[int]
    seconds: float
    options: RunOptions  # as saved at the end (wall time added)

    def counts(self) -> dict[str, int]:
        """Trials by outcome; ``INTERRUPTED`` ones failed because the search stopped, ``RETRIED`` ones because
        of a transient fault, and both ran again."""
        counts = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0, "INTERRUPTED": 0, "RETRIED": 0}
        for trial in self.trials:
            if trial.user_attrs.get("interrupted"):
                counts["INTERRUPTED"] += 1
            elif trial.user_attrs.get("retried"):
                counts["RETRIED"] += 1
            elif trial.state.name in counts:
                counts[trial.state.name] += 1
        return counts


def _trial_dirname(trial: Any) -> str:
    return trial_dirname(trial.config["trial_number"], trial.config["name"])


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
    study = run.open_study(sampler=None)
    with warnings.catch_warnings():
        # multivariate TPE is marked experimental; the warning says nothing a user can act on
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # Built once the study is open: a resumed run's sampler continues from the trials it holds.
        study.sampler = make_sampler(
            options.sampler,
            feasible,
            options.seed,
            len(study.get_trials(deepcopy=False)),
            objectives=space.objectives,
            fidelities=fidelities(
                options.scheduler, space.training.epochs, options.grace_period, options.reduction_factor
            ),
        )
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
    ``queue`` (if given) queues fixed trials after interrupted ones were recovered. The options, with the
    wall time added, are saved to the run directory and returned in the outcome.

    The run is held for the whole time (:meth:`RunDirectory.hold`: another start on it is a ConfigError),
    and per-trial resources that no node of the cluster has are a ConfigError before any trial starts.
    """
    started = time.monotonic() if started is None else started
    with run.hold(), search_environment(options.ray_address), quiet_optuna():
        requeued = recover_interrupted(study)
        kept = KeptWeights(run, study, options.keep_weights)
        kept.update()  # a killed search may have finished trials whose weights it never kept
        if queue is not None:
            queue(study)
        already = sum(is_counted(t) for t in study.get_trials(deepcopy=False))
        run.write_trials(study.get_trials(deepcopy=False))
        interrupted = False
        if already < options.trials:
            check_cluster(options)
            if stream is not None:
                how = ", ".join(
                    part
                    for part in (candidates.chosen_by(options), f"{space.training.epochs} epochs each")
                    if part
                )
                stream.write(
                    f"{candidates.activity} {space.name}: {options.trials - already} trials to run "
                    f"({already} already finished), {how}; run directory {run.path}\n"
                )
                if requeued:
                    stream.write(f"trials interrupted earlier and queued again: {requeued}\n")
                stream.flush()
            interrupted, requeued = _fit(run, space, options, study, candidates, stream, requeued, kept)
        kept.update()
        trials = study.get_trials(deepcopy=False)
        run.write_trials(trials)
        front = pareto_front(study)
    saved = dataclasses.replace(options, wall_seconds=options.wall_seconds + time.monotonic() - started)
    run.save_options(saved)
    return SearchOutcome(run, trials, front, interrupted, requeued, time.monotonic() - started, saved)


def _fit(
    run: RunDirectory,
    space: DesignSpace,
    options: RunOptions,
    study: optuna.Study,
    candidates: CandidateSampler,
    stream: TextIO | None,
    requeued: list[int],
    kept: KeptWeights,
) -> tuple[bool, list[int]]:
    """One Ray Tune experiment until the study holds ``options.trials`` finished trials or it is stopped.

    Returns whether it was interrupted and the trials queued again for a re-run.
    """
    # Ray reads its environment on import, so it is imported here, inside the search environment.
    from ray import tune

    from nas_resnext.search.schedulers import MOASHAScheduler, make_scheduler
    from nas_resnext.search.searcher import StudySearcher
    from nas_resnext.search.trial import train_trial

    progress = Progress(options.trials, stream, show_seed=candidates.per_trial_seed)
    storage = options.storage_path or str(run.ray_dir.resolve())
    experiment = f"{run.path.resolve().name}-{time.strftime('%Y%m%d-%H%M%S')}"

    def finished(trial: FrozenTrial) -> None:
        run.write_trials(study.get_trials(deepcopy=False))
        kept.update()
        if not trial.user_attrs.get("retried"):
            progress.trial_finished(trial, study, searcher.running)
        elif stream is not None:  # not a finished trial: the same candidate trains again
            attrs = trial.user_attrs
            fault = str(attrs.get("fault", attrs.get("error", "")))
            stream.write(
                f"trial {trial.number} {attrs.get('name', '?')} failed ({fault[:80]}); "
                f"transient, so it trains again: attempt {attrs.get('attempt', 1) + 1} of "
                f"{options.retries + 1}\n"
            )
            stream.flush()

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
            # Names the run's device coordinators: latency measured alone, once per architecture.
            "coordination": str(run.path.resolve()),
        },
        on_trial_finished=finished,
        grid=options.sampler == "grid",
        retries=options.retries,
        experiment_dir=Path(storage) / experiment,
    )
    connect_ray(options.ray_address)
    _prestart_coordinators(run, space, options)
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
        front_grace=options.front_grace,
    )
    if isinstance(scheduler, MOASHAScheduler):
        scheduler.replay_study(study.get_trials(deepcopy=False))
    resources = {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial}
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
            checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        ),
    )
    interrupted = False
    try:
        tuner.fit()
    except KeyboardInterrupt:
        interrupted = True
    if sum(is_counted(t) for t in study.get_trials(deepcopy=False)) < options.trials:
        interrupted = True
        requeued = recover_interrupted(study)
    return interrupted, requeued


def _prestart_coordinators(run: RunDirectory, space: DesignSpace, options: RunOptions) -> None:
    """Start the run's processor coordinators on the nodes that can run a trial while Ray Tune starts the
    first trials' workers, rather than after them (see :meth:`DeviceCoordination.prestart`). Trials on GPUs
    coordinate per GPU, which only a process that has it can name: theirs start with the first trial."""
    import ray

    from nas_resnext.search.device_lock import DeviceCoordination

    device = space.training.device
    if not (device == "cpu" or (device == "auto" and not options.gpus_per_trial)):
        return
    nodes = [
        node["NodeID"]
        for node in ray.nodes()
        if node.get("Alive") and float(node.get("Resources", {}).get("CPU", 0.0)) >= options.cpus_per_trial
    ]
    DeviceCoordination.prestart(str(run.path.resolve()), nodes, "cpu")

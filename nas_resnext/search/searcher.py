"""A Ray Tune Searcher over Optuna's ask/tell interface, with the study as the search's history.

Why not Ray's ``OptunaSearch``: it tells Optuna that a trial stopped early by a scheduler is COMPLETE
with its last low-epoch metrics, which would put half-trained candidates on the Pareto front. Here such a
trial is told PRUNED (its per-epoch values kept in the ``history`` user attribute); a candidate that
failed or diverged is told FAIL with its message; an architecture already trained in this run (with the
same training seed) is not trained again, its result is copied to the new trial.

A failure that says more about the moment than about the candidate (:func:`is_transient`: a lost worker or
node, out of memory, an operating-system or connection error) is retried: the attempt is told FAIL marked
``retried`` (not counted toward the requested trials, never copied to a later draw) and the same parameters
are queued again as the next ``attempt``, up to ``retries`` more attempts; the last one's failure is final.

Every trial trains in its own folder of the run's Ray Tune experiment (user attribute ``trial_dir``), where
its checkpoints are. A trial that runs a candidate again (``rerun_of`` an interrupted trial, ``retry_of`` a
transient failure) continues from the latest checkpoint of the attempts before it: its config names that
checkpoint (``resume_from``), its history starts with their epochs, and ``start_epoch`` records where it
began. Every trial also records the Ray node it trained on, from its first report (``node``, the node's id;
``node_ip``, its address): a retry after a lost node names the node that took it over.

The candidate sampler (:class:`~nas_resnext.search.candidates.CandidateSampler`) maps Optuna parameters to an
architecture; one with ``per_trial_seed`` gives each trial its own training seed (a trade-off study's
seeds), otherwise every trial trains with the run's one seed.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from ray.tune.search import Searcher

from nas_resnext.architecture import Architecture
from nas_resnext.complexity import count_analytic
from nas_resnext.search.candidates import CandidateSampler
from nas_resnext.search.checkpoints import latest_checkpoint, read_info, trial_dirname
from nas_resnext.search.study import (
    architecture_attrs,
    is_counted,
    objective_values,
    queue_retry,
    retried_error,
)

TrialListener = Callable[[FrozenTrial], None]
_LOG = logging.getLogger(__name__)
_HISTORY_KEYS = ("epoch", "val_accuracy", "val_loss", "train_loss", "epoch_seconds", "images_per_second")
# Exceptions (by type name, as a failed result's error text starts) that are not builtin OSErrors but
# transient all the same: torch's CUDA out of memory, on a device other trials share.
_TRANSIENT_ERRORS = frozenset({"OutOfMemoryError"})


def is_transient(result: Mapping[str, Any], crashed: bool) -> bool:
    """Whether a failed trial may well succeed if trained again.

    ``crashed``: Ray reports the trial errored (its worker process or node was lost). Otherwise ``result``,
    the trial's last report, tells: out of memory (the trainer's ``out of memory on ...``, or an
    ``OutOfMemoryError``), or a builtin ``OSError`` (connection errors and time-outs included). A
    divergence, an invalid architecture or any other exception is the candidate's own and final.
    """
    if crashed:
        return True
    if result.get("state") != "failed":
        return False
    message = str(result.get("error") or "")
    if message.lower().startswith("out of memory"):
        return True
    name = message.split(":", 1)[0].strip()
    builtin = getattr(builtins, name, None)
    return name in _TRANSIENT_ERRORS or (isinstance(builtin, type) and issubclass(builtin, OSError))


@dataclass
class _Running:
    trial: optuna.trial.Trial
    arch: Architecture
    key: str
    attempt: int
    history: list[dict[str, float]] = field(default_factory=list)
    last: dict[str, Any] = field(default_factory=dict)
    start_epoch: int | None = None
    node: str | None = None
    history_refused: bool = False  # the database refused the history (warned once)


class StudySearcher(Searcher):
    """Suggests in-budget architectures from an Optuna study and tells it every outcome."""

    def __init__(
        self,
        study: optuna.Study,
        sampler: CandidateSampler,
        objectives: Sequence[str],
        max_epochs: int,
        total_trials: int,
        base_config: dict[str, Any],
        on_trial_finished: TrialListener | None = None,
        grid: bool = False,
        retries: int = 2,
        experiment_dir: Path | None = None,
    ) -> None:
        super().__init__(metric=None, mode=None)
        self.study = study
        self.sampler = sampler
        self.objectives = list(objectives)
        self.max_epochs = max_epochs
        self.total_trials = total_trials
        self.base_config = base_config
        self.on_trial_finished = on_trial_finished
        self.retries = retries
        self.experiment_dir = experiment_dir
        self._distributions = sampler.distributions(grid=grid)
        self._running: dict[str, _Running] = {}
        # reuse key -> trials that drew an architecture (and seed) while it was still training
        self._waiting: dict[str, list[optuna.trial.Trial]] = {}
        self.exhausted = False

    # -- bookkeeping -----------------------------------------------------------------------------

    def counted_trials(self) -> int:
        finished = sum(is_counted(t) for t in self.study.get_trials(deepcopy=False))
        return finished + len(self._running) + sum(len(v) for v in self._waiting.values())

    @property
    def running(self) -> int:
        return len(self._running)

    def _key(self, attrs: Mapping[str, Any]) -> str:
        """What makes two trials the same training run: the architecture, and the seed where it varies."""
        if not self.sampler.per_trial_seed:
            return str(attrs["name"])
        return f"{attrs['name']}@seed{attrs.get('seed')}"

    def _finished_by_key(self) -> dict[str, FrozenTrial]:
        """Final outcomes by reuse key; an interrupted or retried attempt is no outcome."""
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        failed = [
            t for t in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,)) if is_counted(t)
        ]
        return {self._key(t.user_attrs): t for t in [*failed, *trials] if "name" in t.user_attrs}

    # -- Searcher interface ----------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        while True:
            if self.counted_trials() >= self.total_trials:
                # A running trial may yet fail transiently and need its retry: finished only when none runs.
                return Searcher.FINISHED if not self._running else None
            trial = self.study.ask(self._distributions)
            arch = self.sampler.decode(trial.params)
            training = dict(self.base_config.get("training") or {})
            seed = self.sampler.seed_of(trial.params)
            if seed is not None:
                training["seed"] = seed
            attrs = {**architecture_attrs(arch, count_analytic(arch)), "seed": training.get("seed")}
            for name, value in attrs.items():
                trial.set_user_attr(name, value)
            key = self._key(attrs)
            previous = self._finished_by_key().get(key)
            if previous is not None:
                self._copy_outcome(trial, previous)
                self._settle(key, previous)
                continue
            if any(r.key == key for r in self._running.values()):
                self._waiting.setdefault(key, []).append(trial)
                continue
            attempt = int(trial.user_attrs.get("attempt", 1))  # set on a queued retry or re-run
            trial.set_user_attr("attempt", attempt)
            running = _Running(trial, arch, key, attempt)
            config = {
                **self.base_config,
                "training": training,
                "arch": arch.to_dict(),
                "name": arch.name,
                "seed": training.get("seed"),
                "trial_number": trial.number,
            }
            if self.experiment_dir is not None:
                trial.set_user_attr(
                    "trial_dir", str(self.experiment_dir / trial_dirname(trial.number, arch.name))
                )
            checkpoint = self._checkpoint_to_continue(trial.user_attrs)
            if checkpoint is not None:
                config["resume_from"] = str(checkpoint)
                info = read_info(checkpoint) or {}
                running.history = [
                    {k: float(entry[k]) for k in _HISTORY_KEYS if k in entry}
                    for entry in info.get("history", [])
                ]
            self._running[trial_id] = running
            return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        running = self._running.get(trial_id)
        if running is not None:
            self._record(running, result)

    def _checkpoint_to_continue(self, attrs: Mapping[str, Any]) -> Path | None:
        """The latest checkpoint among the earlier attempts of the candidate a trial runs again."""
        trials = self.study.get_trials(deepcopy=False)
        best: tuple[int, Path] | None = None
        seen: set[int] = set()
        number = attrs.get("rerun_of", attrs.get("retry_of"))
        while isinstance(number, int) and 0 <= number < len(trials) and number not in seen:
            seen.add(number)
            earlier = trials[number].user_attrs
            checkpoint = latest_checkpoint(earlier.get("trial_dir"))
            info = read_info(checkpoint) if checkpoint is not None else None
            if info is not None and (best is None or info["epoch"] > best[0]):
                best = (info["epoch"], checkpoint)
            number = earlier.get("rerun_of", earlier.get("retry_of"))
        return best[1] if best is not None else None

    @staticmethod
    def _record(running: _Running, result: dict[str, Any]) -> None:
        """Keep one epoch's result. Ray hands a result that made the scheduler stop the trial to
        ``on_trial_complete`` only, so both paths come here; an epoch already kept is skipped."""
        running.last = result
        if "start_epoch" in result and running.start_epoch is None:
            running.start_epoch = int(result["start_epoch"])
            running.trial.set_user_attr("start_epoch", running.start_epoch)
            if result.get("resume_problem"):
                running.trial.set_user_attr("resume_problem", str(result["resume_problem"]))
        if result.get("node") and running.node is None:
            running.node = str(result["node"])
            running.trial.set_user_attr("node", running.node)
            if result.get("node_ip"):
                running.trial.set_user_attr("node_ip", str(result["node_ip"]))
        if result.get("state") not in ("running", "complete"):
            return
        epoch = int(result.get("epoch", len(running.history) + 1))
        if running.history and epoch <= running.history[-1].get("epoch", 0):
            return
        running.history.append({k: float(result[k]) for k in _HISTORY_KEYS if k in result})
        # Stored as it arrives, so the curves of a killed search survive in study.db.
        try:
            running.trial.set_user_attr("history", running.history)
        except optuna.exceptions.StorageInternalError as error:
            # A database that cannot hold it (a column too short): the trial goes on without its curve.
            if not running.history_refused:
                running.history_refused = True
                running.trial.set_user_attr(
                    "history_error", f"history from epoch {epoch} not stored: {error}"
                )
                _LOG.warning(
                    "trial %d: its per-epoch history from epoch %d could not be stored in the study: %s",
                    running.trial.number,
                    epoch,
                    error,
                )
        running.trial.set_user_attr("epochs", epoch)
        if "latency_ms" in result:
            running.trial.set_user_attr("latency_ms", float(result["latency_ms"]))

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        running = self._running.pop(trial_id, None)
        if running is None:
            return
        if result:
            self._record(running, result)
        last = running.last
        trial = running.trial
        epochs = len(running.history)
        trial.set_user_attr("epochs", epochs)
        trial.set_user_attr("seconds", sum(h.get("epoch_seconds", 0.0) for h in running.history))
        if last.get("latency_ms") is not None:
            trial.set_user_attr("latency_ms", float(last["latency_ms"]))
        timings = {k: float(v) for k, v in last.items() if k.startswith("time_") and v is not None}
        if timings:  # where the trial's time went besides its epochs (see search/trial.py)
            trial.set_user_attr("timings", timings)
        state = last.get("state")
        retry = False
        if error or state in ("failed", "diverged") or not last:
            message = last.get("error") or (
                "the trial process crashed (see the Ray Tune experiment's error file)"
                if error
                else "no result"
            )
            trial.set_user_attr("error", str(message))
            trial.set_user_attr("outcome", state if state in ("failed", "diverged") else "failed")
            if is_transient(last, error):
                trial.set_user_attr("transient", True)
                retry = running.attempt <= self.retries
                if retry:
                    trial.set_user_attr("retried", True)
                    trial.set_user_attr("error", retried_error(str(message), running.attempt))
                    trial.set_user_attr("fault", str(message))  # the failure itself, for progress lines
            self.study.tell(trial, state=TrialState.FAIL)
            if retry:  # after the tell: a search killed in between queues the retry on --resume
                queue_retry(self.study, trial.number, trial.params, running.attempt + 1)
        elif epochs < self.max_epochs:
            trial.set_user_attr("outcome", "stopped early")
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            values = objective_values(last, self.objectives)
            if values is None:
                trial.set_user_attr("error", f"missing objective in the last result: {self.objectives}")
                trial.set_user_attr("outcome", "failed")
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                trial.set_user_attr("val_accuracy", values[0])
                trial.set_user_attr("outcome", "complete")
                self.study.tell(trial, values=values)
        finished = self.study.get_trials(deepcopy=False)[trial.number]
        if not retry:  # draws of the same candidate wait for its retry instead
            self._settle(running.key, finished)
        self._notify(finished)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the study in study.db is the searcher's whole state."""

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to restore: a resumed search reopens study.db."""

    # -- helpers ---------------------------------------------------------------------------------

    def _settle(self, key: str, outcome: FrozenTrial) -> None:
        """Give the draws waiting on ``key`` its final outcome."""
        for waiting in self._waiting.pop(key, []):
            self._copy_outcome(waiting, outcome)

    def _copy_outcome(self, trial: optuna.trial.Trial, source: FrozenTrial) -> None:
        """Record ``source``'s outcome for ``trial`` (same architecture) without training it again."""
        for key in ("history", "epochs", "seconds", "latency_ms", "val_accuracy", "error", "outcome"):
            if key in source.user_attrs:
                trial.set_user_attr(key, source.user_attrs[key])
        trial.set_user_attr("reused_from", source.number)
        if source.state == TrialState.COMPLETE:
            self.study.tell(trial, values=source.values)
        else:
            self.study.tell(trial, state=source.state)
        self._notify(self.study.get_trials(deepcopy=False)[trial.number])

    def _notify(self, trial: FrozenTrial) -> None:
        if self.on_trial_finished is not None:
            self.on_trial_finished(trial)

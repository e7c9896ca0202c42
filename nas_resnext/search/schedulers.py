"""Ray Tune schedulers for the search: ``fifo``, ``asha`` and ``moasha`` (multi-objective ASHA).

``moasha`` follows Schmucker et al. 2021, "Multi-objective Asynchronous Successive Halving": rungs sit
at ``grace_period * reduction_factor**k`` epochs below ``max_t``; when a trial reaches a rung its
objectives are recorded there, and the trial continues if it is among the top ``max(1, floor(n / eta))``
of the ``n`` results recorded at that rung, ordered by the rule in :mod:`nas_resnext.search.ranking`, or,
where the front grace applies (``front_grace``), if no result recorded there dominates it.

This module keeps the bookkeeping (which trial reached which rung with which objectives); the ranking module
decides. Results are normalised once, here, into loss vectors (lower is better; accuracy negated; None or NaN
as +inf).

Telling stopped trials apart: a trial stopped by ``moasha`` is in :attr:`MOASHAScheduler.stopped_trials`
(trial ids). For any scheduler, :func:`was_stopped_early` on the trial's last epoch says the same without the
scheduler object: a trial that ended without error before ``max_t`` epochs was stopped by the scheduler.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from nas_resnext.compat import scheduler_metric_and_mode, set_scheduler_metric, unbuffered
from nas_resnext.errors import ConfigError
from nas_resnext.pareto import OBJECTIVE_MODES, loss_of
from nas_resnext.search.ranking import SELECTIONS, is_promoted, promotion_quota
from nas_resnext.space import COSTS, FRONT_GRACES, SCHEDULERS

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial
    from ray.tune.execution.tune_controller import TuneController

# The epoch a report is for, not Ray's count of reports: a trial continued from a checkpoint after epoch k
# first reports epoch k + 1.
TIME_ATTR = "epoch"

# Modes of the objectives the search knows; any other metric must be given as (metric, mode).
KNOWN_MODES = OBJECTIVE_MODES

Objective = tuple[str, str]


class MissingMetricError(KeyError):
    """A result lacks a metric the scheduler needs; names the metric, the trial and what was reported."""

    def __init__(self, metric: str, trial_id: str, reported: Sequence[str]) -> None:
        self.metric = metric
        self.trial_id = trial_id
        super().__init__(
            f"trial {trial_id} reported no {metric!r}; it reported {sorted(reported)}. "
            f"Report {metric!r} with every result (None or NaN for a diverged trial)."
        )

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


def parse_objectives(objectives: Sequence[str | tuple[str, str]]) -> list[Objective]:
    """``[(metric, mode), ...]`` from metric names (modes of the known metrics inferred) or explicit pairs."""
    allowed = f"metric names among {sorted(KNOWN_MODES)} or (metric, 'min' | 'max') pairs"
    if isinstance(objectives, str) or len(objectives) == 0:
        raise ConfigError("objectives", objectives, allowed)
    parsed: list[Objective] = []
    for objective in objectives:
        if isinstance(objective, str):
            if objective not in KNOWN_MODES:
                raise ConfigError("objectives", objective, allowed)
            metric, mode = objective, KNOWN_MODES[objective]
        else:
            metric, mode = objective
            if mode not in ("min", "max"):
                raise ConfigError(f"objectives.{metric}.mode", mode, "min | max")
        if metric in (seen for seen, _ in parsed):
            raise ConfigError("objectives", metric, "each metric once")
        parsed.append((metric, mode))
    return parsed


def objective_losses(result: dict[str, Any], objectives: Sequence[Objective], trial_id: str) -> np.ndarray:
    """The result's objectives as a loss vector: maximised metrics negated, None/NaN as +inf.

    Raises :class:`MissingMetricError` when a metric is absent: only an explicit None/NaN means "diverged".
    """
    for metric, _ in objectives:
        if metric not in result:
            raise MissingMetricError(metric, trial_id, result.keys())
    return np.array([loss_of(result[metric], mode) for metric, mode in objectives])


def rung_levels(grace_period: float, reduction_factor: float, max_t: float) -> list[float]:
    """Milestones ``grace_period * reduction_factor**k`` strictly below ``max_t``, ascending."""
    levels = []
    level = grace_period
    while level < max_t:
        levels.append(level)
        level *= reduction_factor
    return levels


def was_stopped_early(trial_last_epoch: int, max_t: int) -> bool:
    """Whether a trial that ended without error was stopped by the scheduler (it did not reach ``max_t``).

    Holds for every scheduler here: ``fifo`` never stops a trial, and ``asha`` and ``moasha`` only stop at
    rungs below ``max_t``. The search tells such trials to Optuna as PRUNED, never COMPLETE.
    """
    return trial_last_epoch < max_t


def _validate_schedule(grace_period: float, reduction_factor: float, max_t: float) -> None:
    if not grace_period >= 1:
        raise ConfigError("grace_period", grace_period, "a number of epochs >= 1")
    if not reduction_factor > 1:
        raise ConfigError("reduction_factor", reduction_factor, "a number > 1")
    if not max_t >= grace_period:
        raise ConfigError("max_t", max_t, f"a number of epochs >= grace_period ({grace_period})")


class _Rung:
    """Results recorded at one milestone: trial id -> loss vector, in arrival order."""

    def __init__(self, level: float) -> None:
        self.level = level
        self.recorded: dict[str, np.ndarray] = {}

    def record(self, trial_id: str, losses: np.ndarray) -> int:
        """Store the trial's losses; returns its row in :meth:`losses`."""
        self.recorded[trial_id] = losses
        return list(self.recorded).index(trial_id)

    def losses(self) -> np.ndarray:
        return np.stack(list(self.recorded.values()))


@unbuffered  # each result must be seen as it comes, so a trial is stopped at its rung, not epochs later
class MOASHAScheduler(FIFOScheduler):
    """Multi-objective asynchronous successive halving (MO-ASHA) as a Ray Tune scheduler.

    Args:
        objectives: metric names (``"val_accuracy"`` maximised; ``"flops"``, ``"params"``,
            ``"activations"``, ``"latency_ms"`` minimised) or ``(metric, "min" | "max")`` pairs. Every
            result must report every objective; None or NaN marks a diverged trial and ranks worst.
        time_attr: the monotonically increasing result key that counts progress (one epoch per report).
        grace_period: epochs before the first rung.
        reduction_factor: eta; about 1/eta of the trials reaching a rung go on to the next.
        max_t: epochs of a full trial; a trial reaching it is stopped but counts as finished.
        selection: how trials of one front are ordered: ``"crowding"`` (NSGA-II crowding distance, the
            default), ``"hypervolume"`` (exclusive hypervolume contribution, as SMS-EMOA) or ``"epsnet"``
            (greedy epsilon-net, MO-ASHA's other rule).
        front_grace: where a result on its rung's Pareto front goes on even past the quota:
            ``"filling"`` (the default: at every rung but the first, while the rung's quota is a single
            place, that is while it holds fewer than ``2 * eta`` results), ``"upper"`` (every rung but the
            first, always), ``"all"`` or ``"none"``. While a quota is one place, an end of the front
            (infinite crowding distance, earlier arrival first) takes it and a newcomer that nothing there
            dominates stops; later rungs fill slowly, so that is where the final front was lost. The first
            rung holds the most and the noisiest results (one epoch), so the quota alone decides there.

    Trials stopped at a rung are listed in :attr:`stopped_trials`. Like Ray's ASHA, it runs trials in FIFO
    order and never pauses one.
    """

    def __init__(
        self,
        objectives: Sequence[str | tuple[str, str]],
        time_attr: str = TIME_ATTR,
        grace_period: int = 1,
        reduction_factor: float = 3,
        max_t: int = 100,
        selection: str = "crowding",
        front_grace: str = "filling",
    ) -> None:
        _validate_schedule(grace_period, reduction_factor, max_t)
        if selection not in SELECTIONS:
            raise ConfigError("selection", selection, " | ".join(SELECTIONS))
        if front_grace not in FRONT_GRACES:
            raise ConfigError("front_grace", front_grace, " | ".join(FRONT_GRACES))
        super().__init__()
        self.selection = selection
        self.front_grace = front_grace
        self.objectives = parse_objectives(objectives)
        self.time_attr = time_attr
        self.grace_period = grace_period
        self.reduction_factor = reduction_factor
        self.max_t = max_t
        self._rungs = [_Rung(level) for level in rung_levels(grace_period, reduction_factor, max_t)]
        self._stopped: set[str] = set()
        # Ray checks each result for the scheduler's metric; the primary objective stands in for all.
        set_scheduler_metric(self, self.objectives[0][0])

    @property
    def rungs(self) -> list[float]:
        """The rung milestones, ascending."""
        return [rung.level for rung in self._rungs]

    @property
    def stopped_trials(self) -> frozenset[str]:
        """Ids of the trials this scheduler stopped at a rung (not those that reached ``max_t``)."""
        return frozenset(self._stopped)

    def recorded(self, level: float) -> dict[str, np.ndarray]:
        """Loss vectors recorded at the rung ``level``, by trial id in arrival order (a copy)."""
        for rung in self._rungs:
            if rung.level == level:
                return dict(rung.recorded)
        raise KeyError(f"no rung at {level}; rungs are {self.rungs}")

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Accept Tune's single metric/mode when it agrees with the objectives; they alone drive stopping."""
        modes = dict(self.objectives)
        return not (metric in modes and mode is not None and modes[metric] != mode)

    def on_trial_add(self, tune_controller: TuneController | None, trial: Trial) -> None:
        pass

    def on_trial_result(self, tune_controller: TuneController | None, trial: Trial, result: dict) -> str:
        losses = objective_losses(result, self.objectives, trial.trial_id)
        progress = self._progress(result, trial.trial_id)
        if progress >= self.max_t:
            return TrialScheduler.STOP
        rung = self._rung_to_record(trial.trial_id, progress)
        if rung is None:
            return TrialScheduler.CONTINUE
        row = rung.record(trial.trial_id, losses)
        if is_promoted(rung.losses(), row, self.reduction_factor, self.selection, self._graced(rung)):
            return TrialScheduler.CONTINUE
        self._stopped.add(trial.trial_id)
        return TrialScheduler.STOP

    def on_trial_complete(self, tune_controller: TuneController | None, trial: Trial, result: dict) -> None:
        # A trial that ends on a rung of its own accord still sets the bar for later ones there.
        if self.time_attr not in result:
            return
        rung = self._rung_to_record(trial.trial_id, self._progress(result, trial.trial_id))
        if rung is not None:
            rung.record(trial.trial_id, objective_losses(result, self.objectives, trial.trial_id))

    def on_trial_error(self, tune_controller: TuneController | None, trial: Trial) -> None:
        pass

    def on_trial_remove(self, tune_controller: TuneController | None, trial: Trial) -> None:
        pass

    def _progress(self, result: dict, trial_id: str) -> float:
        if self.time_attr not in result:
            raise MissingMetricError(self.time_attr, trial_id, result.keys())
        return result[self.time_attr]

    def _graced(self, rung: _Rung) -> bool:
        """Whether a result on ``rung``'s front goes on past the quota now (see ``front_grace``)."""
        if self.front_grace in ("all", "none"):
            return self.front_grace == "all"
        if rung is self._rungs[0]:
            return False
        return self.front_grace == "upper" or promotion_quota(len(rung.recorded), self.reduction_factor) == 1

    def _rung_to_record(self, trial_id: str, progress: float) -> _Rung | None:
        """The highest rung reached and not yet recorded for this trial, if any.

        Only the highest counts when a report skips past several rungs, as in Ray's ASHA.
        """
        for rung in reversed(self._rungs):
            if progress >= rung.level:
                return None if trial_id in rung.recorded else rung
        return None

    def record_history(self, key: str, results: Sequence[dict[str, Any]]) -> int:
        """Record, at every rung it reached, a trial finished before this scheduler started (a resumed
        search); later decisions then rank against it as if the search had never stopped.

        ``results`` are the trial's per-epoch results (``time_attr`` and every objective). Returns the
        number of rungs it was recorded at.
        """
        recorded = 0
        by_progress = {self._progress(r, key): r for r in results}
        for rung in self._rungs:
            at_rung = by_progress.get(rung.level)
            if at_rung is None or key in rung.recorded:
                continue
            rung.record(key, objective_losses(at_rung, self.objectives, key))
            recorded += 1
        return recorded

    def replay_study(self, trials: Sequence[FrozenTrial]) -> int:
        """Give a resumed search the rung results of the trials trained before it stopped.

        Each trained trial's per-epoch history (kept in the study) is replayed onto the rungs it reached, so
        the first trials after a resume are ranked against everything seen before, not against an empty
        rung. A reused trial is the same training as its source and is replayed once. Returns the trials
        replayed.
        """
        from optuna.trial import TrialState

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
            fixed = {k: attrs[k] for k in COSTS if k in attrs}
            results = [
                {**fixed, **entry, self.time_attr: int(entry["epoch"])}
                for entry in history
                if "epoch" in entry
            ]
            try:
                replayed += self.record_history(f"study-trial-{trial.number}", results) > 0
            except KeyError:  # a trial of an older run lacks an objective this scheduler ranks on
                continue
        return replayed

    def debug_string(self) -> str:
        rungs = ", ".join(f"{rung.level}: {len(rung.recorded)} recorded" for rung in self._rungs)
        rungs += f"; front grace {self.front_grace}"
        objectives = ", ".join(f"{metric} ({mode})" for metric, mode in self.objectives)
        return f"Using MO-ASHA on {objectives}: num_stopped={len(self._stopped)}; rungs {rungs}"

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__, file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))


class _AgreeableASHAScheduler(ASHAScheduler):
    """Ray's ASHA, which also accepts Tune's metric and mode when they repeat its own instead of refusing."""

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        own_metric, own_mode = scheduler_metric_and_mode(self)
        if metric in (None, own_metric) and mode in (None, own_mode):
            return True
        return super().set_search_properties(metric, mode, **spec)


def make_scheduler(
    name: str,
    objectives: Sequence[str | tuple[str, str]],
    max_t: int,
    grace_period: int = 1,
    reduction_factor: float = 3,
    *,
    time_attr: str = TIME_ATTR,
    selection: str = "crowding",
    front_grace: str = "filling",
) -> TrialScheduler:
    """The Ray Tune scheduler called ``name``: ``fifo`` | ``asha`` | ``moasha``.

    ``asha`` stops on the first objective alone (validation accuracy, maximised, by the search's
    convention); ``moasha`` on all of them. ``fifo`` runs every trial to ``max_t``.
    """
    if name not in SCHEDULERS:
        raise ConfigError("scheduler", name, " | ".join(SCHEDULERS))
    parsed = parse_objectives(objectives)
    _validate_schedule(grace_period, reduction_factor, max_t)
    if name == "fifo":
        return FIFOScheduler()
    if name == "asha":
        metric, mode = parsed[0]
        return _AgreeableASHAScheduler(
            time_attr=time_attr,
            metric=metric,
            mode=mode,
            max_t=max_t,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
        )
    return MOASHAScheduler(
        parsed,
        time_attr=time_attr,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
        max_t=max_t,
        selection=selection,
        front_grace=front_grace,
    )

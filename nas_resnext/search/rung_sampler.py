"""``rung-tpe``: TPE that learns from the results early stopping leaves, not only from finished trials.

Under successive halving most trials end PRUNED at a low rung, and Optuna's multi-objective TPE ranks every
PRUNED trial behind every COMPLETE one, so it learns from the few trials that ran to the end. As BOHB does
(Falkner et al. 2018), this sampler fits TPE at the highest fidelity that holds enough results: every trial
that reached that epoch (finished, stopped later, or still running) takes part with its objectives as they
were at that epoch, read from the per-epoch ``history`` the search stores with each trial. Until any
fidelity holds ``min_results`` results, it samples at random, as TPE does before its start-up trials.

The fidelities are the scheduler's rungs and the full number of epochs; under ``fifo`` the only fidelity is
the full one, and the sampler is TPE on the finished trials. A copy of another trial's outcome
(``reused_from``) is the same training and counts once. Stopped trials stay PRUNED in the study: only the
sampler's view of them changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.compat import set_finished_trial_user_attr
from nas_resnext.search.study import quiet_optuna
from nas_resnext.space import COSTS

# Results a fidelity needs before the model is fitted there: TPE's own start-up count.
MIN_RESULTS = 10
# User attribute of each trial it samples: the epochs of the results its model was fitted on (None while it
# samples at random), so a study shows what the sampler learned from.
FITTED_AT_ATTR = "sampler_fitted_at"


def value_at(trial: FrozenTrial, objective: str, epoch: int) -> float | None:
    """``objective`` of ``trial`` after ``epoch`` epochs; None where the trial did not get there."""
    if objective in COSTS:  # fixed by the architecture (or measured once): the trial's attributes
        value = trial.user_attrs.get(objective)
        return None if value is None else float(value)
    for entry in trial.user_attrs.get("history") or []:
        if int(entry.get("epoch", 0)) == epoch:
            value = entry.get(objective)
            return None if value is None or math.isnan(value) else float(value)
    return None


def results_at(
    trials: Sequence[FrozenTrial], objectives: Sequence[str], epoch: int
) -> list[tuple[FrozenTrial, list[float]]]:
    """Each trained trial that reached ``epoch``, with its objective values there (copies left out)."""
    found = []
    for trial in trials:
        if trial.state == TrialState.FAIL or "reused_from" in trial.user_attrs or not trial.params:
            continue
        values = [value_at(trial, objective, epoch) for objective in objectives]
        if all(v is not None for v in values):
            found.append((trial, values))
    return found


class RungTPESampler(BaseSampler):
    """Multivariate TPE fitted at the highest fidelity (rung or full training) with enough results.

    Args:
        objectives: the study's objectives in order (``val_accuracy`` first, by the search's convention).
        fidelities: the epochs at which trials are ranked (the scheduler's rungs) and the full count.
        seed: seeds the inner TPE sampler.
        min_results: results a fidelity needs before the model is fitted there.
    """

    def __init__(
        self,
        objectives: Sequence[str],
        fidelities: Sequence[int],
        seed: int | None = None,
        min_results: int = MIN_RESULTS,
    ) -> None:
        if not fidelities:
            raise ValueError("rung-tpe needs at least one fidelity (the full number of epochs)")
        self.objectives = list(objectives)
        self.fidelities = sorted(set(int(f) for f in fidelities))
        self.min_results = min_results
        # Optuna's constant liar writes to the study it samples from; the view stands in for it instead
        # (trials in flight join the view as results that rank last, which is what the liar tells TPE).
        self._tpe = TPESampler(
            seed=seed, multivariate=True, n_startup_trials=min_results, constant_liar=False
        )
        self._view: tuple[int, Study] | None = None
        self.fitted_at: int | None = None  # the fidelity of the last model, None while sampling at random

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()

    def _study_view(self, study: Study, trial: FrozenTrial) -> Study:
        """An in-memory study of the results at the chosen fidelity, built once per asked trial."""
        if self._view is not None and self._view[0] == trial.number:
            return self._view[1]
        trials = study.get_trials(deepcopy=False)
        chosen: list[tuple[FrozenTrial, list[float]]] = []
        self.fitted_at = None
        for fidelity in reversed(self.fidelities):
            found = results_at(trials, self.objectives, fidelity)
            if len(found) >= self.min_results:
                chosen, self.fitted_at = found, fidelity
                break
        with quiet_optuna():  # Optuna announces every new study; this one is internal
            view = optuna.create_study(directions=study.directions, storage=optuna.storages.InMemoryStorage())
        view_trials = [
            optuna.trial.create_trial(params=source.params, distributions=source.distributions, values=values)
            for source, values in chosen
        ]
        if view_trials:
            placed = {source.number for source, _ in chosen}
            view_trials += [
                optuna.trial.create_trial(
                    params=t.params, distributions=t.distributions, state=TrialState.PRUNED
                )
                for t in trials
                if t.state == TrialState.RUNNING
                and t.number not in placed
                and t.number != trial.number
                and t.params
            ]
        view.add_trials(view_trials)
        self._view = (trial.number, view)
        return view

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        view = self._study_view(study, trial)
        set_finished_trial_user_attr(study, trial, FITTED_AT_ATTR, self.fitted_at)
        # Computed over the view's trials each time: Optuna's cached intersection assumes one growing study.
        trials = view.get_trials(deepcopy=False)
        if not trials:
            return {}
        space = optuna.search_space.intersection_search_space(trials)
        return {name: distribution for name, distribution in space.items() if not distribution.single()}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: Mapping[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._tpe.sample_relative(self._study_view(study, trial), trial, dict(search_space))

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._tpe.sample_independent(
            self._study_view(study, trial), trial, param_name, param_distribution
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._tpe.before_trial(study, trial)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._tpe.after_trial(study, trial, state, values)

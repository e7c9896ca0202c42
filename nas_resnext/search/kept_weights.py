"""Which trained weights a run keeps (``--keep-weights``), taken from the trials' last checkpoints.

``front`` (the default) keeps the weights of every trial on the run's Pareto front; ``all`` those of every
trial that trained (a trial stopped early keeps the weights of its last epoch); ``none`` keeps none. Weights
go to ``RUN/weights`` as a trial finishes; a trial that leaves the front loses them (a dominated trial never
returns to the front). Once a trial's outcome is final its checkpoints, which also hold the optimiser's
state, are deleted: only an attempt that will be trained again keeps them, to continue from.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.rundir import KEEP_WEIGHTS, RunDirectory
from nas_resnext.search.checkpoints import drop_weights, keep_weights, latest_checkpoint, remove_checkpoints
from nas_resnext.search.study import is_counted, pareto_front

_TRAINED = (TrialState.COMPLETE, TrialState.PRUNED)


class KeptWeights:
    """Keeps ``run``'s weights by ``policy`` as the trials of ``study`` finish."""

    def __init__(self, run: RunDirectory, study: optuna.Study, policy: str) -> None:
        if policy not in KEEP_WEIGHTS:
            raise ValueError(f"keep_weights must be one of {KEEP_WEIGHTS}, not {policy!r}")
        self.run = run
        self.study = study
        self.policy = policy
        self._cleaned: set[int] = set()  # settled trials whose checkpoints are already deleted

    def _wanted(self, trials: Sequence[FrozenTrial]) -> set[int]:
        if self.policy == "none":
            return set()
        if self.policy == "all":
            return {t.number for t in trials if t.state in _TRAINED and "reused_from" not in t.user_attrs}
        return {t.number for t in pareto_front(self.study)}

    def _keep(self, trial: FrozenTrial) -> None:
        checkpoint = latest_checkpoint(trial.user_attrs.get("trial_dir"))
        if checkpoint is None:
            return
        attrs = trial.user_attrs
        keep_weights(
            self.run,
            trial.number,
            checkpoint,
            {
                "trial": trial.number,
                "state": trial.state.name,
                "val_accuracy": attrs.get(
                    "val_accuracy", (attrs.get("history") or [{}])[-1].get("val_accuracy")
                ),
                "flops": attrs.get("flops"),
                "params": attrs.get("params"),
            },
        )

    def update(self) -> None:
        """Bring ``RUN/weights`` in line with the policy, and delete the checkpoints no attempt needs."""
        trials = self.study.get_trials(deepcopy=False)
        wanted = self._wanted(trials)
        kept = set(self.run.kept_weights())
        for number in sorted(wanted - kept):
            self._keep(trials[number])
        for number in sorted(kept - wanted):
            drop_weights(self.run, number)
        for trial in trials:
            if is_counted(trial) and trial.number not in self._cleaned:
                remove_checkpoints(trial.user_attrs.get("trial_dir"))
                self._remove_earlier_attempts(trial, trials)
                self._cleaned.add(trial.number)

    @staticmethod
    def _remove_earlier_attempts(trial: FrozenTrial, trials: Sequence[FrozenTrial]) -> None:
        number = trial.user_attrs.get("rerun_of", trial.user_attrs.get("retry_of"))
        seen: set[int] = set()
        while isinstance(number, int) and 0 <= number < len(trials) and number not in seen:
            seen.add(number)
            remove_checkpoints(trials[number].user_attrs.get("trial_dir"))
            attrs = trials[number].user_attrs
            number = attrs.get("rerun_of", attrs.get("retry_of"))

"""Progress of a running search: one line per finished trial."""

from __future__ import annotations

import time
from typing import TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas_resnext.search.study import is_counted, pareto_front
from nas_resnext.units import format_duration


class Progress:
    """One line per finished trial: done/total, running, best accuracy, front size, elapsed and ETA."""

    def __init__(self, total: int, stream: TextIO | None, show_seed: bool = False) -> None:
        self.total = total
        self.show_seed = show_seed
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
            f"front {front}, elapsed {format_duration(elapsed)}, ETA {format_duration(eta)}\n"
        )
        self.stream.flush()

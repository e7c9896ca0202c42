"""The process settings a search runs under, and its connection to Ray.

Ray reads some settings from environment variables and logs through loggers of its own; a search sets them
for its duration and :func:`search_environment` puts every one back afterwards, so a program that calls
the library keeps its own. The Ray connection itself is kept: a second search in the same process reuses it.
:func:`check_cluster` connects and refuses per-trial resources that no node of the cluster has, which Ray
would otherwise wait for without end.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Any

from nas_resnext.compat import RAY_AUTH_NOTICE_LOGGER
from nas_resnext.errors import ConfigError

if TYPE_CHECKING:
    from nas_resnext.rundir import RunOptions

# Logger -> level while a search runs.
_QUIET_LOGGERS = {
    # Ray's own advice on an interrupted run (Tuner.restore) does not apply: --resume does it.
    "ray.tune": logging.ERROR,
    # Ray logs a notice about its (default, kept) token authentication on every start; it is not news.
    RAY_AUTH_NOTICE_LOGGER: logging.ERROR,
}


def ray_environment(address: str | None) -> dict[str, str]:
    """Environment variables Ray reads on import and while it runs a search (defaults the user may override).

    Without an address, the private local Ray binds to 127.0.0.1 only (Ray otherwise advertises the
    machine's network address; this switch is Ray's own for single-machine clusters). Usage statistics
    stay off unless the user turned them on. Progress is ours (one line per trial): Ray's own tables would
    interleave with it; so are the per-trial logs (the study has every epoch's results): Ray Tune's CSV, JSON
    and TensorBoard loggers stay off unless ``TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=0``.
    """
    settings = {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AIR_NEW_OUTPUT": "0",
        # Keeping the latest checkpoints makes Ray save its experiment state with each one; its warning
        # about that cost is advice for experiments restored by Ray, which a search never is.
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
        # Ray Tune's own per-trial logs (CSV, JSON, TensorBoard) repeat what the study records, and their
        # TensorBoard writer imports torch into the search's process before the first trial can start.
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    }
    if not address:
        settings["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    return {name: os.environ.get(name, value) for name, value in settings.items()}


@contextmanager
def search_environment(address: str | None) -> Iterator[None]:
    """Ray's environment variables and quiet loggers while the block runs; everything restored after.

    Standard output goes to standard error meanwhile: Ray prints its notices to the driver (a worker that
    died, say) on standard output, where they would break the one document ``--json`` writes there.
    """
    saved_environment = {name: os.environ.get(name) for name in ray_environment(address)}
    saved_levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    os.environ.update(ray_environment(address))
    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def connect_ray(address: str | None) -> None:
    """Join the cluster at ``address``, or start a private local Ray (dashboard off, loopback only).

    Call inside :func:`search_environment`. A cluster with token authentication (Ray's default) needs
    ``RAY_AUTH_MODE=token`` and its token (``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``) in the environment.
    """
    import ray

    if ray.is_initialized():
        return
    common: dict[str, Any] = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "configure_logging": True,
    }
    # "local" always starts a new private instance instead of joining one found on this machine.
    ray.init(address=address or "local", **common)


_ON_DEMAND = "--autoscaling if the cluster adds nodes on demand"


def check_trial_resources(cpus: float, gpus: float, nodes: Sequence[Mapping[str, float]]) -> None:
    """Refuse one trial's ``cpus`` and ``gpus`` when no single node of ``nodes`` (each node's resources, as
    ``ray.nodes()`` gives them: ``CPU``, ``GPU``) has them all: a ConfigError naming the flag."""
    for flag, key, unit, wanted in (
        ("--cpus-per-trial", "CPU", "CPUs", cpus),
        ("--gpus-per-trial", "GPU", "GPUs", gpus),
    ):
        largest = max((float(node.get(key, 0.0)) for node in nodes), default=0.0)
        if wanted > largest:
            offered = f"the largest node of this cluster has {largest:g} {unit}"
            raise ConfigError(flag, wanted, f"at most {largest:g} ({offered}; {_ON_DEMAND})")
    if cpus > 0 and gpus > 0:
        with_gpus = [float(node.get("CPU", 0.0)) for node in nodes if float(node.get("GPU", 0.0)) >= gpus]
        if cpus > max(with_gpus):
            raise ConfigError(
                "--cpus-per-trial",
                cpus,
                f"at most {max(with_gpus):g} with --gpus-per-trial {gpus:g} (no node has {cpus:g} CPUs and "
                f"{gpus:g} GPUs; {_ON_DEMAND})",
            )


def check_cluster(options: RunOptions) -> None:
    """Connect to the run's Ray as the search will (:func:`connect_ray`) and refuse per-trial resources that
    no live node has (:func:`check_trial_resources`), unless ``options.autoscaling``."""
    with search_environment(options.ray_address):
        connect_ray(options.ray_address)
        if options.autoscaling:
            return
        import ray

        nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    check_trial_resources(options.cpus_per_trial, options.gpus_per_trial, nodes)

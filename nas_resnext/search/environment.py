"""The process settings a search runs under, and its connection to Ray.

Ray reads some settings from environment variables and logs through loggers of its own; a search sets them
for its duration and :func:`search_environment` puts every one back afterwards, so a program that calls
the library keeps its own. The Ray connection itself is kept: a second search in the same process reuses it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nas_resnext.compat import RAY_AUTH_NOTICE_LOGGER

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
    interleave with it.
    """
    settings = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AIR_NEW_OUTPUT": "0"}
    if not address:
        settings["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    return {name: os.environ.get(name, value) for name, value in settings.items()}


@contextmanager
def search_environment(address: str | None) -> Iterator[None]:
    """Ray's environment variables and quiet loggers while the block runs; everything restored after."""
    saved_environment = {name: os.environ.get(name) for name in ray_environment(address)}
    saved_levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    os.environ.update(ray_environment(address))
    for name, level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
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

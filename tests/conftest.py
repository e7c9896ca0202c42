"""Test-wide settings: every Ray the tests start stays on 127.0.0.1 and reports nothing anywhere."""

from __future__ import annotations

import os

# Read by Ray when it is first imported, so set before any test module imports it.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray's switch for a loopback-only, one-machine cluster
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

"""'Now' as a resource: the simulation and the tests run weeks of production in seconds."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from dagster import ConfigurableResource

# The demo moves simulated time forward by setting this for the runs and sensor ticks it
# drives in its own process; a deployment never sets it and gets the wall clock.
SIMULATED_NOW = "AFTERLAUNCH_NOW"
# `afterlaunch ui` on a demo home sets this to the simulated today: partitions end there, so
# the UI does not show every day up to the real date as missing.
CALENDAR_END = "AFTERLAUNCH_CALENDAR_END"


def calendar_end() -> str | None:
    """The first day (ISO) with no partition yet, when a simulated calendar is set."""
    return os.environ.get(CALENDAR_END) or None


class ClockResource(ConfigurableResource):
    """Wall-clock time in UTC, or a fixed instant (ISO 8601) for simulations and tests."""

    fixed_now: str | None = None

    def now(self) -> datetime:
        fixed = self.fixed_now or os.environ.get(SIMULATED_NOW)
        if fixed:
            moment = datetime.fromisoformat(fixed)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return datetime.now(UTC)

"""'Now' as a resource: the simulation and the tests run weeks of production in seconds."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from dagster import ConfigurableResource

# The demo moves simulated time forward by setting this for the runs and sensor ticks it
# drives in its own process; a deployment never sets it and gets the wall clock.
SIMULATED_NOW = "AFTERLAUNCH_NOW"


class ClockResource(ConfigurableResource):
    """Wall-clock time in UTC, or a fixed instant (ISO 8601) for simulations and tests."""

    fixed_now: str | None = None

    def now(self) -> datetime:
        fixed = self.fixed_now or os.environ.get(SIMULATED_NOW)
        if fixed:
            moment = datetime.fromisoformat(fixed)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return datetime.now(UTC)

"""'Now' as a resource: the simulation and the tests run weeks of production in seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import ConfigurableResource


class ClockResource(ConfigurableResource):
    """Wall-clock time in UTC, or a fixed instant (ISO 8601) for simulations and tests."""

    fixed_now: str | None = None

    def now(self) -> datetime:
        if self.fixed_now:
            moment = datetime.fromisoformat(self.fixed_now)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return datetime.now(UTC)

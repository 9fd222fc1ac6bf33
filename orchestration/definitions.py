"""The one Definitions object: assets, checks, jobs and the resources they use.

Paths and URLs come from the environment (EnvVar), resolved when a run starts:
AFTERLAUNCH_HOME (the deployment's home folder) and AFTERLAUNCH_SOURCE_URL (the source system's
SQLAlchemy URL). `afterlaunch` commands set both from `--home`.
"""

from __future__ import annotations

from dagster import Definitions, EnvVar

from assets.profiles import PROFILE_CHECKS, reference_profile, ticket_profiles
from assets.raw_tickets import RAW_TICKETS_CHECKS, raw_tickets
from orchestration.jobs import JOBS
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.snapshots import VersionedParquetIOManager
from resources.source import SqlTicketSource
from resources.storage import HomeStorage

HOME = EnvVar("AFTERLAUNCH_HOME")

defs = Definitions(
    assets=[raw_tickets, reference_profile, ticket_profiles],
    asset_checks=[*RAW_TICKETS_CHECKS, *PROFILE_CHECKS],
    jobs=JOBS,
    resources={
        "io_manager": VersionedParquetIOManager(home=HOME),
        "storage": HomeStorage(home=HOME),
        "source": SqlTicketSource(url=EnvVar("AFTERLAUNCH_SOURCE_URL")),
        "policy": PolicyResource(home=HOME),
        "clock": ClockResource(),
    },
)

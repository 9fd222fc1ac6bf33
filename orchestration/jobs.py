"""Jobs: named selections of the asset graph that schedules, sensors and the CLI launch."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

# One day of data: extract, check, profile, check drift. Checks ride along with their assets.
daily_ingestion = define_asset_job(
    "daily_ingestion",
    selection=AssetSelection.assets("raw_tickets", "ticket_profiles"),
    description="Extract one day from the source, run the data checks, profile it, check drift.",
)

# Before a reference profile exists (the first weeks after launch): snapshots and checks only.
raw_ingestion = define_asset_job(
    "raw_ingestion",
    selection=AssetSelection.assets("raw_tickets"),
    description="Extract one day from the source and run the data checks (no profile yet).",
)

# Rebuild the agreed picture of the inputs from the clean days of the reference window.
reference_refresh = define_asset_job(
    "reference_refresh",
    selection=AssetSelection.assets("reference_profile"),
    description="Rebuild the reference profile from the reference window's clean days.",
)

JOBS = [daily_ingestion, raw_ingestion, reference_refresh]

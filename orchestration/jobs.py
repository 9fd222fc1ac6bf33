"""Jobs: named selections of the asset graph that schedules, sensors and the CLI launch."""

from dagster import AssetSelection, define_asset_job

_DAY = ("raw_tickets", "ticket_labels", "ticket_features")

# One day of data: extract, check, profile, check drift, labels, features. Checks ride along.
daily_ingestion = define_asset_job(
    "daily_ingestion",
    selection=AssetSelection.assets(*_DAY, "ticket_profiles"),
    description="Extract one day from the source, run the data checks, profile it, check drift, "
    "collect the day's labels and compute its features.",
)

# Before a reference profile exists (the first weeks after launch): no profile, no drift yet.
raw_ingestion = define_asset_job(
    "raw_ingestion",
    selection=AssetSelection.assets(*_DAY),
    description="Extract one day, run the data checks, collect labels, compute features "
    "(no profile or drift: no reference yet).",
)

# Rebuild the agreed picture of the inputs from the clean days of the reference window.
reference_refresh = define_asset_job(
    "reference_refresh",
    selection=AssetSelection.assets("reference_profile"),
    description="Rebuild the reference profile from the reference window's clean days.",
)

# Train a challenger on the latest window and register it (alias @challenger).
train_challenger = define_asset_job(
    "train_challenger",
    selection=AssetSelection.assets("training_set", "challenger_model"),
    description="Assemble the training window, train, log to MLflow, register as challenger.",
)

JOBS = [daily_ingestion, raw_ingestion, reference_refresh, train_challenger]

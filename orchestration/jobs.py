"""Jobs: named selections of the asset graph that schedules, sensors and the CLI launch."""

from dagster import (
    AssetSelection,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

_DAY = ("raw_tickets", "ticket_labels", "agent_actions", "ticket_features")

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

# After launch: one day of data as above, then scored by the champion. The daily schedule's job.
daily_production = define_asset_job(
    "daily_production",
    selection=AssetSelection.assets(
        *_DAY, "ticket_profiles", "predictions", "rollout_comparison", "readiness_report"
    ),
    description="One day in production: ingest and check the data, profile it, check drift, "
    "collect labels, compute features, score the tickets (the champion, a rollout's canary, "
    "or what the serving flag says), check the scores, judge a rollout's triggers and refresh "
    "the readiness report.",
)

# Rebuild the agreed picture of the inputs from the clean days of the reference window.
reference_refresh = define_asset_job(
    "reference_refresh",
    selection=AssetSelection.assets("reference_profile"),
    description="Rebuild the reference profile from the reference window's clean days.",
)

# Train a challenger, evaluate it against the champion; the gate's yes promotes the first model
# and admits a later one to a rollout (policy `rollout`; promoted when the rollout completes).
train_challenger = define_asset_job(
    "train_challenger",
    selection=AssetSelection.assets(
        "training_set", "challenger_model", "challenger_evaluation", "champion", "baseline_metrics"
    ),
    description="Assemble the training window, train, register as @challenger, evaluate on the "
    "test set against the champion; the gate's yes (and, in high-risk mode, a person's) "
    "promotes the first model and admits later ones to a rollout.",
)

# Train and register a challenger, nothing more: the challenger sensor sees the new version
# behind @challenger and launches the evaluation, so a model registered by hand is judged too.
retraining = define_asset_job(
    "retraining",
    selection=AssetSelection.assets("training_set", "challenger_model"),
    description="Assemble the training window, train, register as @challenger (the challenger "
    "sensor then launches the evaluation and the gate).",
)

# The same, by hand, when something is on fire; the reason is required and recorded.
emergency_retraining = define_asset_job(
    "emergency_retraining",
    selection=AssetSelection.assets("training_set", "challenger_model"),
    config={
        "ops": {
            "challenger_model": {
                "config": {"change_summary": "EMERGENCY: replace this with the reason"}
            }
        }
    },
    description="Retrain now, by hand (UI or `afterlaunch retrain --reason TEXT`); the reason "
    "becomes the model's change summary.",
)

# After a performance drop: a new test-set version from the days since the drop, and the
# champion's baseline re-recorded on it; the performance sensor then launches the retraining.
refresh_test_set = define_asset_job(
    "refresh_test_set",
    selection=AssetSelection.assets("eval_test_set", "baseline_metrics"),
    config={"ops": {"baseline_metrics": {"config": {"rescore": True}}}},
    description="Draw a new test-set version from recent labelled days and re-record the "
    "champion's baseline on it (after the world changed under the model).",
)

# Evaluate the current challenger (e.g. after a new test-set version) and act on the verdict.
evaluate_challenger = define_asset_job(
    "evaluate_challenger",
    selection=AssetSelection.assets("challenger_evaluation", "champion", "baseline_metrics"),
    description="Evaluate @challenger against @champion; a yes admits it to a rollout (or "
    "promotes it when rollouts are off).",
)

# Draw the evaluation test set (once at launch; again only with a new version).
draw_test_set = define_asset_job(
    "draw_test_set",
    selection=AssetSelection.assets("eval_test_set"),
    description="Draw the fixed, versioned evaluation test set with its edge-case slices.",
)

# One promotion or rollback (run config: action, version / to_version, reason, approved_by).
change_champion = define_asset_job(
    "change_champion",
    selection=AssetSelection.assets("champion", "baseline_metrics"),
    description="Promote a version whose gate said yes, or roll back; records the baseline.",
)

# After a test-set version bump: score the champion on the new set, record it as the baseline.
rebaseline = define_asset_job(
    "rebaseline",
    selection=AssetSelection.assets("baseline_metrics"),
    config={"ops": {"baseline_metrics": {"config": {"rescore": True}}}},
    description="Re-record the champion's baseline on the current evaluation test set.",
)

# One move of a rollout (run config: action start | advance | rollback | abandon, reason).
rollout_step = define_asset_job(
    "rollout_step",
    selection=AssetSelection.assets("rollout"),
    description="Start a rollout of the gate-passed challenger (shadow), advance its canary a "
    "step, or roll it back; every move is recorded with its reason.",
)

# The end of a rollout that proved itself: promote, record the baseline, close the rollout.
complete_rollout = define_asset_job(
    "complete_rollout",
    selection=AssetSelection.assets("champion", "baseline_metrics", "rollout"),
    description="Promote the rolled-out challenger after its full schedule with the triggers "
    "quiet, record its baseline and mark the rollout promoted.",
)

# Flip the serving flag: off (rule-based default), pin VERSION, or on.
set_serving_flag = define_asset_job(
    "set_serving_flag",
    selection=AssetSelection.assets("serving_flags"),
    description="Switch the model off (rule-based default), pin a version, or switch it on; "
    "the next scoring run applies it (`afterlaunch flag`).",
)

weekly_evaluation_job = define_asset_job(
    "evaluate_weekly",
    selection=AssetSelection.assets("weekly_evaluation"),
    description="The champion on the fixed test set and on last week's labelled production.",
)

weekly_evaluation_schedule = ScheduleDefinition(
    job=weekly_evaluation_job,
    cron_schedule="0 6 * * 1",  # Mondays 06:00 UTC, when the previous week's labels are in
    execution_timezone="UTC",
)

daily_production_schedule = build_schedule_from_partitioned_job(
    daily_production, hour_of_day=2, minute_of_hour=0, name="daily_production_schedule"
)

# The clock part of the hybrid cadence: a retraining on the 1st of every month, whatever the
# monitors say (sensors add retrainings on drift, performance and new labels).
monthly_retraining_schedule = ScheduleDefinition(
    name="monthly_retraining_schedule",
    job=retraining,
    cron_schedule="0 3 1 * *",
    execution_timezone="UTC",
    run_config={
        "ops": {"challenger_model": {"config": {"change_summary": "scheduled monthly retraining"}}}
    },
    tags={"afterlaunch/trigger": "schedule", "afterlaunch/reason": "monthly retraining"},
)

JOBS = [
    daily_ingestion,
    daily_production,
    retraining,
    emergency_retraining,
    refresh_test_set,
    raw_ingestion,
    reference_refresh,
    train_challenger,
    evaluate_challenger,
    draw_test_set,
    change_champion,
    rebaseline,
    rollout_step,
    complete_rollout,
    set_serving_flag,
    weekly_evaluation_job,
]
SCHEDULES = [daily_production_schedule, weekly_evaluation_schedule, monthly_retraining_schedule]

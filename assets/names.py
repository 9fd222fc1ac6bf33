"""The engine's asset names. Every key is prefixed with its workflow (`<workflow>/<name>`), so
each model's graph, history and snapshots stay apart in one deployment."""

RAW = "raw"
LABELS = "labels"
FEEDBACK = "feedback"
FEATURES = "features"
REFERENCE = "reference_profile"
PROFILES = "profiles"
TRAINING_SET = "training_set"
CHALLENGER = "challenger_model"
EVAL_SET = "eval_test_set"
EVALUATION = "challenger_evaluation"
CHAMPION = "champion"
BASELINE = "baseline_metrics"
ROLLOUT = "rollout"
FLAGS = "serving_flags"
PREDICTIONS = "predictions"
COMPARISON = "rollout_comparison"
WEEKLY = "weekly_evaluation"
READINESS = "readiness_report"
INCIDENT_TIMELINE = "incident_timeline"
AGENT_ACTIONS = "agent_actions"

# Columns the engine writes beside a workflow's id and segments in its own frames (the scored
# rows, the monitoring layers' day column and vocabulary): a workflow column of the same name
# would be overwritten there, silently.
ENGINE_COLUMNS = frozenset(
    {
        "day",
        "entity_id",
        "label",
        "arm",
        "model_version",
        "score",
        "confidence",
        "decision",
        "champion_version",
        "champion_score",
        "threshold",
        "champion_threshold",
        "challenger_threshold",
        "challenger_version",
        "challenger_score",
        "challenger_error",
        "rollout_id",
        "scored_at",
    }
)

"""The one Definitions object: assets, checks, jobs and the resources they use.

Paths and URLs come from the environment (EnvVar), resolved when a run starts:
AFTERLAUNCH_HOME (the deployment's home folder), AFTERLAUNCH_SOURCE_URL (the source system's
SQLAlchemy URL), AFTERLAUNCH_MLFLOW_URI and AFTERLAUNCH_MLFLOW_ARTIFACTS (the MLflow tracking
and registry store), AFTERLAUNCH_ALERT_WEBHOOK (a Slack-compatible webhook;
empty: log only). `afterlaunch` commands set them from `--home` unless already set.
"""

from dagster import Definitions, EnvVar

from assets.deployment import baseline_metrics, champion
from assets.evaluation import challenger_evaluation, eval_test_set, eval_test_set_pinned
from assets.features import FEATURE_CHECKS, ticket_features
from assets.feedback import agent_actions
from assets.flags import serving_flags
from assets.labels import LABEL_CHECKS, ticket_labels
from assets.predictions import prediction_drift, predictions
from assets.profiles import PROFILE_CHECKS, reference_profile, ticket_profiles
from assets.raw_tickets import RAW_TICKETS_CHECKS, raw_tickets
from assets.readiness import label_free_signals, readiness_report
from assets.rollout import rollout, rollout_comparison, rollout_triggers
from assets.training import challenger_model, training_set
from assets.weekly import weekly_evaluation, weekly_task_success
from orchestration.jobs import JOBS, SCHEDULES
from orchestration.sensors import SENSORS
from resources.alerts import AlertWebhook
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.snapshots import VersionedParquetIOManager
from resources.source import SqlTicketSource
from resources.storage import HomeStorage

HOME = EnvVar("AFTERLAUNCH_HOME")

defs = Definitions(
    assets=[
        raw_tickets,
        reference_profile,
        ticket_profiles,
        ticket_labels,
        agent_actions,
        ticket_features,
        eval_test_set,
        training_set,
        challenger_model,
        challenger_evaluation,
        champion,
        baseline_metrics,
        rollout,
        serving_flags,
        predictions,
        rollout_comparison,
        weekly_evaluation,
        readiness_report,
    ],
    asset_checks=[
        *RAW_TICKETS_CHECKS,
        *PROFILE_CHECKS,
        *LABEL_CHECKS,
        *FEATURE_CHECKS,
        eval_test_set_pinned,
        prediction_drift,
        rollout_triggers,
        weekly_task_success,
        label_free_signals,
    ],
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources={
        "io_manager": VersionedParquetIOManager(home=HOME),
        "storage": HomeStorage(home=HOME),
        "source": SqlTicketSource(url=EnvVar("AFTERLAUNCH_SOURCE_URL")),
        "registry": ModelRegistry(
            tracking_uri=EnvVar("AFTERLAUNCH_MLFLOW_URI"),
            artifact_root=EnvVar("AFTERLAUNCH_MLFLOW_ARTIFACTS"),
        ),
        "policy": PolicyResource(home=HOME),
        "clock": ClockResource(),
        "webhook": AlertWebhook(url=EnvVar("AFTERLAUNCH_ALERT_WEBHOOK")),
    },
)

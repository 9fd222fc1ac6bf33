"""training_set and challenger_model: a rolling window of labelled features, and the model
trained on it, registered in MLflow under the alias `challenger` with its full lineage."""

import getpass
from datetime import timedelta

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from assets.feature_definitions import FEATURE_COLUMNS
from assets.feature_set import current_pin
from assets.features import ticket_features
from assets.history import latest_metadata
from assets.labels import ticket_labels
from assets.lineage import manifest_tags
from assets.model_family import TRUSTED_TYPES
from assets.partitions import day_of, key_of
from assets.predictions import SCORE_PROFILE
from assets.training_data import SPLIT, assemble_training_set, train_model, validation_metrics
from checks.output_drift import score_profile
from resources.clock import ClockResource
from resources.code_version import current_code_version
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.snapshots import content_hash
from resources.storage import HomeStorage


class TrainingWindow(Config):
    """The day up to which labels count (inclusive); default: the newest stored label day.
    `start_date`: no ticket before this day (after a concept drift the older world is gone)."""

    end_date: str | None = None
    start_date: str | None = None


def training_window(
    end: str, window_days: int, max_delay_days: int, start: str | None = None
) -> tuple[list[str], list[str]]:
    """Feature days whose labels have had time to arrive by `end` (none before `start`), and
    the label days to read."""
    last_feature_day = day_of(end) - timedelta(days=max_delay_days)
    feature_days = [key_of(last_feature_day - timedelta(days=i)) for i in range(window_days)][::-1]
    if start is not None:
        feature_days = [d for d in feature_days if d >= start]
        if not feature_days:
            raise Failure(
                f"no feature day between {start} and {key_of(last_feature_day)} has had time "
                f"for its labels to arrive by {end}"
            )
    span = (day_of(end) - day_of(feature_days[0])).days
    label_days = [key_of(day_of(feature_days[0]) + timedelta(days=i)) for i in range(span + 1)]
    return feature_days, label_days


def read_window(store, feature_days: list[str], label_days: list[str]) -> tuple[dict, dict]:
    """The stored feature and label snapshots of a window; days not stored are left out."""
    have_features = set(store.partitions("ticket_features"))
    have_labels = set(store.partitions("ticket_labels"))
    features = {k: store.read("ticket_features", k) for k in feature_days if k in have_features}
    labels = {k: store.read("ticket_labels", k) for k in label_days if k in have_labels}
    return features, labels


@asset(
    group_name="training",
    deps=[ticket_features, ticket_labels],
    kinds={"pandas"},
    owners=["team:ml-platform"],
)
def training_set(
    context: AssetExecutionContext,
    config: TrainingWindow,
    storage: HomeStorage,
    policy: PolicyResource,
) -> Output[pd.DataFrame]:
    """Labelled features of the training window, ordered by time, newest share held out.
    Records exactly which snapshot (partition and content hash) of each input went in."""
    rules = policy.load()
    store = storage.snapshots
    label_stored = store.partitions("ticket_labels")
    if not label_stored:
        raise Failure("no ticket_labels stored yet: materialize labels before training")
    end = config.end_date or label_stored[-1]
    feature_days, label_days = training_window(
        end, rules.training.window_days, rules.labels.max_delay_days, config.start_date
    )
    features, labels = read_window(store, feature_days, label_days)
    if not features:
        raise Failure(
            f"no ticket_features stored for the window {feature_days[0]} .. {feature_days[-1]}"
        )
    held_out, eval_ref = frozenset(), None
    if store.partitions("eval_test_set"):
        eval_ref = store.current("eval_test_set", None)
        held_out = frozenset(store.read("eval_test_set", None)["ticket_id"])
    df, counts = assemble_training_set(
        features, labels, rules.training.validation_fraction, exclude_ticket_ids=held_out
    )
    if len(df) < rules.training.min_rows:
        raise Failure(
            f"only {len(df)} labelled rows in the window ending {end} "
            f"({rules.training.min_rows} needed): {counts}"
        )
    feature_meta = latest_metadata(context.instance, AssetKey("ticket_features"), list(features))
    manifest = {
        "training_window": {
            "first_day": feature_days[0],
            "last_day": feature_days[-1],
            "labels_until": end,
        },
        "feature_snapshots": {
            k: store.current("ticket_features", k).content_hash for k in features
        },
        "label_snapshots": {k: store.current("ticket_labels", k).content_hash for k in labels},
        "raw_snapshots": {
            k: str(feature_meta.get(k, {}).get("raw_content_hash", "unknown")) for k in features
        },
        "missing_feature_days": [k for k in feature_days if k not in features],
        "eval_test_set_sha256": eval_ref.content_hash if eval_ref else None,
        "validation_fraction": rules.training.validation_fraction,
        "counts": counts,
    }
    context.log.info("training set: %d rows from %d feature days", len(df), len(features))
    return Output(
        df,
        metadata={
            "dagster/row_count": len(df),
            "window": f"{feature_days[0]} .. {feature_days[-1]} (labels until {end})",
            "positive_rate": float(df["escalated"].mean()),
            "snapshot_manifest": MetadataValue.json(manifest),
            "counts": MetadataValue.json(counts),
        },
    )


class ChallengerConfig(Config):
    change_summary: str = "scheduled retraining on the latest window"
    actor: str | None = None  # who asked for it; default: the OS user running the step
    last_reviewed_date: str | None = None  # default: today (a new model is reviewed at creation)


@asset(group_name="training", kinds={"sklearn", "mlflow"}, owners=["team:ml-platform"])
def challenger_model(
    context: AssetExecutionContext,
    config: ChallengerConfig,
    training_set: pd.DataFrame,
    registry: ModelRegistry,
    policy: PolicyResource,
    clock: ClockResource,
) -> Output[dict]:
    """Train on the training set, log the run to MLflow, register a version with its lineage
    as tags, and only then point the alias `challenger` at it."""
    rules = policy.load()
    registry.check_reachable()  # fail before training, with the registry named
    recorded = context.instance.get_latest_materialization_event(AssetKey("training_set"))
    meta = recorded.asset_materialization.metadata if recorded else {}
    if "snapshot_manifest" not in meta or meta["content_hash"].value != content_hash(training_set):
        raise Failure(
            "training_set changed since its snapshot manifest was recorded: "
            "re-materialize training_set, then the challenger"
        )
    snapshots = meta["snapshot_manifest"].value
    training = rules.training
    model = train_model(
        training_set, training.model_family, training.hyperparameters, training.seed
    )
    metrics = validation_metrics(model, training_set)
    validation = training_set[training_set[SPLIT] == "validation"]
    # What this model's outputs look like on production-like traffic it never saw: the
    # reference the prediction_drift check compares each served day with.
    scores = score_profile(
        model.predict_proba(validation[FEATURE_COLUMNS])[:, 1], rules.gate.decision_threshold
    )
    pin = current_pin()
    code = current_code_version()
    today = clock.now().date().isoformat()
    manifest = {
        **snapshots,
        "training_set_sha256": content_hash(training_set),
        "feature_set": {"version": pin.version, "hash": pin.definitions_hash},
        "code": {"git_commit": code.commit, "git_dirty": code.dirty},
        "model": {
            "family": training.model_family,
            "hyperparameters": training.hyperparameters,
            "seed": training.seed,
            "validation_fraction": training.validation_fraction,
        },
        "owner": training.owner,
        "created_date": today,
        "last_reviewed_date": config.last_reviewed_date or today,
        "change_summary": config.change_summary,
        "policy_version": rules.version,
    }
    tags = manifest_tags(manifest)
    registered = registry.log_and_register(
        model=model,
        input_example=training_set[FEATURE_COLUMNS].head(5),
        params={
            "model_family": training.model_family,
            "seed": training.seed,
            **{f"hp.{k}": v for k, v in training.hyperparameters.items()},
        },
        metrics=metrics,
        run_tags={**tags, "dagster.run_id": context.run.run_id},
        version_tags=tags,
        artifacts={"lineage.json": manifest, SCORE_PROFILE: scores},
        run_name=f"challenger {snapshots['training_window']['labels_until']}",
        description=config.change_summary,
        trusted_types=TRUSTED_TYPES,
    )
    actor = config.actor or getpass.getuser()
    move = registry.move_alias(
        "challenger", registered.version, actor=actor, reason=config.change_summary, at=clock.now()
    )
    context.log.info("registered %s version %s as challenger", registered.name, registered.version)
    value = {
        "version": registered.version,
        "run_id": registered.run_id,
        "model_uri": registered.model_uri,
        "alias_move": move.as_dict(),
    }
    return Output(
        value,
        metadata={
            "model_version": registered.version,
            "mlflow_run_id": registered.run_id,
            "trained_at": clock.now().isoformat(),
            "labels_until": snapshots["training_window"]["labels_until"],
            "alias_move": MetadataValue.json(move.as_dict()),
            "alias_move_summary": (
                f"{move.alias}: {move.from_version or 'none'} -> {move.to_version} by "
                f"{move.actor} at {move.at}: {move.reason}"
            ),
            **{k: float(v) for k, v in metrics.items()},
            "lineage_tags": MetadataValue.json(tags),
        },
    )

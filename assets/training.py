"""training_set and challenger_model: a rolling window of labelled rows with the current
feature set, and the model trained on it, registered in MLflow under the alias `challenger`
with its full lineage (which snapshots, which feature set, which code)."""

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from assets.gate_evidence import TRAINING_ENTITIES, training_entities
from assets.history import latest_unpartitioned
from assets.labels import label_schema
from assets.lineage import THRESHOLD_RULE_TAG, THRESHOLD_TAG, manifest_tags
from assets.model_family import TRUSTED_TYPES
from assets.names import CHALLENGER, EVAL_SET, FEATURES, LABELS, RAW, TRAINING_SET
from assets.training_data import (
    SPLIT,
    assemble_labelled,
    read_window,
    train_model,
    training_frame,
    window_keys,
)
from assets.ui_links import dagster_tags, mlflow_version_metadata
from assets.workflow import Workflow
from checks.contract import validate_against
from resources.approvals import acting_person
from resources.clock import ClockResource
from resources.code_version import current_code_version
from resources.links import UiLinks
from resources.packages import installed_packages
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.snapshots import PartitionsMissing, content_hash
from resources.storage import HomeStorage

SCORE_PROFILE = "score_profile.json"


class TrainingWindow(Config):
    """The partition up to which labels count (inclusive); default: the newest stored label
    partition. `start_date`: no row before this partition (after a concept drift the older
    world is gone)."""

    end_date: str | None = None
    start_date: str | None = None


class ChallengerConfig(Config):
    change_summary: str = "scheduled retraining on the latest window"
    actor: str | None = None  # who asked for it; default: `acting_person()`
    last_reviewed_date: str | None = None  # default: today (a new model is reviewed at creation)


def clean_window(
    wf: Workflow, store, keys: list[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The raw snapshots of `keys` that meet the contract (a failing contract blocks what is
    downstream, training included), and why the others were left out."""
    stored = set(store.partitions(RAW))
    clean, excluded = {}, {}
    for key in keys:
        if key not in stored:
            excluded[key] = "not materialized"
            continue
        raw = store.read(RAW, key)
        report = validate_against(wf.contracts.raw, raw)
        if report.passed:
            clean[key] = raw
        else:
            excluded[key] = report.summary()
    return clean, excluded


@dataclass(frozen=True)
class LabelledWindow:
    keys: list[str]  # the row partitions of the window
    label_keys: list[str]  # the label partitions read
    cutoff: datetime  # labels known by then count
    raw: dict[str, pd.DataFrame]  # the clean raw snapshots used, by partition
    rows: pd.DataFrame  # raw rows joined point-in-time with their labels (and SPLIT)
    counts: dict
    excluded: dict[str, str]  # partitions left out, and why
    # asset -> partitions of the window stored once and deleted since, skipped by the policy
    missing: dict[str, list[str]]


def window_gaps(
    store, windows: dict[str, list[str]], missing: str, policy_field: str
) -> dict[str, list[str]]:
    """Partitions of a window's assets that were stored and have since been deleted: refused
    with their names and folders (policy `refuse`), or returned for the caller to record
    (`skip`). Partitions never stored (before the source began, not yet ingested) are not
    gaps: the window simply starts or ends without them."""
    gone = {asset: found for asset, keys in windows.items() if (found := store.gone(asset, keys))}
    if gone and missing != "skip":
        raise PartitionsMissing(gone, f", or set policy {policy_field}: skip to go on without them")
    return {asset: sorted(found) for asset, found in gone.items()}


def labelled_window(
    wf: Workflow,
    store,
    end: str,
    days: int,
    start: str | None,
    exclude: frozenset[str],
    validation_fraction: float = 0.0,
    missing: str = "refuse",
    policy_field: str = "training.missing_partitions",
) -> LabelledWindow:
    """Clean raw partitions of the window ending with labels of `end`, joined point-in-time:
    the one reading of a window that training, the test set and the weekly check share.
    `missing`: what a raw or label partition stored once and deleted since does (the policy
    field `policy_field`): `refuse` fails naming it, `skip` leaves it out and lists it."""
    keys, label_keys, cutoff = window_keys(wf, end, days, start)
    gaps = window_gaps(store, {RAW: keys, LABELS: label_keys}, missing, policy_field)
    raw, excluded = clean_window(wf, store, keys)
    for key in gaps.get(RAW, []):
        excluded[key] = "stored once, deleted since from the snapshot store (policy: skip)"
    snapshot_at, labels = read_window(store, wf, raw, label_keys)
    rows, counts = assemble_labelled(
        raw,
        snapshot_at,
        labels,
        label_schema(wf),
        wf.entity.event_time,
        cutoff,
        validation_fraction,
        exclude,
        final_at_event_time=wf.source.rows_final_at_event_time,
    )
    return LabelledWindow(keys, label_keys, cutoff, raw, rows, counts, excluded, gaps)


def build(wf: Workflow) -> tuple[list, list]:
    owner = wf.team("model_owner")
    task = wf.task

    @asset(
        name=TRAINING_SET,
        key_prefix=[wf.name],
        group_name="training",
        deps=[wf.key(FEATURES), wf.key(LABELS)],
        kinds={"pandas"},
        owners=[owner],
    )
    def training_set(
        context: AssetExecutionContext,
        config: TrainingWindow,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> Output[pd.DataFrame]:
        """Labelled rows of the training window with the current feature set, ordered by
        time, newest share held out. Records exactly which snapshot (partition and content
        hash) of each input went in."""
        rules = policy.load()
        store = storage.snapshots
        # Written, not only stored now: a deleted newest partition is named by the window
        # below instead of silently moving its end a day back.
        label_written = store.written(LABELS)
        if not label_written:
            raise Failure(f"no {wf.name}/{LABELS} stored yet: materialize labels first")
        end = config.end_date or label_written[-1]
        held_out, eval_ref = frozenset(), None
        if store.partitions(EVAL_SET):
            eval_ref = store.current(EVAL_SET, None)
            held_out = frozenset(store.read(EVAL_SET, None)[wf.entity.id].astype("str"))
        window = labelled_window(
            wf,
            store,
            end,
            rules.training.window_days,
            config.start_date,
            held_out,
            rules.training.validation_fraction,
            missing=rules.training.missing_partitions,
            policy_field="training.missing_partitions",
        )
        keys, label_keys, raw = window.keys, window.label_keys, window.raw
        if window.missing:
            context.log.warning(
                "training without partitions deleted from the snapshot store (policy skip): %s",
                window.missing,
            )
        labelled, counts, excluded = window.rows, window.counts, window.excluded
        if not raw:
            raise Failure(
                f"no clean {wf.name}/{RAW} partition in the window {keys[0]} .. {keys[-1]}"
            )
        if len(labelled) < rules.training.min_rows:
            raise Failure(
                f"only {len(labelled)} labelled rows in the window ending {end} "
                f"({rules.training.min_rows} needed): {counts}"
            )
        fs = wf.feature_sets.current_set
        df = training_frame(wf, fs, labelled)
        have_labels = set(store.partitions(LABELS))
        manifest = {
            "training_window": {
                "first_day": keys[0],
                "last_day": keys[-1],
                "labels_until": end,
                "cutoff": window.cutoff.isoformat(),
            },
            "raw_snapshots": {k: store.current(RAW, k).content_hash for k in raw},
            "label_snapshots": {
                k: store.current(LABELS, k).content_hash for k in label_keys if k in have_labels
            },
            "excluded_partitions": excluded,
            "missing_partitions": window.missing,
            "eval_test_set_sha256": eval_ref.content_hash if eval_ref else None,
            "validation_fraction": rules.training.validation_fraction,
            "counts": counts,
        }
        context.log.info("training set: %d rows from %d partitions", len(df), len(raw))
        return Output(
            df,
            metadata={
                "dagster/row_count": len(df),
                "window": f"{keys[0]} .. {keys[-1]} (labels until {end})",
                "label_mean": float(df[wf.label.column].astype("float64").mean()),
                "feature_set_version": fs.version,
                "snapshot_manifest": MetadataValue.json(manifest),
                "counts": MetadataValue.json(counts),
                "missing_partitions": MetadataValue.json(window.missing),
            },
        )

    @asset(
        name=CHALLENGER,
        key_prefix=[wf.name],
        group_name="training",
        kinds={"sklearn", "mlflow"},
        owners=[owner],
        ins={"training_set": AssetIn(wf.key(TRAINING_SET))},
    )
    def challenger_model(
        context: AssetExecutionContext,
        config: ChallengerConfig,
        training_set: pd.DataFrame,
        registry: ModelRegistry,
        policy: PolicyResource,
        clock: ClockResource,
        links: UiLinks,
    ) -> Output[dict]:
        """Train on the training set, log the run to MLflow, register a version with its
        lineage as tags, and only then point the alias `challenger` at it."""
        rules = policy.load()
        registry.check_reachable()  # fail before training, with the registry named
        meta = latest_unpartitioned(context.instance, wf.key(TRAINING_SET))
        if "snapshot_manifest" not in meta or meta["content_hash"] != content_hash(training_set):
            raise Failure(
                "training_set changed since its snapshot manifest was recorded: "
                "re-materialize training_set, then the challenger"
            )
        snapshots = meta["snapshot_manifest"]
        training = rules.training
        fs = wf.feature_sets.get(str(meta["feature_set_version"]))
        model = train_model(
            wf, fs, training_set, training.model_family, training.hyperparameters, training.seed
        )
        validation = training_set[training_set[SPLIT] == "validation"]
        outputs = task.predict(model, validation[fs.columns])
        y = validation[wf.label.column].to_numpy()
        # The decision threshold is chosen here, on rows the model was not fitted on, and
        # recorded on the version: serving, evaluation and the triggers decide with it.
        try:
            choice = task.choose_param(y, outputs, training.decision_threshold)
        except ValueError as err:
            raise Failure(f"cannot choose the decision threshold: {err}") from err
        decided = task.at(choice.threshold if choice else None)
        metrics = {
            f"validation_{name}": value
            for name in task.metric_names
            if (value := decided.compute(name, y, outputs)) is not None
        }
        metrics["validation_rows"] = float(len(validation))
        metrics["train_rows"] = float((training_set[SPLIT] == "train").sum())
        # What this model's outputs look like on production-like rows it never saw: the
        # reference the prediction_drift check compares each served partition with.
        scores = decided.output_profile(outputs)
        code = current_code_version()
        today = clock.now().date().isoformat()
        manifest = {
            **snapshots,
            "training_set_sha256": content_hash(training_set),
            "feature_set": {
                "version": fs.version,
                "hash": fs.definitions_hash,
                "source": fs.source_text,
            },
            "code": {"git_commit": code.commit, "git_dirty": code.dirty},
            # Installed versions of the dependencies: an upgrade is a change between versions.
            "packages": installed_packages(),
            "model": {
                "family": training.model_family,
                "hyperparameters": training.hyperparameters,
                "seed": training.seed,
                "validation_fraction": training.validation_fraction,
            },
            "task": {
                "kind": task.kind,
                "param": decided.param,
                "param_rule": choice.reason if choice else "the task's own parameter",
            },
            "owner": training.owner,
            "created_date": today,
            "last_reviewed_date": config.last_reviewed_date or today,
            "change_summary": config.change_summary,
            "policy_version": rules.version,
        }
        tags = manifest_tags(manifest)
        if choice is not None:
            tags[THRESHOLD_TAG] = repr(choice.threshold)
            tags[THRESHOLD_RULE_TAG] = choice.reason
            context.log.info("decision threshold %s", choice.reason)
        registered = registry.log_and_register(
            model=model,
            input_example=training_set[fs.columns].head(5),
            params={
                "model_family": training.model_family,
                "seed": training.seed,
                **{f"hp.{k}": v for k, v in training.hyperparameters.items()},
            },
            metrics=metrics,
            run_tags={**tags, "dagster.run_id": context.run.run_id},
            # Links back to this run and asset (when the Dagster UI's base URL is set).
            version_tags={**tags, **dagster_tags(links, context.run.run_id, wf.key(CHALLENGER))},
            artifacts={
                "lineage.json": manifest,
                SCORE_PROFILE: scores,
                # Which entities it saw: the gate's leakage criterion checks the test set's.
                TRAINING_ENTITIES: training_entities(training_set[wf.entity.id], wf.entity.id),
            },
            run_name=f"challenger {snapshots['training_window']['labels_until']}",
            description=config.change_summary,
            trusted_types=TRUSTED_TYPES,
        )
        actor = acting_person(config.actor)
        move = registry.move_alias(
            "challenger",
            registered.version,
            actor=actor,
            reason=config.change_summary,
            at=clock.now(),
        )
        context.log.info(
            "registered %s version %s as challenger", registered.name, registered.version
        )
        value = {
            "version": registered.version,
            "run_id": registered.run_id,
            "model_uri": registered.model_uri,
            "feature_set_version": fs.version,
            "alias_move": move.as_dict(),
        }
        return Output(
            value,
            metadata={
                "model_version": registered.version,
                "mlflow_run_id": registered.run_id,
                "trained_at": clock.now().isoformat(),
                "labels_until": snapshots["training_window"]["labels_until"],
                "feature_set_version": fs.version,
                "alias_move": MetadataValue.json(move.as_dict()),
                "alias_move_summary": (
                    f"{move.alias}: {move.from_version or 'none'} -> {move.to_version} by "
                    f"{move.actor} at {move.at}: {move.reason}"
                ),
                **{k: float(v) for k, v in metrics.items()},
                "lineage_tags": MetadataValue.json(tags),
                **mlflow_version_metadata(links, registry.model_name, registered.version),
            },
        )

    return [training_set, challenger_model], []

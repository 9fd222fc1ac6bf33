"""`afterlaunch explain ENTITY_ID [--date D] [--json]`: one scored row, from the records alone.

Everything comes from what the home recorded; no job runs:

* the stored `predictions` row (arm, serving version, output, decision) and the Dagster
  materialization that wrote it (its flag and rollout metadata);
* the serving flag and the rollout record in effect when that row was written (the versions
  logs of the snapshot store, in write order);
* the row's raw inputs, from the immutable raw snapshot the scoring read;
* the features as the serving version's own feature set computes them, and its output
  recomputed from them (it must equal the stored one: the stored model is deterministic);
* which features moved this output most: per-feature replacement with reference values
  (`checks.attribution`). It calls only the stored model's prediction function, so it works
  for any model family a workflow declares, needs no extra dependency and is exact for the
  stored model. The reference values are the medians/modes of the version's own training rows
  (the training-set snapshot its lineage names) or, for a version without lineage, of the
  evaluation test set's rows through its feature set;
* the model's lineage (tags and lineage.json) and the check evaluations of that partition.

A row served by the fallback rule (the model switched off) is explained by the rule instead of
attributions. A row never scored, or whose snapshot is gone, raises `NotExplainable` with the
sentence that says so.
"""

from __future__ import annotations

import inspect
import logging
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from assets.lineage import manifest_hash
from assets.models import load_served
from assets.names import EVAL_SET, FLAGS, PREDICTIONS, RAW, ROLLOUT, TRAINING_SET
from assets.serving import RULES
from assets.training_data import SPLIT
from assets.workflow import Workflow
from checks.attribution import reference_values, replacement_attribution
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotMissing, SnapshotStore

log = logging.getLogger("afterlaunch.explain")

METHOD = (
    "per-feature replacement: each feature alone set to its reference value (median for "
    "numeric, most frequent value for categorical), the change in the stored model's output"
)
TOP = 5  # attributions shown in the text answer (the JSON document has all)


class NotExplainable(LookupError):
    """The row cannot be explained from the records: never scored, or its snapshot is gone."""


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def _row_dict(frame: pd.DataFrame) -> dict:
    return {c: _plain(frame[c].iloc[0]) for c in frame.columns}


def _ids(store: SnapshotStore, asset: str, key: str, id_column: str) -> pd.Series:
    """The id column of one stored partition (read alone: a search need not hash every file)."""
    ref = store.current(asset, key)
    return pd.read_parquet(ref.path, columns=[id_column])[id_column].astype("str")


def find_partitions(wf: Workflow, store: SnapshotStore, entity_id: str, asset: str) -> list[str]:
    """The stored partitions of `asset` holding the entity, oldest first."""
    return [
        key
        for key in store.partitions(asset)
        if (_ids(store, asset, key, wf.entity.id) == entity_id).any()
    ]


def _entry_of(store: SnapshotStore, asset: str, key: str | None) -> dict:
    """The versions-log entry of the partition's current version (the last write of it)."""
    digest = store.current(asset, key).content_hash
    entries = [e for e in store.versions(asset, key) if e["content_hash"] == digest]
    if not entries:
        raise NotExplainable(f"{asset} partition {key}: its version log does not list {digest}")
    return entries[-1]


def _in_effect(store: SnapshotStore, asset: str, written_at: str) -> list[tuple[dict, Any]]:
    """Versions of an unpartitioned record (flag, rollout) written up to `written_at`, oldest
    first, with their values: the last one is what a run writing at that moment read."""
    found = []
    for entry in store.versions(asset, None):
        if entry["written_at"] <= written_at:
            found.append((entry, store.read(asset, None, entry["content_hash"])))
    return found


def _materialization(instance: DagsterInstance, key: AssetKey, partition: str, digest: str):
    """The materialization of `key` for `partition` that wrote content `digest`."""
    result = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=100
    )
    for record in result.records:  # newest first
        m = record.asset_materialization
        meta = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
        if meta.get("content_hash") == digest:
            return record.run_id, meta
    return None, {}


def partition_checks(
    instance: DagsterInstance, wf: Workflow, partition: str, assets: list[str]
) -> list[dict]:
    """The newest evaluation of each check of `assets` for `partition` (with how many there
    were: a partition re-run is checked again)."""
    from orchestration.catalog import definitions

    keys = [
        k
        for k in definitions(wf).resolve_asset_graph().asset_check_keys
        if k.asset_key in {wf.key(a) for a in assets}
    ]
    found = []
    for key in sorted(keys, key=lambda k: (assets.index(k.asset_key.path[-1]), k.name)):
        records = instance.event_log_storage.get_asset_check_execution_history(
            key,
            limit=50,
            status={
                AssetCheckExecutionRecordStatus.SUCCEEDED,
                AssetCheckExecutionRecordStatus.FAILED,
            },
            partition_filter=PartitionKeyFilter(key=partition),
        )
        records = [r for r in records if r.event is not None]
        if not records:
            continue
        newest = max(records, key=lambda r: r.id)
        data = newest.event.dagster_event.event_specific_data
        found.append(
            {
                "asset": key.asset_key.path[-1],
                "check": key.name,
                "passed": bool(data.passed),
                "severity": data.severity.value,
                "description": data.description or "",
                "run_id": newest.run_id,
                "evaluations": len(records),
            }
        )
    return found


def scoring_failure(instance: DagsterInstance, wf: Workflow, partition: str) -> str | None:
    """Why the newest run that tried to score `partition` failed, if one did (from the runs'
    step-failure events)."""
    from dagster import DagsterEventType, RunsFilter

    step = f"{wf.name}__{PREDICTIONS}"
    runs = instance.get_runs(filters=RunsFilter(tags={"dagster/partition": partition}), limit=50)
    for run in runs:  # newest first
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            event = entry.dagster_event
            if event.step_key == step:
                error = event.step_failure_data.error
                return f"run {run.run_id} ({run.job_name}): " + (
                    error.message.strip() if error else "no reason recorded"
                )
    return None


def _lineage(registry: ModelRegistry, version: str, tags: dict) -> dict:
    recorded = tags.get("lineage.manifest_sha256")
    summary = {
        k: v for k, v in sorted(tags.items()) if k.startswith(("lineage.", "code.", "feature_set."))
    }
    if not recorded:
        who = tags.get("registered_by")
        return {
            "complete": False,
            "tags": summary,
            "missing": f"version {version} records no lineage (no lineage.manifest_sha256 tag, "
            "no lineage.json"
            + (f"; registered by hand by {who}: {tags.get('change_summary', '')}" if who else "")
            + "): its training data, window and code are unknown",
        }
    manifest = registry.load_artifact_json(version, "lineage.json")
    if manifest_hash(manifest) != recorded:
        raise NotExplainable(
            f"version {version}: lineage.json does not match its tag lineage.manifest_sha256 "
            "(edited after registration?)"
        )
    window = manifest["training_window"]
    return {
        "complete": True,
        "tags": summary,
        "training_window": window,
        "raw_snapshots": manifest["raw_snapshots"],
        "label_snapshots": manifest["label_snapshots"],
        "training_set_sha256": manifest["training_set_sha256"],
        "eval_test_set_sha256": manifest.get("eval_test_set_sha256"),
        "counts": manifest.get("counts"),
        "code": manifest["code"],
        "feature_set": {k: manifest["feature_set"][k] for k in ("version", "hash")},
        "model": manifest["model"],
        "packages": manifest.get("packages"),
        "owner": manifest.get("owner"),
        "change_summary": manifest.get("change_summary"),
        "created_date": manifest.get("created_date"),
    }


def _reference_rows(wf: Workflow, store: SnapshotStore, served, lineage: dict):
    """The rows reference values are taken from, and a sentence naming them."""
    digest = lineage.get("training_set_sha256") if lineage["complete"] else None
    if digest and any(e["content_hash"] == digest for e in store.versions(TRAINING_SET, None)):
        training = store.read(TRAINING_SET, None, digest)
        train = training[training[SPLIT] == "train"] if SPLIT in training else training
        return train[served.feature_set.columns], (
            f"the version's own training rows (training_set {digest[:12]}, train split, "
            f"{len(train)} rows)"
        )
    if not store.partitions(EVAL_SET):
        return None, "no training-set snapshot of this version and no evaluation test set"
    test_set = store.read(EVAL_SET, None)
    raw = test_set[[c for c in wf.contracts.raw_columns if c in test_set.columns]]
    why = (
        "its lineage records no training set"
        if not digest
        else f"its training set {digest[:12]} is no longer stored"
    )
    return served.features(raw), (
        f"the evaluation test set v{test_set['eval_set_version'].iloc[0]} through the version's "
        f"feature set ({len(raw)} rows; {why})"
    )


def _why_served(row: dict, flag: dict | None, rollout: dict | None) -> str:
    arm, version = row["arm"], row["model_version"]
    if arm == "flag_off":
        by = f" by {flag['actor']} at {flag['at']}: {flag['reason']}" if flag else ""
        return f"the model was switched off (serving flag off{by}): the fallback rule served it"
    if arm == "pinned":
        by = f" by {flag['actor']}: {flag['reason']}" if flag else ""
        return f"the serving flag pinned version {version} for everyone{by}"
    if arm == "canary":
        return (
            f"rollout {rollout['id']} ({rollout['state']} at {rollout['fraction']:.0%}) served "
            f"challenger {version} on its canary arm, and this entity's hash fell in the canary "
            f"share; champion {row['champion_version']} scored it in shadow"
        )
    note = ""
    if rollout is not None and row.get("rollout_id"):
        note = (
            f"; rollout {rollout['id']} ({rollout['state']} at {rollout['fraction']:.0%}) scored "
            f"challenger {rollout['version']} beside it"
        )
    return f"version {version} was @champion and the serving flag was on{note}"


def explain(
    wf: Workflow,
    store: SnapshotStore,
    registry: ModelRegistry,
    instance: DagsterInstance,
    entity_id: str,
    day: str | None = None,
) -> dict:
    """The document answering "why this output" for one scored row (see the module doc)."""
    entity_id = str(entity_id)
    if day is not None:
        key = wf.partitions.key_at(datetime.fromisoformat(day))
        scored_there = (
            key in store.partitions(PREDICTIONS)
            and (_ids(store, PREDICTIONS, key, wf.entity.id) == entity_id).any()
        )
        # Only the asked partition is read unless the answer is "not there": then say where.
        found = [key] if scored_there else find_partitions(wf, store, entity_id, PREDICTIONS)
        if not scored_there:
            raw_has = (
                key in store.partitions(RAW)
                and (_ids(store, RAW, key, wf.entity.id) == entity_id).any()
            )
            where = f"; it is scored in {', '.join(found)}" if found else ""
            raise NotExplainable(
                f"{wf.entity.id} {entity_id} was not scored in partition {key}"
                + (
                    ": it is in that raw snapshot, but no predictions of it are stored"
                    if raw_has
                    else ""
                )
                + where
            )
    elif not (found := find_partitions(wf, store, entity_id, PREDICTIONS)):
        raw_days = [
            k
            for k in store.partitions(RAW)
            if (_ids(store, RAW, k, wf.entity.id) == entity_id).any()
        ]
        if raw_days:
            stopped = [
                f"{c['asset']}.{c['check']} {c['severity']} on {d}: {c['description']}"
                for d in raw_days
                for c in partition_checks(instance, wf, d, [RAW, "features"])
                if not c["passed"]
            ]
            failures = [
                f"scoring {d} failed in {why}"
                for d in raw_days
                if (why := scoring_failure(instance, wf, d))
            ]
            reasons = ["the checks that failed there: " + "; ".join(stopped)] if stopped else []
            reasons += failures
            raise NotExplainable(
                f"{wf.entity.id} {entity_id} was never scored: it is in the raw snapshot of "
                f"{', '.join(raw_days)}, but no stored predictions hold it ("
                + (
                    "; ".join(reasons)
                    if reasons
                    else "no check failed there and no scoring run failed: scoring has not "
                    "run for that partition"
                )
                + ")"
            )
        raise NotExplainable(
            f"{wf.entity.id} {entity_id} was never scored: no stored predictions or raw "
            f"snapshot of {wf.name} holds it"
        )
    else:
        key = found[-1]

    predictions = store.read(PREDICTIONS, key)
    row_frame = predictions[predictions[wf.entity.id].astype("str") == entity_id].head(1)
    row = _row_dict(row_frame)
    scored = _entry_of(store, PREDICTIONS, key)
    run_id, meta = _materialization(instance, wf.key(PREDICTIONS), key, scored["content_hash"])

    if key not in store.partitions(RAW):
        gone = key in store.written(RAW)
        raise NotExplainable(
            f"the raw snapshot of partition {key} that scored {entity_id} is "
            + (
                "gone from the snapshot store (written once, deleted since)"
                if gone
                else "not in the snapshot store"
            )
            + f": its inputs cannot be shown ({store.root / RAW / key})"
        )
    # The raw version the scoring read: the newest written before the predictions were.
    raw_versions = [e for e in store.versions(RAW, key) if e["written_at"] <= scored["written_at"]]
    if not raw_versions:
        raise NotExplainable(
            f"the raw snapshot of partition {key} that scored {entity_id} is not in the store's "
            "version log: its inputs cannot be shown"
        )
    raw_digest = raw_versions[-1]["content_hash"]
    try:
        raw = store.read(RAW, key, raw_digest)
    except SnapshotMissing as err:
        raise NotExplainable(
            f"the raw snapshot {raw_digest[:12]} of partition {key} that scored {entity_id} is "
            f"gone from the snapshot store, so its inputs cannot be shown: {err}"
        ) from err
    raw_row = raw[raw[wf.entity.id].astype("str") == entity_id].head(1).reset_index(drop=True)
    if raw_row.empty:
        raise NotExplainable(
            f"the raw snapshot {raw_digest[:12]} of partition {key} does not hold {entity_id}, "
            "though its predictions do: the records disagree"
        )

    flags = _in_effect(store, FLAGS, scored["written_at"])
    flag = flags[-1][1] if flags else None
    rollout = None
    if row.get("rollout_id"):
        steps = [
            v
            for _, v in _in_effect(store, ROLLOUT, scored["written_at"])
            if v["id"] == row["rollout_id"]
        ]
        if not steps:
            raise NotExplainable(
                f"the row names rollout {row['rollout_id']}, which the store never recorded"
            )
        rollout = steps[-1]

    doc: dict[str, Any] = {
        "workflow": wf.name,
        "entity_id": entity_id,
        "partition": key,
        "also_scored_in": [k for k in found if k != key],
        "served": {
            "arm": row["arm"],
            "model_version": row["model_version"],
            "scored_at": row.get("scored_at"),
            "why": _why_served(row, flag, rollout),
            "flag": (
                {k: flag.get(k) for k in ("state", "version", "reason", "actor", "at")}
                if flag
                else {"state": "on", "reason": "never flipped"}
            ),
            "rollout": (
                {
                    "id": rollout["id"],
                    "state": rollout["state"],
                    "fraction": rollout["fraction"],
                    "version": rollout["version"],
                    "champion_version": rollout["champion_version"],
                    "last_step": rollout["events"][-1],
                }
                if rollout
                else None
            ),
            "predictions_run": {
                "run_id": run_id,
                "content_hash": scored["content_hash"],
                **{k: meta.get(k) for k in ("flag", "rollout", "arms", "model_version")},
            },
        },
        "raw": {"snapshot": raw_digest, "row": _row_dict(raw_row)},
        "output": {
            k: row.get(k)
            for k in (
                "score",
                "confidence",
                "decision",
                "threshold",
                "champion_version",
                "champion_score",
                "challenger_version",
                "challenger_score",
            )
            if k in row
        },
    }
    if row["model_version"] == RULES:
        if wf.fallback is None:
            raise NotExplainable(f"the row was served by rules, but {wf.name} declares no fallback")
        recomputed = float(np.asarray(wf.fallback.rule(raw_row), dtype="float64")[0])
        doc["fallback"] = {
            "description": wf.fallback.description,
            "rule": f"{wf.fallback.rule.__module__}.{wf.fallback.rule.__qualname__}",
            "source_now": inspect.getsource(wf.fallback.rule),
            "output_recomputed": recomputed,
            "matches_stored": bool(np.isclose(recomputed, row["score"], rtol=0, atol=1e-12)),
        }
        doc["features"] = doc["attribution"] = doc["lineage"] = None
    else:
        version = row["model_version"]
        served = load_served(wf, registry, version)
        features = served.features(raw_row).reset_index(drop=True)
        tags = registry.version_tags(version)
        lineage = _lineage(registry, version, tags)
        reference_rows, reference_from = _reference_rows(wf, store, served, lineage)
        doc["features"] = {
            "feature_set": served.feature_set.version,
            "values": _row_dict(features),
        }
        doc["lineage"] = lineage
        doc["registry_tags"] = dict(sorted(tags.items()))
        if reference_rows is None:
            doc["attribution"] = {"method": METHOD, "missing": reference_from}
            recomputed = float(served.outputs(wf, raw_row)[0])
        else:
            reference = reference_values(
                reference_rows, served.feature_set.categorical, served.feature_set.numeric
            )
            recomputed, found_attr = replacement_attribution(
                lambda x: wf.task.predict(served.model, x), features, reference
            )
            doc["attribution"] = {
                "method": METHOD,
                "reference_from": reference_from,
                "features": [a.as_dict() for a in found_attr],
            }
        doc["output"]["recomputed"] = recomputed
        doc["output"]["matches_stored"] = bool(
            np.isclose(recomputed, row["score"], rtol=0, atol=1e-9)
        )
    doc["checks"] = partition_checks(instance, wf, key, [RAW, "features", PREDICTIONS])
    return doc


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render(doc: dict) -> list[str]:
    """The answer for a person."""
    served, out = doc["served"], doc["output"]
    lines = [
        f"{doc['workflow']}: {doc['entity_id']} scored in partition {doc['partition']}"
        + (
            f" (also scored in {', '.join(doc['also_scored_in'])})" if doc["also_scored_in"] else ""
        ),
        "",
        f"served by: {served['model_version']} (arm {served['arm']}) at {served['scored_at']}",
        f"  why: {served['why']}",
        f"  serving flag then: {served['flag']['state']}"
        + (f" ({served['flag'].get('reason')})" if served["flag"].get("reason") else ""),
    ]
    if served["rollout"]:
        r = served["rollout"]
        lines.append(
            f"  rollout: {r['id']} version {r['version']} vs champion {r['champion_version']}, "
            f"{r['state']} at {r['fraction']:.0%} (last step {r['last_step']['action']} on "
            f"{r['last_step']['date']}: {r['last_step']['reason']})"
        )
    run = served["predictions_run"]
    lines.append(f"  recorded by run {run['run_id']}: flag {run['flag']}, rollout {run['rollout']}")
    decision = out.get("decision")
    lines += [
        "",
        f"output: {_fmt(out['score'])}  decision: {decision}"
        + (f"  confidence: {_fmt(out['confidence'])}" if out.get("confidence") is not None else "")
        + (f"  threshold: {_fmt(out['threshold'])}" if out.get("threshold") is not None else ""),
    ]
    if out.get("challenger_version") and served["arm"] != "flag_off":
        lines.append(
            f"  champion {out['champion_version']} output {_fmt(out['champion_score'])}, "
            f"challenger {out['challenger_version']} output {_fmt(out['challenger_score'])}"
        )
    lines += ["", f"raw inputs (snapshot {doc['raw']['snapshot'][:12]}):"]
    lines += [f"  {k}: {v}" for k, v in doc["raw"]["row"].items()]
    if doc.get("fallback"):
        fb = doc["fallback"]
        lines += [
            "",
            f"fallback rule: {fb['description']} ({fb['rule']}); it outputs "
            f"{_fmt(fb['output_recomputed'])} for this row"
            + ("" if fb["matches_stored"] else " (NOT the stored output)"),
            "  no feature attribution: no model scored this row",
            "  the rule in the code now:",
            *(f"    {line}" for line in fb["source_now"].rstrip().splitlines()),
        ]
    else:
        features = doc["features"]
        lines += ["", f"features (feature set v{features['feature_set']}):"]
        lines += [f"  {k}: {_fmt(v)}" for k, v in features["values"].items()]
        lines.append(
            f"  recomputed output {_fmt(out['recomputed'])}: "
            + ("equals the stored one" if out["matches_stored"] else "DIFFERS from the stored one")
        )
        attribution = doc["attribution"]
        lines += ["", "what moved this output most (" + attribution["method"] + "):"]
        if "missing" in attribution:
            lines.append(f"  not computed: {attribution['missing']}")
        else:
            lines.append(f"  reference values from {attribution['reference_from']}")
            if not any(a["change"] for a in attribution["features"]):
                lines.append(
                    "  no single feature set to its reference value moves this output: it "
                    "rests on several features at once"
                )
            for a in attribution["features"][:TOP]:
                lines.append(
                    f"  {a['feature']}: {_fmt(a['value'])} (reference {_fmt(a['reference'])}) "
                    f"moved the output by {a['change']:+.4f}"
                )
        lineage = doc["lineage"]
        lines += ["", f"lineage of version {served['model_version']}:"]
        if not lineage["complete"]:
            lines.append(f"  {lineage['missing']}")
        else:
            w = lineage["training_window"]
            lines += [
                f"  training window: rows {w['first_day']} .. {w['last_day']}, labels known by "
                f"{w['labels_until']}",
                f"  data: {len(lineage['raw_snapshots'])} raw snapshots, "
                f"{len(lineage['label_snapshots'])} label snapshots, training set "
                f"{lineage['training_set_sha256'][:12]}",
                f"  code: {lineage['code']['git_commit']}"
                + (" (dirty)" if lineage["code"]["git_dirty"] else ""),
                f"  model: {lineage['model']['family']} {lineage['model']['hyperparameters']}",
                f"  change: {lineage['change_summary']} (owner {lineage['owner']})",
            ]
    lines += ["", f"checks on partition {doc['partition']}:"]
    if not doc["checks"]:
        lines.append("  none recorded")
    for c in doc["checks"]:
        level = "passed" if c["passed"] else c["severity"]
        lines.append(f"  {c['asset']}.{c['check']}: {level}: {c['description']}")
    return lines


def run_cli(args, home, wf) -> int:
    """`afterlaunch explain`: the answer printed; a row that cannot be explained prints why
    and exits 1."""
    import json

    from orchestration.home import registry_for
    from resources.snapshots import snapshot_root

    store = SnapshotStore(snapshot_root(home.root, wf.name))
    instance = DagsterInstance.get()
    try:
        doc = explain(wf, store, registry_for(home, wf), instance, args.entity_id, args.date)
    except NotExplainable as err:
        print(str(err))
        return 1
    print(json.dumps(doc, indent=2, default=str) if args.json else "\n".join(render(doc)))
    return 0

"""`afterlaunch diff A B` and `afterlaunch diff --launch`: what changed between two registered
versions, from what each recorded (nothing is retrained or re-scored).

Per version it gathers the registry's tags and description, lineage.json (training window,
snapshots, feature definitions' source, code commit, installed packages, model parameters),
the newest gate evaluation of it as a challenger, the baseline recorded for it as champion,
the alias moves the Dagster event log recorded for it and the champion changes of the
`champion` record; `checks.lineage_diff` compares the two. `--launch`: the first champion the
home ever recorded against today's.
"""

from __future__ import annotations

from typing import Any

from dagster import AssetRecordsFilter, DagsterInstance
from mlflow import MlflowClient

from assets.evaluation import find_evaluation
from assets.lineage import manifest_hash
from assets.names import BASELINE, CHALLENGER, CHAMPION
from assets.workflow import Workflow
from checks.lineage_diff import diff_versions, side
from resources.registry import ModelRegistry
from resources.snapshots import SnapshotStore


class DiffError(LookupError):
    """A version to compare is not registered, or its records contradict each other."""


def _records(store: SnapshotStore, asset: str) -> list[dict]:
    """Every stored value of an unpartitioned record, oldest first."""
    return [store.read(asset, None, e["content_hash"]) for e in store.versions(asset, None)]


def launch_and_today(store: SnapshotStore, registry: ModelRegistry) -> tuple[str, str]:
    """The first champion this home recorded, and the one behind @champion now."""
    changes = _records(store, CHAMPION)
    if not changes:
        raise DiffError("no champion was ever recorded in this home: nothing launched yet")
    today = registry.version_for_alias("champion")
    if today is None:
        raise DiffError("no version is behind @champion now")
    return str(changes[0]["version"]), today


def _registration(
    registry: ModelRegistry,
    instance: DagsterInstance,
    wf: Workflow,
    store: SnapshotStore,
    version: str,
    tags: dict,
) -> dict:
    client = MlflowClient(
        tracking_uri=registry.tracking_uri,
        registry_uri=registry.registry_uri or registry.tracking_uri,
    )
    mv = client.get_model_version(registry.model_name, version)
    moves, trigger, reason = [], None, None
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=wf.key(CHALLENGER)), limit=1000
    ).records
    for record in records:
        meta = {k: getattr(v, "value", v) for k, v in record.asset_materialization.metadata.items()}
        if str(meta.get("model_version")) != version:
            continue
        if isinstance(meta.get("alias_move"), dict):
            moves.append(meta["alias_move"])
        run = instance.get_run_by_id(record.run_id)
        if run is not None:
            trigger = run.tags.get("afterlaunch/trigger", "manual")
            reason = run.tags.get("afterlaunch/reason")
    changes = [c for c in _records(store, CHAMPION) if str(c.get("version")) == version]
    registered_by = tags.get("registered_by") or (moves[0]["actor"] if moves else None)
    return {
        "created": mv.creation_timestamp and _iso(mv.creation_timestamp),
        "description": mv.description or None,
        "registered_by": registered_by,
        "trigger": trigger or ("by hand (no training run)" if not moves else None),
        "trigger_reason": reason,
        "alias_moves": moves,
        "champion_changes": [
            {k: c.get(k) for k in ("action", "version", "actor", "at", "reason")} for c in changes
        ],
    }


def _iso(millis: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat()


def version_side(
    wf: Workflow,
    store: SnapshotStore,
    registry: ModelRegistry,
    instance: DagsterInstance,
    version: str,
) -> dict:
    """Everything one version recorded, as `checks.lineage_diff.side`."""
    version = str(version).strip()
    known = {v["version"] for v in registry.versions()}
    if version not in known:
        raise DiffError(
            f"version {version} is not registered under {registry.model_name}: "
            f"registered {', '.join(sorted(known, key=int)) or 'none'}"
        )
    tags = registry.version_tags(version)
    lineage = None
    recorded = tags.get("lineage.manifest_sha256")
    if recorded:
        lineage = registry.load_artifact_json(version, "lineage.json")
        if manifest_hash(lineage) != recorded:
            raise DiffError(
                f"version {version}: lineage.json does not match its tag lineage.manifest_sha256"
            )
    baselines = [b for b in _records(store, BASELINE) if str(b.get("champion_version")) == version]
    return side(
        version,
        lineage=lineage,
        tags=tags,
        evaluation=find_evaluation(store, version),
        baseline=baselines[-1] if baselines else None,
        registration=_registration(registry, instance, wf, store, version, tags),
    )


def diff(
    wf: Workflow,
    store: SnapshotStore,
    registry: ModelRegistry,
    instance: DagsterInstance,
    a: str,
    b: str,
) -> dict[str, Any]:
    doc = diff_versions(
        version_side(wf, store, registry, instance, a),
        version_side(wf, store, registry, instance, b),
    )
    return {"workflow": wf.name, **doc}


def run_cli(args, home, wf) -> int:
    """`afterlaunch diff A B` / `--launch`: the changes printed (every row with --all), or the
    document with --json; a version that cannot be compared prints why and exits 1."""
    import json

    from checks.lineage_diff import render_diff
    from orchestration.home import registry_for
    from resources.snapshots import snapshot_root

    if args.launch == bool(args.versions):
        raise SystemExit("afterlaunch diff takes two versions A B, or --launch alone")
    if not args.launch and len(args.versions) != 2:
        raise SystemExit(f"afterlaunch diff takes two versions, got {len(args.versions)}")
    store = SnapshotStore(snapshot_root(home.root, wf.name))
    registry = registry_for(home, wf)
    instance = DagsterInstance.get()
    try:
        a, b = launch_and_today(store, registry) if args.launch else args.versions
        doc = diff(wf, store, registry, instance, a, b)
    except DiffError as err:
        print(str(err))
        return 1
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(f"{wf.name}: " + "\n".join(render_diff(doc, all_rows=args.all)))
    return 0

"""What changed between two registered versions, from what each recorded: its lineage manifest
(lineage.json), its registry tags, its gate evaluation, its baseline and its registration.

`diff_versions(a, b)` takes two plain dicts (the "sides", see `side`) and returns a document of
sections, each with rows (field, a, b, changed), notes for the parts a version lacks (a model
registered by hand has no lineage.json) and, for the feature definitions, the unified text
diff of the stored source. `render_diff` turns the document into lines for a person. Plain
functions: no Dagster, no registry, no store.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

SECTIONS = (
    "training data",
    "feature set",
    "model",
    "code and packages",
    "gate",
    "slices",
    "registration",
)
MISSING = None  # a value the version does not record
_SLICE = re.compile(r"^slice '([^']+)'")


def side(
    version: str,
    *,
    lineage: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    baseline: Mapping[str, Any] | None = None,
    registration: Mapping[str, Any] | None = None,
) -> dict:
    """One version's records. `lineage`: its lineage.json (None: none stored); `evaluation`:
    its newest challenger_evaluation record; `baseline`: the baseline recorded for it as
    champion; `registration`: description, created, run tags, alias moves, champion changes."""
    return {
        "version": str(version),
        "lineage": dict(lineage) if lineage is not None else None,
        "tags": dict(tags or {}),
        "evaluation": dict(evaluation) if evaluation is not None else None,
        "baseline": dict(baseline) if baseline is not None else None,
        "registration": dict(registration or {}),
    }


def _get(doc: Mapping[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, Mapping) or key not in doc:
            return MISSING
        doc = doc[key]
    return doc


def _row(field: str, a: Any, b: Any) -> dict:
    return {"field": field, "a": a, "b": b, "changed": a != b}


def _snapshots(a: Mapping[str, str] | None, b: Mapping[str, str] | None, what: str) -> list[dict]:
    if a is None or b is None:
        return [_row(f"{what} partitions", _count(a), _count(b))]
    common = sorted(set(a) & set(b))
    same = sum(a[k] == b[k] for k in common)
    rows = [
        _row(f"{what} partitions", len(a), len(b)),
        _row(f"{what} range", _range(a), _range(b)),
    ]
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    content = [k for k in common if a[k] != b[k]]
    rows.append(
        {
            "field": f"{what} in common",
            "a": f"{len(common)} ({same} identical)",
            "b": f"{len(common)} ({same} identical)",
            "changed": bool(only_a or only_b or content),
            "detail": {
                "only_in_a": len(only_a),
                "only_in_b": len(only_b),
                "same_partition_other_content": content,
            },
        }
    )
    if content:
        rows.append(_row(f"{what} re-snapshotted", "", ", ".join(content)))
    return rows


def _count(snapshots: Mapping[str, str] | None) -> int | None:
    return None if snapshots is None else len(snapshots)


def _range(snapshots: Mapping[str, str]) -> str | None:
    return f"{min(snapshots)} .. {max(snapshots)}" if snapshots else None


def _no_lineage(s: Mapping[str, Any]) -> str:
    registered_by = s["tags"].get("registered_by")
    how = f"registered by hand by {registered_by}" if registered_by else "no lineage.json"
    return f"version {s['version']} records no lineage ({how}): {{what}} unknown"


def _training(a: dict, b: dict) -> dict:
    la, lb = a["lineage"], b["lineage"]
    rows = [
        _row(f"window {k}", _get(la, "training_window", k), _get(lb, "training_window", k))
        for k in ("first_day", "last_day", "labels_until", "cutoff")
    ]
    rows += [
        _row(f"rows: {k}", _get(la, "counts", k), _get(lb, "counts", k))
        for k in ("rows", "labelled_rows", "held_out_for_evaluation")
    ]
    rows.append(
        _row(
            "training set sha256", _get(la, "training_set_sha256"), _get(lb, "training_set_sha256")
        )
    )
    rows.append(
        _row(
            "eval test set sha256",
            _get(la, "eval_test_set_sha256"),
            _get(lb, "eval_test_set_sha256"),
        )
    )
    rows += _snapshots(_get(la, "raw_snapshots"), _get(lb, "raw_snapshots"), "raw snapshot")
    rows += _snapshots(_get(la, "label_snapshots"), _get(lb, "label_snapshots"), "label snapshot")
    rows.append(
        _row(
            "excluded partitions",
            _keys(_get(la, "excluded_partitions")),
            _keys(_get(lb, "excluded_partitions")),
        )
    )
    notes = [
        _no_lineage(s).format(what="its training data") for s in (a, b) if s["lineage"] is None
    ]
    return {"name": "training data", "rows": rows, "notes": notes}


def _keys(mapping: Any) -> str | None:
    return None if mapping is None else ", ".join(sorted(mapping)) or "none"


def _feature_set(a: dict, b: dict) -> dict:
    def value(s: dict, key: str) -> Any:
        found = _get(s["lineage"], "feature_set", key)
        return found if found is not MISSING else s["tags"].get(f"feature_set.{key}")

    rows = [_row(f"feature set {k}", value(a, k), value(b, k)) for k in ("version", "hash")]
    notes, text = [], []
    sources = {s["version"]: _get(s["lineage"], "feature_set", "source") for s in (a, b)}
    for s in (a, b):
        if s["lineage"] is None:
            notes.append(_no_lineage(s).format(what="its feature definitions' source"))
        elif sources[s["version"]] is MISSING:
            notes.append(
                f"version {s['version']}'s lineage stores no feature definitions' source "
                "(recorded before the source was stored)"
            )
    src_a, src_b = sources[a["version"]], sources[b["version"]]
    if isinstance(src_a, str) and isinstance(src_b, str):
        text = list(
            difflib.unified_diff(
                src_a.splitlines(),
                src_b.splitlines(),
                fromfile=f"version {a['version']} feature set v{value(a, 'version')}",
                tofile=f"version {b['version']} feature set v{value(b, 'version')}",
                lineterm="",
            )
        )
        rows.append(_row("feature definitions", "stored", "stored") | {"changed": bool(text)})
    return {"name": "feature set", "rows": rows, "notes": notes, "text_diff": text}


def _model(a: dict, b: dict) -> dict:
    la, lb = a["lineage"], b["lineage"]
    rows = [_row("family", _get(la, "model", "family"), _get(lb, "model", "family"))]
    hp_a = _get(la, "model", "hyperparameters") or {}
    hp_b = _get(lb, "model", "hyperparameters") or {}
    for key in sorted(set(hp_a) | set(hp_b)):
        rows.append(_row(f"hyperparameter {key}", hp_a.get(key), hp_b.get(key)))
    for key in ("seed", "validation_fraction"):
        rows.append(_row(key, _get(la, "model", key), _get(lb, "model", key)))
    rows.append(_row("task", _task(la), _task(lb)))
    # What the versions record about deciding (the decision threshold and its rule) as tags.
    for key in sorted(
        k for k in set(a["tags"]) | set(b["tags"]) if k.startswith(("decision.", "threshold"))
    ):
        rows.append(_row(key, a["tags"].get(key), b["tags"].get(key)))
    notes = [
        _no_lineage(s).format(what="its model family and parameters")
        for s in (a, b)
        if s["lineage"] is None
    ]
    return {"name": "model", "rows": rows, "notes": notes}


def _task(lineage: Any) -> str | None:
    task = _get(lineage, "task")
    if task is MISSING:
        return None
    return f"{task.get('kind')} ({task.get('param')})"


def _code(a: dict, b: dict) -> dict:
    def value(s: dict, key: str) -> Any:
        found = _get(s["lineage"], "code", key)
        return found if found is not MISSING else s["tags"].get(f"code.{key}")

    rows = [_row(f"code {k}", value(a, k), value(b, k)) for k in ("git_commit", "git_dirty")]
    pa, pb = _get(a["lineage"], "packages"), _get(b["lineage"], "packages")
    notes = []
    for s, found in ((a, pa), (b, pb)):
        if s["lineage"] is None:
            notes.append(_no_lineage(s).format(what="its installed packages"))
        elif found is MISSING:
            notes.append(
                f"version {s['version']}'s lineage records no installed packages "
                "(trained before they were recorded)"
            )
    if isinstance(pa, Mapping) and isinstance(pb, Mapping):
        same = 0
        for name in sorted(set(pa) | set(pb)):
            if pa.get(name) == pb.get(name):
                same += 1
            else:
                rows.append(_row(f"package {name}", pa.get(name), pb.get(name)))
        notes.append(f"{same} package{'s' if same != 1 else ''} at the same version")
    return {"name": "code and packages", "rows": rows, "notes": notes}


def _estimate(e: Mapping[str, Any] | None) -> str | None:
    if not e or e.get("value") is None:
        return None
    value, low, high = e["value"], e.get("low"), e.get("high")
    if low is None or high is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def _gate(a: dict, b: dict) -> dict:
    ea, eb = a["evaluation"], b["evaluation"]
    rows = [
        _row("verdict", _get(ea, "verdict"), _get(eb, "verdict")),
        _row("judged against champion", _get(ea, "champion_version"), _get(eb, "champion_version")),
        _row("test set version", _get(ea, "test_set", "version"), _get(eb, "test_set", "version")),
        _row("test set sha256", _get(ea, "test_set", "sha256"), _get(eb, "test_set", "sha256")),
        _row("policy version", _get(ea, "policy_version"), _get(eb, "policy_version")),
        _row("evaluated at", _get(ea, "evaluated_at"), _get(eb, "evaluated_at")),
    ]
    ma, mb = _get(ea, "metrics") or {}, _get(eb, "metrics") or {}
    for name in sorted(set(ma) | set(mb)):
        rows.append(_row(f"metric {name}", _estimate(ma.get(name)), _estimate(mb.get(name))))
    rows.append(
        _row(
            "baseline test set version",
            _get(a["baseline"], "test_set", "version"),
            _get(b["baseline"], "test_set", "version"),
        )
    )
    rows.append(
        _row(
            "baseline recorded at",
            _get(a["baseline"], "recorded_at"),
            _get(b["baseline"], "recorded_at"),
        )
    )
    ba, bb = _get(a["baseline"], "metrics") or {}, _get(b["baseline"], "metrics") or {}
    for name in sorted(set(ba) | set(bb)):
        rows.append(_row(f"baseline {name}", _estimate(ba.get(name)), _estimate(bb.get(name))))
    notes = []
    for s in (a, b):
        if s["evaluation"] is None:
            notes.append(f"version {s['version']} was never judged by the gate as a challenger")
        if s["baseline"] is None:
            notes.append(f"no baseline was recorded for version {s['version']} as champion")
    return {"name": "gate", "rows": rows, "notes": notes}


def slice_sentences(evaluation: Mapping[str, Any] | None) -> dict[str, str]:
    """slice name -> the gate's sentence about it, from an evaluation's reasons."""
    found = {}
    for reason in _get(evaluation, "reasons") or []:
        match = _SLICE.match(reason)
        if match:
            found[match.group(1)] = reason
    return found


def _slices(a: dict, b: dict) -> dict:
    sa, sb = slice_sentences(a["evaluation"]), slice_sentences(b["evaluation"])
    rows = [_row(f"slice {n}", sa.get(n), sb.get(n)) for n in sorted(set(sa) | set(sb))]
    notes = []
    for s, found in ((a, sa), (b, sb)):
        if found:
            continue
        first = s["evaluation"] is not None and s["evaluation"].get("champion_version") is None
        why = " (the first model: no champion to compare slices with)" if first else ""
        notes.append(f"version {s['version']}'s gate judged no slice{why}")
    return {"name": "slices", "rows": rows, "notes": notes}


def _moves(moves: Any) -> str | None:
    if not moves:
        return None
    return "; ".join(
        f"@{m['alias']} {m.get('from_version') or 'none'} -> {m['to_version']} by {m['actor']} "
        f"at {m['at']}: {m['reason']}"
        for m in moves
    )


def _changes(changes: Any) -> str | None:
    if not changes:
        return None
    return "; ".join(
        f"{c['action']} to {c['version']} by {c['actor']} at {c['at']}: {c['reason']}"
        for c in changes
    )


def _registration(a: dict, b: dict) -> dict:
    def lineage_or_tag(s: dict, key: str) -> Any:
        found = _get(s["lineage"], key)
        return found if found is not MISSING else s["tags"].get(key)

    ra, rb = a["registration"], b["registration"]
    rows = [
        _row("registered at", ra.get("created"), rb.get("created")),
        _row("description", ra.get("description"), rb.get("description")),
        _row(
            "change summary",
            lineage_or_tag(a, "change_summary"),
            lineage_or_tag(b, "change_summary"),
        ),
        _row("owner", lineage_or_tag(a, "owner"), lineage_or_tag(b, "owner")),
        _row("registered by", ra.get("registered_by"), rb.get("registered_by")),
        _row("trigger", ra.get("trigger"), rb.get("trigger")),
        _row("alias moves", _moves(ra.get("alias_moves")), _moves(rb.get("alias_moves"))),
        _row(
            "champion changes",
            _changes(ra.get("champion_changes")),
            _changes(rb.get("champion_changes")),
        ),
    ]
    return {"name": "registration", "rows": rows, "notes": []}


def diff_versions(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict:
    """The document comparing two sides (see `side`), section by section."""
    for s in (a, b):
        missing = [
            k
            for k in ("version", "lineage", "tags", "evaluation", "baseline", "registration")
            if k not in s
        ]
        if missing:
            raise KeyError(
                f"side of version {s.get('version')!r} lacks {missing}: build it with side()"
            )
    a, b = dict(a), dict(b)
    sections = [
        _training(a, b),
        _feature_set(a, b),
        _model(a, b),
        _code(a, b),
        _gate(a, b),
        _slices(a, b),
        _registration(a, b),
    ]
    for section in sections:
        section.setdefault("text_diff", [])
        section["changed"] = sorted(r["field"] for r in section["rows"] if r["changed"])
    return {"a": a["version"], "b": b["version"], "sections": sections}


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def render_diff(doc: Mapping[str, Any], all_rows: bool = False) -> list[str]:
    """Lines for a person: per section the changed rows (every row with `all_rows`), the
    notes, and the text diff of the feature definitions."""
    lines = [f"version {doc['a']} -> version {doc['b']}"]
    for section in doc["sections"]:
        lines.append("")
        changed = len(section["changed"])
        lines.append(f"== {section['name']}: {changed} change{'s' if changed != 1 else ''}")
        for row in section["rows"]:
            if not (all_rows or row["changed"]):
                continue
            mark = "*" if row["changed"] else " "
            a, b = _shown(row["a"]), _shown(row["b"])
            if len(a) + len(b) > 80:
                lines.append(f" {mark} {row['field']}:")
                lines.append(f"     {doc['a']}: {a}")
                lines.append(f"     {doc['b']}: {b}")
            else:
                lines.append(f" {mark} {row['field']}: {a} -> {b}")
        for note in section["notes"]:
            lines.append(f"   note: {note}")
        if section["text_diff"]:
            lines.append("   feature definitions (unified diff of the stored source):")
            lines.extend(f"   {line}" for line in section["text_diff"])
    return lines

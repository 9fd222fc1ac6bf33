"""Provenance, packaging and cost: gate criteria about what a version IS, beside what it scores.

Each function judges measured evidence (gathered by ``assets/gate_evidence.py``) against the
policy (``checks.policy.GateRules``) and returns a ``checks.gate.Criterion`` for ``decide``'s
``extra`` list:

* ``lineage``: the version's lineage tags are those its ``lineage.json`` gives, and that file is
  the one ``lineage.manifest_sha256`` names. Without it (a version registered by hand from a
  notebook) the criterion is not passed and a person must approve (``needs_approval``), or it
  rejects (``incomplete_lineage: reject``).
* ``leakage``: the evaluation test set's entity ids found in the version's recorded training
  set; more than ``max_leaked_entities`` rejects, naming how many. A version that records no
  training ids is "not judged" (its lineage is incomplete, which already asks a person).
* ``packaging:load``, ``packaging:signature``, ``packaging:requirements``: it loads and scores in
  a fresh process from the registry alone, with the same outputs; its signature's input
  columns are its feature set's; the packages it records are the ones installed.
* ``cost:latency``, ``cost:size``: median scoring time per 1,000 test rows against the
  champion's, measured beside it (a ratio above ``max_latency_ratio`` rejects); the artifact's
  size (a ceiling only when ``max_artifact_mb`` is set).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from checks.gate import Criterion
from checks.policy import GateRules

LINEAGE = "lineage"
LEAKAGE = "leakage"
PACKAGING_LOAD = "packaging:load"
PACKAGING_SIGNATURE = "packaging:signature"
PACKAGING_REQUIREMENTS = "packaging:requirements"
COST_LATENCY = "cost:latency"
COST_SIZE = "cost:size"
MANIFEST_HASH_TAG = "lineage.manifest_sha256"
MB = 1024 * 1024
_SHOWN = 5  # examples named in a reason; the count is always complete
_OUTPUT_TOLERANCE = 1e-9  # the fresh process must reproduce the outputs, not approximate them


def _some(items: Collection[str]) -> str:
    ordered = sorted(items)
    more = f" and {len(ordered) - _SHOWN} more" if len(ordered) > _SHOWN else ""
    return ", ".join(ordered[:_SHOWN]) + more


@dataclass(frozen=True)
class LineageEvidence:
    """What the registry holds about a version's lineage."""

    tags: Mapping[str, str]  # the version's tags
    expected: Mapping[str, str] | None  # the tags its lineage.json gives; None: no lineage.json
    manifest_sha256: str | None  # the hash of that lineage.json
    unreadable: str | None = None  # why its lineage.json gives no tags (a key it lacks)


def lineage_problems(evidence: LineageEvidence) -> list[str]:
    """Why the lineage is incomplete, one phrase each ([]: complete)."""
    tags = evidence.tags
    if evidence.unreadable is not None:
        return [f"its lineage.json is not a lineage manifest: {evidence.unreadable}"]
    if evidence.expected is None:
        found = sorted(k for k in tags if k.startswith("lineage."))
        return [
            "no lineage.json artifact in its run"
            + (f" (lineage tags present: {_some(found)})" if found else ", and no lineage tags")
        ]
    problems = []
    recorded = tags.get(MANIFEST_HASH_TAG)
    if not recorded:
        problems.append(f"no {MANIFEST_HASH_TAG} tag")
    elif recorded != evidence.manifest_sha256:
        problems.append(
            f"{MANIFEST_HASH_TAG} {recorded[:12]} is not the hash of its lineage.json "
            f"({(evidence.manifest_sha256 or '?')[:12]})"
        )
    missing = [k for k in evidence.expected if k not in tags]
    differing = [k for k in evidence.expected if k in tags and tags[k] != evidence.expected[k]]
    if missing:
        problems.append(f"{len(missing)} lineage tags missing: {_some(missing)}")
    if differing:
        problems.append(f"{len(differing)} tags differ from its lineage.json: {_some(differing)}")
    return problems


def lineage(evidence: LineageEvidence, rules: GateRules) -> Criterion:
    problems = lineage_problems(evidence)
    if not problems:
        n = len(evidence.expected or {})
        text = (
            f"complete lineage: {n} lineage tags match lineage.json "
            f"({(evidence.manifest_sha256 or '')[:12]})"
        )
        return Criterion(LINEAGE, 0.0, 0.0, True, text)
    head = f"incomplete lineage: {'; '.join(problems)}"
    if rules.incomplete_lineage == "reject":
        return Criterion(LINEAGE, float(len(problems)), 0.0, False, f"{head}: rejected")
    text = f"{head}: nothing shows how it was made, a person must approve it"
    return Criterion(LINEAGE, float(len(problems)), 0.0, None, text, needs_approval=True)


def leakage(
    test_ids: Collection[str], training_ids: Collection[str] | None, rules: GateRules
) -> Criterion:
    """Test-set entities the version was trained on (ids compared as text)."""
    allowed = rules.max_leaked_entities
    if training_ids is None:
        text = (
            "not judged: the version records no training entity ids (training_entities.json), "
            "so nothing shows it never saw the test set"
        )
        return Criterion(LEAKAGE, None, float(allowed), None, text)
    test = {str(i) for i in test_ids}
    seen = test & {str(i) for i in training_ids}
    ok = len(seen) <= allowed
    if not seen:
        text = f"none of the {len(test)} test-set entities is in its training set"
    else:
        text = (
            f"{len(seen)} of the {len(test)} test-set entities are in its training set "
            f"({_some(seen)}): {'within' if ok else 'more than'} the {allowed} allowed"
        )
        if not ok:
            text += "; its test-set scores measure memory, not skill"
    return Criterion(LEAKAGE, float(len(seen)), float(allowed), ok, text)


def fresh_load(error: str | None, rows: int, max_abs_difference: float | None) -> Criterion:
    """The version loaded and scored ``rows`` rows in a fresh process from the registry alone
    (``error``: why not), with outputs ``max_abs_difference`` from this process's."""
    if error is not None:
        text = f"does not load and score in a fresh process from the registry: {error}"
        return Criterion(PACKAGING_LOAD, None, _OUTPUT_TOLERANCE, False, text)
    if max_abs_difference is None or max_abs_difference > _OUTPUT_TOLERANCE:
        shown = "no outputs" if max_abs_difference is None else f"{max_abs_difference:.3g}"
        text = (
            f"loaded in a fresh process, but its outputs on {rows} rows differ from the "
            f"evaluated model's (max |difference| {shown})"
        )
        return Criterion(PACKAGING_LOAD, max_abs_difference, _OUTPUT_TOLERANCE, False, text)
    text = f"loads from the registry alone in a fresh process and scores {rows} rows identically"
    return Criterion(PACKAGING_LOAD, max_abs_difference, _OUTPUT_TOLERANCE, True, text)


def signature(signature_columns: Sequence[str] | None, feature_columns: Sequence[str]) -> Criterion:
    """The model signature's input columns against its feature set's columns."""
    if signature_columns is None:
        text = "the model records no input signature: nothing says which columns it takes"
        return Criterion(PACKAGING_SIGNATURE, None, 0.0, False, text)
    missing = set(feature_columns) - set(signature_columns)
    extra = set(signature_columns) - set(feature_columns)
    if not missing and not extra:
        text = f"signature's {len(signature_columns)} input columns are its feature set's"
        return Criterion(PACKAGING_SIGNATURE, 0.0, 0.0, True, text)
    parts = []
    if missing:
        parts.append(f"feature-set columns not in the signature: {_some(missing)}")
    if extra:
        parts.append(f"signature columns not in the feature set: {_some(extra)}")
    text = f"signature does not match its feature set: {'; '.join(parts)}"
    return Criterion(PACKAGING_SIGNATURE, float(len(missing) + len(extra)), 0.0, False, text)


_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirements(text: str) -> dict[str, str | None]:
    """``requirements.txt`` as {normalized name: exact pin or None}; options, comments and
    blank lines are skipped. A line that is no requirement is refused, naming it."""
    found: dict[str, str | None] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _NAME.match(line)
        if match is None:
            raise ValueError(f"requirements line {raw!r} is not a requirement")
        name, spec = match.group(1), match.group(2).strip()
        pin = spec[2:].strip() if spec.startswith("==") and "," not in spec else None
        found[normalized(name)] = pin
    return found


def requirements(
    recorded: Mapping[str, str | None], installed: Mapping[str, str | None]
) -> Criterion:
    """The version's recorded pins against the deployment's installed versions (``installed``:
    normalized name -> version, None when not installed)."""
    mismatches, unpinned = [], []
    for name, pin in sorted(recorded.items()):
        have = installed.get(name)
        if pin is None:
            unpinned.append(name)
        elif have is None:
            mismatches.append(f"{name}=={pin} (not installed)")
        elif have != pin:
            mismatches.append(f"{name}=={pin} (installed {have})")
    note = f"; not pinned, not compared: {_some(unpinned)}" if unpinned else ""
    if not recorded:
        text = "the model records no requirements: nothing says what it needs to load"
        return Criterion(PACKAGING_REQUIREMENTS, None, 0.0, False, text)
    if mismatches:
        text = (
            f"{len(mismatches)} recorded requirements differ from the deployment's: "
            f"{', '.join(mismatches)}{note}"
        )
        return Criterion(PACKAGING_REQUIREMENTS, float(len(mismatches)), 0.0, False, text)
    compared = len(recorded) - len(unpinned)
    text = f"its {compared} pinned requirements are the installed versions{note}"
    return Criterion(PACKAGING_REQUIREMENTS, 0.0, 0.0, True, text)


def ms_per_1000(seconds: Sequence[float], rows: int) -> float:
    """The median of repeated timings of scoring ``rows`` rows, in ms per 1,000 rows."""
    if rows <= 0:
        raise ValueError(f"latency needs scored rows, got {rows}")
    if not seconds or any(s < 0 for s in seconds):
        raise ValueError(f"latency needs non-negative timings, got {list(seconds)}")
    return statistics.median(seconds) * 1000.0 * 1000.0 / rows


def latency(challenger_ms: float, champion_ms: float | None, rules: GateRules) -> Criterion:
    """Median ms per 1,000 rows, the challenger's over the champion's, measured side by side."""
    limit = rules.max_latency_ratio
    if champion_ms is None:
        text = f"{challenger_ms:.2f} ms per 1,000 rows; no champion to compare with"
        return Criterion(COST_LATENCY, None, limit, None, text)
    if champion_ms <= 0:
        raise ValueError(f"the champion's latency must be positive, got {champion_ms}")
    ratio = challenger_ms / champion_ms
    ok = ratio <= limit
    text = (
        f"{challenger_ms:.2f} ms per 1,000 rows vs the champion's {champion_ms:.2f}: "
        f"{ratio:.2f}x, {'within' if ok else 'above'} the {limit:g}x allowed"
    )
    return Criterion(COST_LATENCY, ratio, limit, ok, text)


def artifact_size(size_bytes: int, rules: GateRules) -> Criterion:
    mb = size_bytes / MB
    ceiling = rules.max_artifact_mb
    if ceiling is None:
        return Criterion(COST_SIZE, mb, None, None, f"artifact {mb:.3f} MB (no ceiling set)")
    ok = mb <= ceiling
    text = f"artifact {mb:.3f} MB, {'within' if ok else 'above'} the {ceiling:g} MB ceiling"
    return Criterion(COST_SIZE, mb, ceiling, ok, text)

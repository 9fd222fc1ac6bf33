"""The incident timeline and the deployment history, assembled from plain records.

Every row is dated by the workflow's own clock (a check by its partition's last day, anything
else by the `at` its record carries), never by when Dagster stored it: in a simulation the
two differ by weeks. A gate verdict is *stale* when it was judged against a champion that was
no longer champion when it was used (a promotion) or when it is shown (the timeline's end).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

# Jobs whose run, when a monitor or the schedule launched it, is a retraining request.
RETRAINING_JOBS = ("retraining", "emergency_retraining", "train_challenger", "refresh_test_set")
TRIGGER_TAG = "afterlaunch/trigger"
REASON_TAG = "afterlaunch/reason"
# Within one instant, the order a chain happens in (a request, then what it produced).
CHAIN = ("retraining_requested", "registered", "verdict", "approval", "promotion", "rollback")


@dataclass(frozen=True)
class CheckRecord:
    id: int
    asset: str  # "<workflow>/<asset>"
    check: str
    partition: str | None
    at: str  # the partition's last day, or its run's instant when unpartitioned
    passed: bool
    severity: str
    description: str
    run_id: str


@dataclass(frozen=True)
class Materialization:
    asset: str  # the engine's name: challenger_model, rollout, champion, ...
    at: str
    run_id: str
    metadata: dict


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    job: str
    at: str
    tags: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Streak:
    """A monitoring check's failing run of partitions, ending at `partition`."""

    check: str
    partitions: int
    partition: str | None


@dataclass(frozen=True)
class Row:
    at: str
    kind: str
    what: str
    why: str = ""
    version: str | None = None
    actor: str | None = None
    approved_by: str | None = None
    link: str | None = None
    stale: str | None = None
    run_id: str | None = None

    @property
    def date(self) -> str:
        return self.at[:10]

    def as_dict(self) -> dict:
        return {"date": self.date, **asdict(self)}


@dataclass
class Records:
    checks: list[CheckRecord] = field(default_factory=list)
    materializations: list[Materialization] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    approvals: list[dict] = field(default_factory=list)  # resources.approvals.Approval fields
    alerts: list[dict] = field(default_factory=list)  # created_at, owner, severity, ..., payload
    streaks: dict[str, Streak] = field(default_factory=dict)  # run_id -> what triggered it


class Links:
    """What the assembly needs of `resources.links.UiLinks` (no link: None)."""

    def run(self, run_id: str | None) -> str | None:
        return None

    def check(self, asset: str, check: str) -> str | None:
        return None


def _version(value) -> str | None:
    return None if value in (None, "", "none") else str(value)


def _v(value) -> str:
    """A version as rows show it: "v3", or "none"."""
    version = _version(value)
    return f"v{version}" if version else "none"


def champions(materializations: Iterable[Materialization]) -> list[tuple[str, str]]:
    """(at, version) of every change of the champion, in order."""
    changes = [m for m in materializations if m.asset == "champion"]
    return [(m.at, str(m.metadata["version"])) for m in sorted(changes, key=lambda m: m.at)]


def champion_at(history: Sequence[tuple[str, str]], at: str) -> str | None:
    """The champion serving at instant `at` (None before the first promotion)."""
    current = None
    for when, version in history:
        if when > at:
            break
        current = version
    return current


def stale_mark(judged_against: str | None, champion_then: str | None) -> str | None:
    """The words a stale verdict carries (None: the verdict is current)."""
    judged, then = _version(judged_against), _version(champion_then)
    if judged == then:
        return None
    return f"stale (judged against {_v(judged)}, champion then {_v(then)})"


def verdict_staleness(
    evaluation: dict, history: Sequence[tuple[str, str]], used_at: str | None, shown_at: str
) -> str | None:
    """A verdict is judged by the champion when it was used (promoted on), else when shown."""
    version = str(evaluation["challenger_version"])
    when = used_at or shown_at
    champion = champion_at(history, when) if used_at is None else _champion_before(history, when)
    if used_at is None and champion == version:
        return None  # shown after its own promotion: the verdict did its job
    return stale_mark(evaluation.get("champion_version"), champion)


def _champion_before(history: Sequence[tuple[str, str]], at: str) -> str | None:
    earlier = [(w, v) for w, v in history if w < at]
    return earlier[-1][1] if earlier else None


def retraining_why(trigger: str, reason: str, streak: Streak | None, unit: str) -> str:
    """The trigger sentence of a retraining request."""
    if streak is not None and streak.partitions > 0:
        if streak.partition is None:
            return f"retraining requested because {streak.check} failed: {reason}"
        plural = unit if streak.partitions == 1 else f"{unit}s"
        return (
            f"retraining requested because {streak.check} failed {streak.partitions} {plural} "
            f"in a row (through {streak.partition}): {reason}"
        )
    return f"retraining requested by the {trigger} trigger: {reason}"


def _promotions_at(materializations: Iterable[Materialization]) -> dict[str, str]:
    """version -> instant of its first promotion."""
    found: dict[str, str] = {}
    for m in sorted(materializations, key=lambda m: m.at):
        if m.asset == "champion" and m.metadata.get("action") != "rollback":
            found.setdefault(str(m.metadata["version"]), m.at)
    return found


def _evaluation_dict(meta: dict) -> dict:
    return {
        "challenger_version": meta["challenger_version"],
        "champion_version": _version(meta.get("champion_version")),
    }


def assemble(records: Records, links: Links, *, until: str, unit: str = "day") -> list[Row]:
    """Every row dated up to `until` (an ISO instant, exclusive), in time order."""
    history = [(a, v) for a, v in champions(records.materializations) if a < until]
    promoted = {v: a for v, a in _promotions_at(records.materializations).items() if a < until}
    runs = {r.run_id: r for r in records.runs}
    rows: list[Row] = []
    for c in records.checks:
        if c.passed:
            continue
        where = f" [{c.partition}]" if c.partition else ""
        rows.append(
            Row(
                c.at,
                "check_failed",
                f"{c.severity} {c.asset}.{c.check}{where}: {c.description}",
                link=links.check(c.asset, c.check),
                run_id=c.run_id,
            )
        )
    for a in records.alerts:
        p = a["payload"]
        where = f" [{p['partition']}]" if p.get("partition") else ""
        rows.append(
            Row(
                a["created_at"],
                "alert",
                f"alert to {a['owner']} ({a['delivery']}): {a['severity']} "
                f"{p['asset']}.{p['check']}{where}",
                why=p.get("description", ""),
                link=links.check(p["asset"], p["check"]),
                run_id=p.get("run_id"),
            )
        )
    for r in records.runs:
        trigger = r.tags.get(TRIGGER_TAG)
        if r.job in RETRAINING_JOBS and trigger:
            reason = r.tags.get(REASON_TAG, trigger)
            rows.append(
                Row(
                    r.at,
                    "retraining_requested",
                    f"{r.job} run ({trigger})",
                    why=retraining_why(trigger, reason, records.streaks.get(r.run_id), unit),
                    actor=trigger,
                    link=links.run(r.run_id),
                    run_id=r.run_id,
                )
            )
    for m in records.materializations:
        rows.extend(_materialization_rows(m, runs.get(m.run_id), links, history, promoted, until))
    rows.extend(_outside_registrations(records.materializations, links))
    for a in records.approvals:
        champion = champion_at(history, a["approved_at"])
        rows.append(
            Row(
                a["approved_at"],
                "approval",
                f"version {a['version']}'s {a['verdict']} verdict approved by {a['approver']}",
                why=a["reason"],
                version=str(a["version"]),
                actor=a["approver"],
                approved_by=a["approver"],
                stale=stale_mark(a.get("champion_version"), champion),
            )
        )
    return sorted((r for r in rows if r.at < until), key=_order)


def _order(row: Row) -> tuple:
    return (row.at, CHAIN.index(row.kind) if row.kind in CHAIN else len(CHAIN))


def _materialization_rows(
    m: Materialization,
    run: RunRecord | None,
    links: Links,
    history: Sequence[tuple[str, str]],
    promoted: dict[str, str],
    until: str,
) -> list[Row]:
    meta, link = m.metadata, links.run(m.run_id)
    tags = run.tags if run else {}
    if m.asset == "challenger_model":
        trigger = tags.get(TRIGGER_TAG, "manual")
        return [
            Row(
                m.at,
                "registered",
                f"version {meta['model_version']} registered as @challenger "
                f"(labels until {meta.get('labels_until')})",
                why=tags.get(REASON_TAG, trigger),
                version=str(meta["model_version"]),
                actor=trigger,
                link=link,
                run_id=m.run_id,
            )
        ]
    if m.asset == "challenger_evaluation":
        evaluation = _evaluation_dict(meta)
        version = evaluation["challenger_version"]
        against = evaluation["champion_version"]
        return [
            Row(
                m.at,
                "verdict",
                f"version {version} judged against {_v(against)}: {meta['verdict']}",
                why=str(meta.get("summary", "")),
                version=str(version),
                actor="gate",
                link=link,
                stale=verdict_staleness(evaluation, history, promoted.get(str(version)), until),
                run_id=m.run_id,
            )
        ]
    if m.asset == "rollout":
        kind = "canary_rollback" if meta["state"] == "rolled_back" else "rollout_step"
        return [
            Row(
                m.at,
                kind,
                f"rollout of version {meta['version']}: {meta['action']} -> {meta['state']} "
                f"({float(meta['fraction']):.0%})",
                why=str(meta["reason"]),
                version=str(meta["version"]),
                actor=str(meta["actor"]),
                link=link,
                run_id=m.run_id,
            )
        ]
    if m.asset == "champion":
        rollback = meta["action"] == "rollback"
        gate = meta.get("gate") or {}
        previous = _version(meta.get("previous_version"))
        stale = None if rollback or not gate else stale_mark(gate.get("judged_against"), previous)
        approved = meta.get("approved_by")
        return [
            Row(
                m.at,
                "rollback" if rollback else "promotion",
                f"{meta['action']}: {_v(previous)} -> {_v(meta['version'])}",
                why=str(meta["reason"]),
                version=str(meta["version"]),
                actor=str(meta["actor"]),
                approved_by=None if approved in (None, "not required") else str(approved),
                link=link,
                stale=stale,
                run_id=m.run_id,
            )
        ]
    if m.asset == "serving_flags":
        shown = f"pin {meta['version']}" if meta["state"] == "pin" else meta["state"]
        return [
            Row(
                m.at,
                "flag_flip",
                f"serving flag -> {shown}",
                why=str(meta["reason"]),
                version=_version(meta.get("version")),
                actor=str(meta["actor"]),
                link=link,
                run_id=m.run_id,
            )
        ]
    return []


def _outside_registrations(materializations: Sequence[Materialization], links: Links) -> list[Row]:
    """A version evaluated that no `challenger_model` run registered was registered by hand
    (MLflow directly): dated by its first evaluation, the first time Afterlaunch saw it."""
    trained = {
        str(m.metadata["model_version"]) for m in materializations if m.asset == "challenger_model"
    }
    first: dict[str, Materialization] = {}
    for m in sorted(materializations, key=lambda m: m.at):
        if m.asset == "challenger_evaluation":
            first.setdefault(str(m.metadata["challenger_version"]), m)
    rows = []
    for version, m in first.items():
        if version in trained:
            continue
        rows.append(
            Row(
                m.at,
                "registered",
                f"version {version} registered outside the pipeline, found behind @challenger",
                why="registered in MLflow by hand; Afterlaunch saw it first when it evaluated it",
                version=version,
                link=links.run(m.run_id),
                run_id=m.run_id,
            )
        )
    return rows


def deployment_history(rows: Iterable[Row]) -> list[Row]:
    """Promotions, rollbacks, canary rollbacks and rejected challengers, in time order."""
    found = []
    for r in rows:
        if r.kind in ("promotion", "rollback", "canary_rollback"):
            found.append(r)
        elif r.kind == "verdict" and r.what.endswith(": reject"):
            found.append(Row(**{**asdict(r), "kind": "rejected"}))
    return sorted(found, key=_order)


def inconsistencies(history: Iterable[Row]) -> list[str]:
    """What the deployment history should never show: a promotion on a stale verdict."""
    return [
        f"{r.date}: version {r.version} promoted on a {r.stale}"
        for r in history
        if r.kind == "promotion" and r.stale
    ]


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _linked(text: str, link: str | None) -> str:
    return f"[{_cell(text)}]({link})" if link else _cell(text)


def markdown(rows: Sequence[Row], columns: Sequence[str], empty: str = "nothing recorded") -> str:
    """A Markdown table; the `what` cell links the row's run or check when it has one."""
    if not rows:
        return f"_{empty}_"
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for r in rows:
        values = r.as_dict()
        cells = [
            _linked(str(values["what"]), r.link) if c == "what" else _cell(_show(values.get(c)))
            for c in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _show(value) -> str:
    return "" if value is None else str(value)

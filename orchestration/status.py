"""`afterlaunch status`: the five readiness answers, read from each workflow's latest
`readiness_report` snapshot (nothing is recomputed, so the answer is what the UI shows)."""

from __future__ import annotations

from dataclasses import dataclass

from assets.names import READINESS
from assets.pipeline_task import is_pipeline
from assets.workflow import Workflow
from orchestration.home import Home
from resources.snapshots import SnapshotStore, snapshot_root

# One screen for the whole deployment: each answer cut to what fits beside its question.
ANSWER_WIDTH = 72


@dataclass(frozen=True)
class Latest:
    workflow: Workflow
    partition: str | None
    report: dict | None


def latest(home: Home, wf: Workflow) -> Latest:
    store = SnapshotStore(snapshot_root(home.root, wf.name))
    days = store.partitions(READINESS)
    if not days:
        return Latest(wf, None, None)
    return Latest(wf, days[-1], store.read(READINESS, days[-1]))


def document(found: Latest) -> dict:
    """The machine-readable answer for one workflow, each question with its sources."""
    wf, report = found.workflow, found.report
    if report is None:
        return {"workflow": wf.name, "asset": f"{wf.name}/{READINESS}", "partition": None}
    if is_pipeline(wf.task):
        return {
            "workflow": wf.name,
            "asset": f"{wf.name}/{READINESS}",
            "partition": found.partition,
            "stages": report["stages"],
        }
    return {
        "workflow": wf.name,
        "asset": f"{wf.name}/{READINESS}",
        "partition": found.partition,
        "overall": report["overall"],
        "week": report["week"],
        "questions": report["questions"],
        "degraded": report.get("degraded"),
        "stages": report["stages"],
    }


def _short(text: str, width: int = ANSWER_WIDTH) -> str:
    first = text.split(". ")[0].strip()
    return first if len(first) <= width else first[: width - 1].rstrip() + "…"


def overview_lines(home: Home, workflows: list[Workflow]) -> list[str]:
    """Every workflow of the deployment with its five answers, one line each."""
    lines = [f"{len(workflows)} workflows in {home.root}"]
    for wf in workflows:
        found = latest(home, wf)
        lines.append("")
        if found.report is None:
            lines.append(f"{wf.name}: no readiness report yet (daily_production writes it)")
            continue
        if is_pipeline(wf.task):
            lines += pipeline_lines(found)
            continue
        report = found.report
        lines.append(
            f"{wf.name}: {report['overall'].upper()} on {report['day']} (week {report['week']})"
            + (" DEGRADED: the daily run stopped before it" if report.get("degraded") else "")
        )
        for i, q in enumerate(report["questions"], start=1):
            lines.append(f"  {i}. [{q['status'].upper():<7}] {q['question']}")
            lines.append(f"     {_short(q['answer'])}")
    lines += ["", "one workflow in full: afterlaunch status --workflow NAME"]
    return lines


def pipeline_lines(found: Latest) -> list[str]:
    """A staged pipeline's stage view: its headline, then a line per stage metric."""
    rows = found.report["stages"]
    failed = [r for r in rows if r["status"] == "FAILED" and r["arm"] == "champion"]
    headline = (
        "every stage within its bounds"
        if not failed
        else "FAILED: " + "; ".join(f"{r['stage']} {r['metric']} {r['value']}" for r in failed)
    )
    lines = [f"{found.workflow.name} (staged pipeline) on {found.partition}: {headline}"]
    for r in rows:
        lines.append(
            f"  {r['stage']:<11} {r['metric']:<20} {r['arm']:<10} {r['value']:>6}  "
            f"{r['bound']:<9} {r['status']}"
        )
    return lines


def detail_lines(home: Home, found: Latest) -> list[str]:
    report, wf = found.report, found.workflow
    lines = [f"readiness on {report['day']} (week {report['week']}): {report['overall'].upper()}"]
    for i, q in enumerate(report["questions"], start=1):
        lines.append(f"{i}. [{q['status'].upper():<7}] {q['question']}")
        lines.append(f"   {q['answer']}")
        if q.get("version"):  # reports written before versions were named lack it
            lines.append(f"   about: {q['version']}")
        lines.append(f"   from: {', '.join(q['source'])}")
    for stage in report["stages"]:
        lines.append(f"   stage {stage['stage']}: {stage['status']}")
    if report.get("degraded"):
        lines.append(f"   degraded: {'; '.join(report['degraded']['why'])}")
    reports = home.workflow_root(wf.name) / "reports"
    dated = reports / "readiness" / f"{found.partition}.html"
    # A home written before dated pages kept only the newest copy.
    lines.append(f"HTML: {dated if dated.exists() else reports / 'readiness.html'}")
    return lines

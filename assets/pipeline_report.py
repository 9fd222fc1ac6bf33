"""A staged pipeline's readiness report: the stage view, one row per stage metric with its
bound and verdict, so "the pipeline is at 74%" reads "ranking fell below its threshold";
then the end-to-end task success (people's verdicts, judged a label lag later), the review
sample, text drift and where the rollout stands. Markdown in the asset's metadata and in
``<home>/workflows/<name>/reports/readiness/<day>.md`` (the newest also as readiness.md)."""

from collections.abc import Mapping

from dagster import AssetExecutionContext, AssetIn, MetadataValue, Output, asset

from assets.pipeline_daily import SAMPLE, STAGE_METRICS, TASK_SUCCESS, TEXT_DRIFT
from assets.workflow import Workflow
from checks import stage_gate
from resources.storage import HomeStorage

REPORT = "readiness_report"


def stage_rows(metrics: Mapping, task_success: Mapping, order: list[str]) -> list[dict]:
    """The stage view's rows: every judged metric of the champion (and the challenger during a
    rollout), stages in the pipeline's order, the end-to-end row from the verdicts."""
    rows = []
    judged = [
        (arm, stage_gate.Judgement(**j))
        for arm, value in metrics["arms"].items()
        for j in value["judgements"]
    ]
    judged += [("champion", stage_gate.Judgement(**j)) for j in task_success["judgements"]]
    for arm, j in sorted(judged, key=lambda aj: (order.index(aj[1].stage), aj[0] != "champion")):
        rows.append(
            {
                "stage": j.stage,
                "metric": j.metric,
                "arm": arm,
                "value": "-" if j.value is None else f"{j.value:.3f}",
                "n": j.n,
                "bound": f"{'>=' if j.side == 'min' else '<='} {j.bound}",
                "status": "not judged" if j.passed is None else "ok" if j.passed else "FAILED",
            }
        )
    return rows


def render(
    partition: str, rows: list[dict], task_success: Mapping, sample: Mapping, drift: Mapping
) -> str:
    failed = [r for r in rows if r["status"] == "FAILED" and r["arm"] == "champion"]
    headline = (
        "every stage within its bounds"
        if not failed
        else "; ".join(f"{r['stage']} {r['metric']} {r['value']} ({r['bound']})" for r in failed)
    )
    lines = [
        f"# Readiness {partition}",
        "",
        f"**Stages:** {headline}",
        "",
        "| stage | metric | arm | value | n | bound | status |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {r['stage']} | {r['metric']} | {r['arm']} | {r['value']} | {r['n']} | "
            f"{r['bound']} | {r['status']} |"
            for r in rows
        ),
        "",
        f"End to end: judged on the replies served on {task_success['served_on']} "
        "(every verdict is in by now).",
        "",
        f"Review sample: {sample['n']} replies, mean faithfulness "
        + ("-" if sample["mean_faithfulness"] is None else f"{sample['mean_faithfulness']:.3f}")
        + f" (floor {sample['threshold']}), {sample['unsupported']} with an unsupported claim; "
        "`afterlaunch review-samples` to work through them.",
        "",
        f"Text drift: inputs {drift['input']['worst']}, outputs {drift['output']['worst']}.",
    ]
    return "\n".join(lines) + "\n"


def build(wf: Workflow) -> tuple[list, list]:
    order = [s.name for s in wf.task.stages]

    @asset(
        name=REPORT,
        key_prefix=[wf.name],
        partitions_def=wf.partitions.definition,
        ins={
            "metrics": AssetIn(key=wf.key(STAGE_METRICS)),
            "task_success": AssetIn(key=wf.key(TASK_SUCCESS)),
            "sample": AssetIn(key=wf.key(SAMPLE)),
            "drift": AssetIn(key=wf.key(TEXT_DRIFT)),
        },
        group_name="reporting",
        kinds={"markdown"},
        owners=[wf.team("domain_owner")],
        description=f"{wf.name}: the stage view (a row per stage metric with its bound), end "
        "to end, the review sample, text drift.",
    )
    def readiness_report(
        context: AssetExecutionContext,
        metrics: dict,
        task_success: dict,
        sample: dict,
        drift: dict,
        storage: HomeStorage,
    ) -> Output[dict]:
        rows = stage_rows(metrics, task_success, order)
        text = render(context.partition_key, rows, task_success, sample, drift)
        folder = storage.reports / "readiness"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{context.partition_key}.md").write_text(text)
        written = sorted(p.stem for p in folder.glob("*.md"))
        if written[-1] == context.partition_key:  # a backfill does not replace the newest
            (storage.reports / "readiness.md").write_text(text)
        return Output(
            {"partition": context.partition_key, "stages": rows},
            metadata={"report": MetadataValue.md(text)},
        )

    return [readiness_report], []

"""A staged pipeline's day: the context as the source has it, the served outputs (champion, and
the challenger beside it during a rollout), a metric and a check for every stage, the
end-to-end task success once people's verdicts are in, the sampled outputs sent for review,
text drift of inputs and outputs, and the rollout's move.

Each stage check says which stage fell below which bound, so "the pipeline is at 74%" reads
"ranking fell below its threshold". Built only for a workflow whose task is a StagedPipeline.
"""

from datetime import date, timedelta

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets import pipeline_release as release
from assets import pipeline_stages as stages
from assets.metadata import table
from assets.names import PREDICTIONS, RAW
from assets.workflow import Workflow
from checks import rollout as rollout_rules
from checks import stage_gate
from checks.text_drift import text_drift, text_profile
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.sample_reviews import SampleReviews, reviews_path
from resources.source import SqlSource
from resources.storage import HomeStorage

CONTEXT = "context_snapshot"
STAGE_METRICS = "stage_metrics"
TASK_SUCCESS = "task_success"
SAMPLE = "hallucination_sample"
TEXT_REFERENCE = "text_reference"
TEXT_DRIFT = "text_drift"
ROLLOUT_STEP = "rollout_step"
ROLLOUT_RECORD = "pipeline_rollout"  # the rollout's record, one JSON in the snapshot store
CHAMPION_HISTORY = "pipeline_champions"  # every champion move, appended


def current_rollout(store) -> dict | None:
    return store.read(ROLLOUT_RECORD, None) if store.partitions(ROLLOUT_RECORD) else None


def champion_history(store) -> list[dict]:
    if not store.partitions(CHAMPION_HISTORY):
        return []
    return list(store.read(CHAMPION_HISTORY, None)["moves"])


def record_champion(store, move: dict) -> None:
    """Append a champion move (the store keeps every earlier version by its hash)."""
    store.write(CHAMPION_HISTORY, None, {"moves": [*champion_history(store), move]})


def build(wf: Workflow) -> tuple[list, list]:
    task = wf.task
    comp = task.component
    parts = wf.partitions
    pdef = parts.definition
    ids = wf.entity.id
    model_owner, domain_owner = wf.team("model_owner"), wf.team("domain_owner")

    def day_of(context) -> date:
        return date.fromisoformat(context.partition_key)

    @asset(
        name=CONTEXT,
        key_prefix=[wf.name],
        partitions_def=pdef,
        group_name="ingestion",
        kinds={"sql", "parquet"},
        owners=[wf.team("data_engineer")],
        description=f"{wf.name}: the context the pipeline answers from (its knowledge base) as "
        "the source had it at the end of the day: what staleness is judged against.",
    )
    def context_snapshot(context: AssetExecutionContext, source: SqlSource) -> Output:
        frame = comp.context(source.url, day_of(context))
        return Output(frame, metadata={"dagster/row_count": len(frame)})

    @asset(
        name=PREDICTIONS,
        key_prefix=[wf.name],
        partitions_def=pdef,
        ins={"raw": AssetIn(key=wf.key(RAW))},
        deps=[wf.key(CONTEXT)],
        group_name="serving",
        kinds={"pandas", "mlflow"},
        owners=[model_owner],
        description=f"{wf.name}: every row through the champion (and, during a rollout, the "
        "challenger on the same rows); `live` marks the output a person saw.",
    )
    def predictions(
        context: AssetExecutionContext,
        raw: pd.DataFrame,
        source: SqlSource,
        registry: ModelRegistry,
        storage: HomeStorage,
    ) -> Output:
        champion = registry.version_for_alias(release.CHAMPION_ALIAS)
        if champion is None:
            raise Failure("no champion: register and promote a first pipeline version")
        record = current_rollout(storage.snapshots)
        active = rollout_rules.is_active(record)
        challenger = release.load(task, registry, record["version"]) if active else None
        served, failure = stages.serve_arms(
            task,
            raw,
            day_of(context),
            source.url,
            ids,
            release.load(task, registry, champion),
            challenger,
            record if active else None,
        )
        per_arm = [
            {
                "arm": arm,
                "version": str(frame[stages.VERSION].iloc[0]),
                "rows": len(frame),
                "live": int(frame[stages.LIVE].sum()),
                "offered": int(frame[comp.offered_column].fillna(False).astype(bool).sum()),
                "errors": int(frame[comp.error_column].notna().sum()),
            }
            for arm in stages.arms(served)
            for frame in [stages.arm_rows(served, arm)]
        ]
        context.log.info("%s served: %s", context.partition_key, per_arm)
        return Output(
            served,
            metadata={
                "dagster/row_count": len(raw),
                "champion_version": champion,
                "rollout": f"{record['state']} {record['fraction']:.0%}" if active else "none",
                "arms": table(per_arm),
                "challenger_failure": failure or "none",
            },
        )

    @asset(
        name=STAGE_METRICS,
        key_prefix=[wf.name],
        partitions_def=pdef,
        ins={
            "raw": AssetIn(key=wf.key(RAW)),
            "served": AssetIn(key=wf.key(PREDICTIONS)),
            "context_now": AssetIn(key=wf.key(CONTEXT)),
        },
        group_name="evaluation",
        kinds={"pandas"},
        owners=[model_owner],
        description=f"{wf.name}: a metric for every stage, per arm, held to the policy's "
        "thresholds; during a rollout, the stage gate on the day's shared traffic.",
    )
    def stage_metrics(
        context: AssetExecutionContext,
        raw: pd.DataFrame,
        served: pd.DataFrame,
        context_now: pd.DataFrame,
        policy: PolicyResource,
    ) -> Output[dict]:
        rules = policy.load().pipeline
        value: dict = {"partition": context.partition_key, "arms": {}, "paired": None}
        arrays = {}
        for arm in stages.arms(served):
            frame = stages.arm_rows(served, arm)
            arrays[arm], summary, judged = stages.judged_arm(
                task, frame, raw, context_now, rules.thresholds, rules.min_rows
            )
            value["arms"][arm] = {
                "version": str(frame[stages.VERSION].iloc[0]),
                "summary": summary,
                "judgements": [j.__dict__ for j in judged],
                "failing": [stage_gate.describe(j) for j in stage_gate.failing(judged)],
                "error_rate": stages.error_rate(task, frame),
            }
        if stages.CHALLENGER in arrays:
            verdicts = stage_gate.stage_gate(
                arrays[stages.CHAMPION],
                arrays[stages.CHALLENGER],
                stages.gate_specs(task),
                comp.slices(raw),
                stage_gate.StageGateRules.from_policy(rules.gate),
            )
            value["paired"] = {
                "verdict": stage_gate.gate_verdict(verdicts),
                "stages": {s: v.passed for s, v in verdicts.items()},
            }
        rows = [
            r
            for arm, v in value["arms"].items()
            for r in stages.judgement_rows(
                arm, [stage_gate.Judgement(**j) for j in v["judgements"]]
            )
        ]
        context.log.info(
            "%s stages: %s",
            context.partition_key,
            "; ".join(value["arms"][stages.CHAMPION]["failing"]) or "every stage within bounds",
        )
        return Output(value, metadata={"stages": table(rows)})

    def stage_check(spec):
        doc = (
            f"ERROR when a {spec.name} metric of the champion ({', '.join(spec.metrics)}) is "
            "outside the policy's bound for the day."
        )

        @asset_check(
            asset=wf.key(STAGE_METRICS),
            name=f"stage_{spec.name}",
            partitions_def=pdef,
            description=doc,
        )
        def check(stage_metrics: dict) -> AssetCheckResult:
            champ = stage_metrics["arms"][stages.CHAMPION]
            mine = [stage_gate.Judgement(**j) for j in champ["judgements"]]
            mine = [j for j in mine if j.stage == spec.name]
            bad = stage_gate.failing(mine)
            return AssetCheckResult(
                passed=not bad,
                severity=AssetCheckSeverity.ERROR,
                description="; ".join(stage_gate.describe(j) for j in bad)
                if bad
                else f"{spec.name}: every metric within its bound"
                if any(j.passed is not None for j in mine)
                else f"{spec.name}: too few rows to judge",
                metadata={
                    j.metric: MetadataValue.float(float(j.value))
                    for j in mine
                    if j.value is not None
                },
            )

        return check

    checks = [stage_check(s) for s in stages.gate_specs(task)]

    @asset_check(
        asset=wf.key(STAGE_METRICS),
        name="prompt_alias",
        partitions_def=pdef,
        description="ERROR when the prompt registry's champion alias is not the prompt the "
        "champion version serves (a promotion or rollback half done).",
    )
    def prompt_alias(registry: ModelRegistry) -> AssetCheckResult:
        state = release.prompt_alias_state(task, registry)
        return AssetCheckResult(
            passed=bool(state["consistent"]),
            severity=AssetCheckSeverity.ERROR,
            description=f"prompt @{release.PROMPT_ALIAS} is {state['alias']}, champion "
            f"v{state['champion']} serves prompt version {state['expected']}",
            metadata={k: str(v) for k, v in state.items()},
        )

    checks.append(prompt_alias)

    lag = wf.label.max_lag_days
    end_spec = task.stage(task.end_to_end)

    @asset(
        name=TASK_SUCCESS,
        key_prefix=[wf.name],
        partitions_def=pdef,
        group_name="evaluation",
        deps=[wf.key(PREDICTIONS)],
        kinds={"pandas"},
        owners=[domain_owner],
        description=f"{wf.name}: end-to-end task success from people's verdicts on what they "
        f"were shown {lag} days earlier (every verdict is in by then), per arm.",
    )
    def task_success(
        context: AssetExecutionContext,
        source: SqlSource,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> Output[dict]:
        today = day_of(context)
        served_day = parts.shift(context.partition_key, -lag)
        store = storage.snapshots
        value = {"partition": context.partition_key, "served_on": served_day, "arms": {}}
        if served_day in store.partitions(PREDICTIONS):
            served = store.read(PREDICTIONS, served_day)
            labels = comp.labels(source.url, today)
            for arm in stages.arms(served):
                frame = stages.arm_rows(served, arm)
                live = frame[frame[stages.LIVE]].reset_index(drop=True)
                success = np.asarray(comp.task_success(live, labels), dtype=float)
                judged = success[~np.isnan(success)]
                value["arms"][arm] = {
                    "version": str(frame[stages.VERSION].iloc[0]),
                    "value": float(judged.mean()) if judged.size else None,
                    "n": int(judged.size),
                    "shown": len(live),
                }
        rules = policy.load().pipeline
        bounds = rules.thresholds.get(task.end_to_end, {})
        summary = {
            task.end_to_end: {
                m: {
                    k: v
                    for k, v in value["arms"].get(stages.CHAMPION, {}).items()
                    if k in ("value", "n")
                }
                or {"value": None, "n": 0}
                for m in end_spec.metrics
            }
        }
        judged = stage_gate.judge(summary, {task.end_to_end: bounds}, min_rows=rules.min_rows)
        value["judgements"] = [j.__dict__ for j in judged]
        return Output(
            value,
            metadata={
                "served_on": served_day,
                "arms": table([{"arm": a, **v} for a, v in value["arms"].items()])
                if value["arms"]
                else "none",
            },
        )

    @asset_check(
        asset=wf.key(TASK_SUCCESS),
        name=f"stage_{task.end_to_end}",
        partitions_def=pdef,
        description="ERROR when the champion's end-to-end task success (people's verdicts) "
        "is below the policy's floor.",
    )
    def end_to_end_check(task_success: dict) -> AssetCheckResult:
        judged = [stage_gate.Judgement(**j) for j in task_success["judgements"]]
        bad = stage_gate.failing(judged)
        return AssetCheckResult(
            passed=not bad,
            severity=AssetCheckSeverity.ERROR,
            description="; ".join(stage_gate.describe(j) for j in bad)
            if bad
            else f"served on {task_success['served_on']}: "
            + ", ".join(
                f"{j.metric} {j.value:.3f} (n={j.n})" for j in judged if j.value is not None
            )
            if any(j.value is not None for j in judged)
            else f"served on {task_success['served_on']}: no verdicts to judge yet",
        )

    checks.append(end_to_end_check)

    @asset(
        name=SAMPLE,
        key_prefix=[wf.name],
        partitions_def=pdef,
        ins={"raw": AssetIn(key=wf.key(RAW)), "served": AssetIn(key=wf.key(PREDICTIONS))},
        group_name="evaluation",
        kinds={"pandas"},
        owners=[domain_owner],
        description=f"{wf.name}: a seeded daily sample of the live arm's replies (shown or "
        "blocked by the validator), scored for faithfulness and sent to the review list "
        "(`afterlaunch review-samples`).",
    )
    def hallucination_sample(
        context: AssetExecutionContext,
        raw: pd.DataFrame,
        served: pd.DataFrame,
        policy: PolicyResource,
        storage: HomeStorage,
        clock: ClockResource,
    ) -> Output[dict]:
        rules = policy.load().pipeline.hallucination
        # Every reply the live arm wrote, shown or blocked: the person's review judges the
        # generation and the validator's call on it (the shown ones alone would be faithful
        # by construction wherever the validator works).
        shown = served[served[stages.LIVE] & served[comp.output_text].notna()]
        by_id = raw.set_index(ids, drop=False)
        items = []
        for arm in stages.arms(shown):
            frame = stages.arm_rows(shown, arm)
            rows = by_id.loc[frame[ids].astype(str)].reset_index(drop=True)
            part = comp.review_items(frame, rows)
            part["version"] = frame[stages.VERSION].to_numpy()
            items.append(part)
        pool = pd.concat(items, ignore_index=True) if items else pd.DataFrame()
        seed = rules.seed + int(context.partition_key.replace("-", ""))
        sample = pool.sample(n=min(rules.sample_size, len(pool)), random_state=seed % 2**32)
        sample = sample.sort_values("item_id").reset_index(drop=True)
        added = 0
        if len(sample):
            with SampleReviews(reviews_path(storage.home, wf.name)) as reviews:
                added = reviews.add_samples(context.partition_key, sample, clock.now())
        faith = sample["faithfulness"].astype(float) if len(sample) else pd.Series(dtype=float)
        value = {
            "partition": context.partition_key,
            "n": len(sample),
            "mean_faithfulness": float(faith.mean()) if faith.notna().any() else None,
            "unsupported": int((faith < 1).sum()),
            "threshold": rules.faithfulness_min,
            "added_to_review": added,
        }
        return Output(value, metadata={k: str(v) for k, v in value.items()})

    @asset_check(
        asset=wf.key(SAMPLE),
        name="sampled_faithfulness",
        partitions_def=pdef,
        description="WARN when the day's sampled outputs are on average less faithful to "
        "their context than the policy allows; the sample waits in the review list.",
    )
    def sampled_faithfulness(hallucination_sample: dict) -> AssetCheckResult:
        mean, floor = hallucination_sample["mean_faithfulness"], hallucination_sample["threshold"]
        low = mean is not None and mean < floor
        return AssetCheckResult(
            passed=not low,
            severity=AssetCheckSeverity.WARN,
            description=(
                f"sampled faithfulness {mean:.3f} below {floor} "
                f"({hallucination_sample['unsupported']} of {hallucination_sample['n']} with an "
                "unsupported claim): review them with `afterlaunch review-samples`"
                if low
                else "no sample to score"
                if mean is None
                else f"sampled faithfulness {mean:.3f} (floor {floor})"
            ),
        )

    checks.append(sampled_faithfulness)

    @asset(
        name=TEXT_DRIFT,
        key_prefix=[wf.name],
        partitions_def=pdef,
        ins={"raw": AssetIn(key=wf.key(RAW)), "served": AssetIn(key=wf.key(PREDICTIONS))},
        deps=[wf.key(TEXT_REFERENCE)],
        group_name="drift",
        kinds={"pandas"},
        owners=[model_owner],
        description=f"{wf.name}: input text (length, out-of-vocabulary share, topic and script "
        "mix) and output text (length, refusals) against the launch reference.",
    )
    def text_drift_asset(
        context: AssetExecutionContext,
        raw: pd.DataFrame,
        served: pd.DataFrame,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> Output[dict]:
        rules = policy.load().pipeline.text_drift
        ref = storage.snapshots.read(TEXT_REFERENCE, None)
        vocab = frozenset(ref["vocabulary"])
        inputs = text_profile(
            raw[comp.input_text].tolist(),
            raw[comp.input_categories].tolist() if comp.input_categories else None,
            vocab,
        )
        live = served[served[stages.LIVE]]
        outputs = text_profile(_texts(live[comp.output_text]), refusals=True)
        kw = dict(
            alpha=rules.alpha,
            warn=rules.warn,
            error=rules.error,
            share_warn=rules.share_warn,
            share_error=rules.share_error,
            min_texts=rules.min_texts,
        )
        value = {
            "partition": context.partition_key,
            "input": text_drift(ref["input"], inputs, **kw),
            "output": text_drift(ref["output"], outputs, **kw),
        }
        return Output(
            value,
            metadata={
                "input": value["input"]["worst"],
                "output": value["output"]["worst"],
            },
        )

    def drift_check(side: str):
        @asset_check(
            asset=wf.key(TEXT_DRIFT),
            name=f"{side}_text_drift",
            partitions_def=pdef,
            description=f"WARN (ERROR above the error floor) when the {side} text drifted "
            "from the launch reference.",
        )
        def check(text_drift: dict) -> AssetCheckResult:
            result = text_drift[side]
            worst = result["worst"]
            drifted = {
                n: f["reason"]
                for n, f in result["features"].items()
                if f.get("decision") in ("warn", "error")
            }
            return AssetCheckResult(
                passed=worst not in ("warn", "error"),
                severity=AssetCheckSeverity.ERROR if worst == "error" else AssetCheckSeverity.WARN,
                description="; ".join(f"{n}: {r}" for n, r in drifted.items())
                or f"{side} text: {worst}",
            )

        return check

    checks += [drift_check("input"), drift_check("output")]

    @asset(
        name=ROLLOUT_STEP,
        key_prefix=[wf.name],
        partitions_def=pdef,
        ins={"metrics": AssetIn(key=wf.key(STAGE_METRICS))},
        group_name="deployment",
        kinds={"mlflow"},
        owners=[model_owner],
        description=f"{wf.name}: the rollout's move for the day: wait, advance the canary, "
        "promote (model and prompt aliases), or roll back when a challenger stage fails.",
    )
    def rollout_step(
        context: AssetExecutionContext,
        metrics: dict,
        registry: ModelRegistry,
        storage: HomeStorage,
        policy: PolicyResource,
        clock: ClockResource,
    ) -> Output[dict]:
        store = storage.snapshots
        record = current_rollout(store)
        if not rollout_rules.is_active(record):
            return Output(
                {"partition": context.partition_key, "move": "none"},
                metadata={"move": "none", "reason": "no rollout in progress"},
            )
        today = day_of(context) + timedelta(days=1)  # the morning after the day served
        move = stages.rollout_move(record, metrics, policy.load().rollout, today)
        actor = "afterlaunch"
        promoted = None
        if move.action == "advance":
            record = rollout_rules.advance(record, today, actor, move.reason)
        elif move.action == "complete":
            promoted = release.move_champion(
                task,
                registry,
                record["version"],
                actor=actor,
                reason=move.reason,
                at=clock.now(),
            )
            record_champion(store, promoted)
            record = rollout_rules.end(record, "promoted", today, actor, move.reason)
        elif move.action in ("rollback", "abandon"):
            outcome = "rolled_back" if move.action == "rollback" else "abandoned"
            record = rollout_rules.end(record, outcome, today, actor, move.reason)
            if registry.version_for_alias(release.CHALLENGER_ALIAS) == record["version"]:
                registry.delete_alias(release.CHALLENGER_ALIAS)
        if move.action != "wait":
            store.write(ROLLOUT_RECORD, None, record, context.run.run_id)
        context.log.info("rollout %s: %s (%s)", record["id"], move.action, move.reason)
        return Output(
            {
                "partition": context.partition_key,
                "move": move.action,
                "reason": move.reason,
                "record": record,
                "promoted": promoted,
            },
            metadata={"move": move.action, "reason": move.reason, "state": record["state"]},
        )

    assets = [
        context_snapshot,
        predictions,
        stage_metrics,
        task_success,
        hallucination_sample,
        text_drift_asset,
        rollout_step,
    ]
    return assets, checks


def _texts(values: pd.Series) -> list[str | None]:
    return [v if isinstance(v, str) else None for v in values]

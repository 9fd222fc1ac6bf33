"""A staged pipeline's versions as assets: a challenger registered (a prompt change, or the
champion re-deployed on today's context), the stage gate that replays recent days through both
versions, the launch's text reference, and a person's rollback.

The gate judges each stage against the champion on the same rows (paired bootstrap,
``checks.stage_gate``) with a slice guard on each stage's primary metric; a challenger that
passes starts its rollout in shadow (the daily ``rollout_step`` moves it on). With no champion
yet, the first version is promoted when every stage is within the policy's bounds.
"""

from datetime import date, timedelta

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    Failure,
    Output,
    asset,
    asset_check,
)

from assets import pipeline_release as release
from assets import pipeline_stages as stages
from assets.ingestion import ensure_contract
from assets.metadata import table
from assets.names import RAW
from assets.pipeline_daily import (
    ROLLOUT_RECORD,
    TASK_SUCCESS,
    TEXT_REFERENCE,
    champion_history,
    current_rollout,
    record_champion,
)
from assets.workflow import Workflow
from checks import rollout as rollout_rules
from checks import stage_gate
from checks.text_drift import build_text_reference, text_profile
from resources.approvals import acting_person
from resources.clock import ClockResource
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.source import SqlSource
from resources.storage import HomeStorage

CHALLENGER = "pipeline_challenger"
GATE = "pipeline_gate"
ROLLBACK = "pipeline_rollback"


class ChallengerConfig(Config):
    change_summary: str
    # The new prompt template; empty: the champion's (a re-deployment on today's context).
    prompt_template: str = ""
    actor: str = ""


class RollbackConfig(Config):
    reason: str
    to_version: str = ""  # empty: the champion before the current one
    actor: str = ""


class ReferenceConfig(Config):
    end_date: str  # the last day of the reference window (the launch day)


def build(wf: Workflow) -> tuple[list, list]:
    task = wf.task
    comp = task.component
    model_owner = wf.team("model_owner")

    @asset(
        name=CHALLENGER,
        key_prefix=[wf.name],
        group_name="deployment",
        kinds={"mlflow"},
        owners=[model_owner],
        description=f"{wf.name}: a new pipeline version: the champion's configuration with a "
        "new prompt, or re-deployed on today's context; the first one at launch.",
    )
    def pipeline_challenger(
        context: AssetExecutionContext,
        config: ChallengerConfig,
        source: SqlSource,
        registry: ModelRegistry,
        clock: ClockResource,
    ) -> Output[dict]:
        actor = acting_person(config.actor or None)
        today = clock.now().date()
        as_of = today - timedelta(days=1)  # the newest whole day of context
        champion = registry.version_for_alias(release.CHAMPION_ALIAS)
        base = release.load(task, registry, champion).config if champion else comp.launch_config()
        template = config.prompt_template or comp.prompt_template(base)
        try:
            candidate = comp.with_prompt(base, template, "new")
        except ValueError as err:
            raise Failure(f"the proposed prompt cannot serve: {err}") from err
        version = release.register(
            task,
            registry,
            candidate,
            comp.context(source.url, as_of),
            as_of=as_of,
            summary=config.change_summary,
            actor=actor,
            parent=champion,
            run_name=f"{wf.name}-pipeline-{today.isoformat()}",
        )
        registry.move_alias(
            release.CHALLENGER_ALIAS,
            version.version,
            actor=actor,
            reason=config.change_summary,
            at=clock.now(),
        )
        value = {
            "version": version.version,
            "parent": champion,
            "context_as_of": as_of.isoformat(),
            "change_summary": config.change_summary,
            "registered_by": actor,
            **registry.version_tags(version.version),
        }
        return Output(
            value,
            metadata={
                "version": version.version,
                "prompt_uri": value.get(release.TAG + "prompt_uri", ""),
                "change_summary": config.change_summary,
                "registered_by": actor,
            },
        )

    @asset(
        name=GATE,
        key_prefix=[wf.name],
        deps=[wf.key(CHALLENGER)],
        group_name="deployment",
        kinds={"mlflow"},
        owners=[model_owner],
        description=f"{wf.name}: the stage gate: the challenger and the champion replayed on "
        "the same recent rows, every stage judged, a slice guard on each stage's primary "
        "metric; a pass starts the rollout in shadow.",
    )
    def pipeline_gate(
        context: AssetExecutionContext,
        source: SqlSource,
        registry: ModelRegistry,
        storage: HomeStorage,
        policy: PolicyResource,
        clock: ClockResource,
    ) -> Output[dict]:
        rules = policy.load()
        prules = rules.pipeline
        store = storage.snapshots
        version = registry.version_for_alias(release.CHALLENGER_ALIAS)
        if version is None:
            raise Failure("no challenger to judge: register one first")
        champion = registry.version_for_alias(release.CHAMPION_ALIAS)
        today = clock.now().date()
        earlier = [d for d in store.partitions(RAW) if date.fromisoformat(d) < today]
        days, skipped = sound_days(wf, store, earlier, prules.gate.eval_days)
        if not days:
            raise Failure("no raw partitions that pass their checks to replay: ingest some first")
        chall = release.load(task, registry, version)
        champ = release.load(task, registry, champion) if champion else None
        a_parts, b_parts, slice_parts = [], [], []
        # Both versions are judged against the context as it is now: the question is which
        # one answers correctly today (a version re-deployed on a changed knowledge base must
        # not be judged stale on days before the change).
        now = comp.context(source.url, today - timedelta(days=1))
        for d in days:
            rows = store.read(RAW, d)
            day = date.fromisoformat(d)
            b_parts.append(
                comp.stage_arrays(comp.serve(chall.deployed, rows, day, source.url), rows, now)
            )
            if champ is not None:
                a_parts.append(
                    comp.stage_arrays(comp.serve(champ.deployed, rows, day, source.url), rows, now)
                )
            slice_parts.append(comp.slices(rows))
        b = stages.concat_arrays(b_parts)
        summary = stage_gate.summarize(b)
        # Held to the policy's bounds only without a champion (launch): against a champion
        # the comparison on the same rows is the judgement, since the replayed days may hold
        # an incident that lowers both versions alike.
        failing: list[str] = []
        criteria: list[dict] = []
        if champ is None:
            known = {s: m for s, m in prules.thresholds.items() if s in summary}
            judged = stage_gate.judge(summary, known, min_rows=prules.min_rows)
            failing = [stage_gate.describe(j) for j in stage_gate.failing(judged)]
            verdict = "reject" if failing else "promote"
        else:
            verdicts = stage_gate.stage_gate(
                stages.concat_arrays(a_parts),
                b,
                stages.gate_specs(task),
                stages.concat_slices(slice_parts),
                stage_gate.StageGateRules.from_policy(prules.gate),
            )
            verdict = stage_gate.gate_verdict(verdicts)
            criteria = [{"stage": s, **c.__dict__} for s, v in verdicts.items() for c in v.criteria]
            if failing:
                verdict = "reject"
        actor = "afterlaunch"
        action = "rejected"
        if verdict == "promote" and champ is None:
            move = release.move_champion(
                task,
                registry,
                version,
                actor=actor,
                reason="launch: the first version",
                at=clock.now(),
            )
            record_champion(store, move)
            action = "promoted (first version)"
        elif verdict == "promote":
            record = current_rollout(store)
            if rollout_rules.is_active(record):
                raise Failure(
                    f"rollout {record['id']} is in progress: let it finish or roll it back first"
                )
            started = rollout_rules.start(
                version=version,
                champion_version=champion,
                baseline_task_success=latest_task_success(store),
                rules=rules.rollout,
                today=today,
                actor=actor,
                reason="stage gate passed",
                policy_version=rules.version,
            )
            store.write(ROLLOUT_RECORD, None, started, context.run.run_id)
            action = "rollout started in shadow"
        else:
            registry.delete_alias(release.CHALLENGER_ALIAS)
        registry.set_version_tags(version, {release.TAG + "gate": verdict})
        value = {
            "challenger_version": version,
            "champion_version": champion,
            "days": days,
            "rows": int(len(next(iter(next(iter(b.values())).values())))) if b else 0,
            "verdict": verdict,
            "action": action,
            "skipped_days": skipped,
            "failing_thresholds": failing,
            "criteria": criteria,
            "challenger_summary": summary,
        }
        context.log.info("gate v%s vs v%s: %s (%s)", version, champion, verdict, action)
        return Output(
            value,
            metadata={
                "verdict": verdict,
                "action": action,
                "criteria": table(criteria) if criteria else "first version: thresholds only",
                "failing_thresholds": "; ".join(failing) or "none",
                "skipped_days": "; ".join(skipped) or "none",
            },
        )

    @asset_check(
        asset=wf.key(GATE),
        name="gate_passed",
        description="WARN when the challenger was rejected (which stage, which slice): it "
        "never served anyone; the champion serves on.",
    )
    def gate_passed(pipeline_gate: dict) -> AssetCheckResult:
        failed = [c for c in pipeline_gate["criteria"] if c["passed"] is False]
        reasons = [f"{c['stage']}: {c['reason']}" for c in failed]
        reasons += pipeline_gate["failing_thresholds"]
        return AssetCheckResult(
            passed=pipeline_gate["verdict"] == "promote",
            severity=AssetCheckSeverity.WARN,
            description=f"v{pipeline_gate['challenger_version']} {pipeline_gate['verdict']}: "
            + ("; ".join(reasons) or pipeline_gate["action"]),
        )

    @asset(
        name=TEXT_REFERENCE,
        key_prefix=[wf.name],
        deps=[wf.key(GATE)],
        group_name="drift",
        kinds={"pandas"},
        owners=[model_owner],
        description=f"{wf.name}: the launch window's input vocabulary and text profiles, and "
        "the champion's outputs on those days: what text drift is judged against.",
    )
    def text_reference(
        context: AssetExecutionContext,
        config: ReferenceConfig,
        source: SqlSource,
        registry: ModelRegistry,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> Output[dict]:
        rules = policy.load().pipeline.text_drift
        store = storage.snapshots
        end = date.fromisoformat(config.end_date)
        earlier = [d for d in store.partitions(RAW) if date.fromisoformat(d) <= end]
        days, skipped = sound_days(wf, store, earlier, rules.reference_days)
        if skipped:
            context.log.warning("reference without %s", "; ".join(skipped))
        if not days:
            raise Failure(f"no raw partitions up to {end}: nothing to build a reference on")
        champion = registry.version_for_alias(release.CHAMPION_ALIAS)
        if champion is None:
            raise Failure("no champion: the output reference is the champion's outputs")
        served = release.load(task, registry, champion)
        frames = [store.read(RAW, d) for d in days]
        rows = pd.concat(frames, ignore_index=True)
        outputs = pd.concat(
            [
                comp.serve(served.deployed, f, date.fromisoformat(d), source.url)
                for d, f in zip(days, frames, strict=True)
            ],
            ignore_index=True,
        )
        vocab, inputs = build_text_reference(
            rows[comp.input_text].tolist(),
            rows[comp.input_categories].tolist() if comp.input_categories else None,
        )
        texts = [v if isinstance(v, str) else None for v in outputs[comp.output_text]]
        value = {
            "days": days,
            "champion_version": champion,
            "vocabulary": sorted(vocab),
            "input": inputs,
            "output": text_profile(texts, refusals=True),
        }
        return Output(
            value,
            metadata={"days": f"{days[0]} .. {days[-1]}", "vocabulary": len(vocab)},
        )

    @asset(
        name=ROLLBACK,
        key_prefix=[wf.name],
        group_name="deployment",
        kinds={"mlflow"},
        owners=[model_owner],
        description=f"{wf.name}: a person's rollback: the champion alias and the prompt alias "
        "back to the previous champion's (or a named version), an active rollout ended.",
    )
    def pipeline_rollback(
        context: AssetExecutionContext,
        config: RollbackConfig,
        registry: ModelRegistry,
        storage: HomeStorage,
        clock: ClockResource,
    ) -> Output[dict]:
        actor = acting_person(config.actor or None)
        store = storage.snapshots
        current = registry.version_for_alias(release.CHAMPION_ALIAS)
        target = config.to_version or previous_champion(champion_history(store), current)
        if target is None:
            raise Failure(f"champion v{current} has no earlier champion to roll back to")
        if str(target) == str(current):
            raise Failure(f"v{target} is already the champion")
        release.load(task, registry, target)  # refuse what cannot serve, before any move
        move = release.move_champion(
            task, registry, target, actor=actor, reason=config.reason, at=clock.now()
        )
        record_champion(store, move)
        record = current_rollout(store)
        if rollout_rules.is_active(record):
            ended = rollout_rules.end(
                record, "rolled_back", clock.now().date(), actor, config.reason
            )
            store.write(ROLLOUT_RECORD, None, ended, context.run.run_id)
        context.log.info("rolled back v%s -> v%s: %s", current, target, config.reason)
        return Output(
            move,
            metadata={
                "from_version": str(current),
                "to_version": str(target),
                "prompt": f"{move['prompt']['from']} -> {move['prompt']['to']}",
                "actor": actor,
                "reason": config.reason,
            },
        )

    return [pipeline_challenger, pipeline_gate, text_reference, pipeline_rollback], [gate_passed]


def sound_days(wf: Workflow, store, days: list[str], n: int) -> tuple[list[str], list[str]]:
    """The newest ``n`` of ``days`` whose raw snapshot passes its contract and last ERROR
    checks (a failing contract blocks what is built on the day: a replay too), and why each
    newer day was left out."""
    chosen, skipped = [], []
    for day in reversed(days):
        if len(chosen) == n:
            break
        try:
            ensure_contract(wf, store.read(RAW, day), day)
        except Failure as refused:  # recorded: the replay says which days it left out and why
            skipped.append(f"{day}: {refused.description}")
            continue
        chosen.append(day)
    return sorted(chosen), skipped


def latest_task_success(store) -> float:
    """The champion's newest end-to-end task success (0.0 before any verdict came in): the
    rollout record writes it down; the pipeline's rollout triggers are its stage checks."""
    for partition in reversed(store.partitions(TASK_SUCCESS)):
        value = store.read(TASK_SUCCESS, partition)["arms"].get(stages.CHAMPION, {}).get("value")
        if value is not None:
            return float(value)
    return 0.0


def previous_champion(moves: list[dict], current: str | None) -> str | None:
    """The champion before ``current``: the version the move to ``current`` came from."""
    for move in reversed(moves):
        if move["to_version"] == str(current):
            return move["from_version"]
    return None

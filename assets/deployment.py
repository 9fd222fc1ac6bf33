"""champion and baseline_metrics: every promotion and rollback, and what the champion scored
when it took over.

Each materialization of `champion` is one change of the serving model: the Dagster event log
is the audit trail (mirrored in MLflow tags). `baseline_metrics` records the new champion's
metrics with their intervals, so every later comparison reads them back instead of guessing.
"""

import getpass

from dagster import AssetExecutionContext, AssetIn, Config, Failure, MetadataValue, Output, asset

from assets.evaluation import estimates_record, find_evaluation, raw_rows, test_set_identity
from assets.metadata import table
from assets.models import load_served, servable
from assets.names import BASELINE, CHAMPION, EVAL_SET, EVALUATION
from assets.promotion import promote, rollback
from assets.workflow import Workflow
from resources.clock import ClockResource
from resources.code_version import current_code_version
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage


class ChampionAction(Config):
    """`auto`: promote the latest evaluated challenger if the gate said yes (and, in high-risk
    mode, a person approved). `promote`: promote `version` (its gate decision must be yes).
    `rollback`: back to the previous champion, or to `to_version`."""

    action: str = "auto"
    version: str | None = None
    to_version: str | None = None
    reason: str | None = None
    actor: str | None = None
    approved_by: str | None = None


def _rescore(
    wf: Workflow,
    storage: HomeStorage,
    registry: ModelRegistry,
    policy: PolicyResource,
    version: str,
) -> dict:
    rules = policy.load()
    if registry.version_for_alias("champion") != version:
        raise Failure(f"version {version} is no longer champion: nothing to re-baseline")
    test_set = storage.snapshots.read(EVAL_SET, None)
    outputs = load_served(wf, registry, version).outputs(wf, raw_rows(wf, test_set))
    estimates = wf.task.estimates(
        test_set[wf.label.column].to_numpy(),
        outputs,
        rules.gate.metrics,
        **rules.bootstrap_settings(),
    )
    return {"metrics": estimates_record(estimates), "test_set": test_set_identity(test_set)}


def _change_output(change) -> Output:
    record = change.as_dict()
    return Output(
        record,
        metadata={
            "action": change.action,
            "version": change.version,
            "previous_version": change.previous_version or "none",
            "reason": change.reason,
            "actor": change.actor,
            "approved_by": change.approved_by or "not required",
            "gate": MetadataValue.json(change.gate or {}),
            "summary": f"{change.action}: {change.previous_version or 'none'} -> "
            f"{change.version} by {change.actor}: {change.reason}",
        },
    )


class BaselineConfig(Config):
    """`rescore`: score the champion on the current test set (after a test-set version bump)
    instead of copying the metrics from its evaluation as a challenger."""

    rescore: bool = False


def build(wf: Workflow) -> tuple[list, list]:
    owner = wf.team("model_owner")
    check_servable = servable(wf)

    @asset(
        name=CHAMPION,
        key_prefix=[wf.name],
        group_name="deployment",
        deps=[wf.key(EVALUATION)],
        kinds={"mlflow"},
        owners=[owner],
        output_required=False,
    )
    def champion(
        context: AssetExecutionContext,
        config: ChampionAction,
        registry: ModelRegistry,
        storage: HomeStorage,
        policy: PolicyResource,
        clock: ClockResource,
    ):
        """The serving model: one materialization per promotion or rollback."""
        actor = config.actor or getpass.getuser()
        if config.action == "rollback":
            change = rollback(
                registry,
                actor=actor,
                lock_path=storage.lock_path,
                to=config.to_version,
                reason=config.reason or "manual rollback",
                at=clock.now(),
                servable=check_servable,
            )
            yield _change_output(change)
            return
        if config.action not in ("auto", "promote"):
            raise Failure(f"unknown champion action {config.action!r}: auto, promote or rollback")
        store = storage.snapshots
        if config.action == "auto":
            if not store.partitions(EVALUATION):
                raise Failure("no challenger has been evaluated yet")
            evaluation = store.read(EVALUATION, None)
            version = evaluation["challenger_version"]
        else:
            if not config.version:
                raise Failure("action 'promote' needs `version`")
            version = config.version
            evaluation = find_evaluation(store, version)
            if evaluation is None:
                raise Failure(
                    f"version {version} has never been evaluated: no gate decision to act on"
                )
        verdict = evaluation["verdict"]
        approved_by = config.approved_by or registry.version_tags(version).get("approval.by")
        if verdict == "awaiting_approval" and approved_by:
            verdict = "promote"
        if verdict != "promote":
            message = f"version {version} not promoted: gate verdict {evaluation['verdict']}" + (
                "" if approved_by else " (no approval recorded)"
            )
            if config.action == "promote":
                raise Failure(
                    message, metadata={"reasons": MetadataValue.json(evaluation["reasons"])}
                )
            context.log.info(message)
            return
        current = registry.version_for_alias("champion")
        if current == version:
            context.log.info("version %s is already champion", version)
            return
        if config.action == "auto" and current is not None and policy.load().rollout.enabled:
            # Proven on the test set; it must now prove itself on traffic. The rollout sensor
            # starts its shadow, and promotes it when the canary's schedule completes.
            context.log.info(
                "version %s passed the gate: admitted to a rollout, not promoted", version
            )
            return
        gate = {
            "verdict": evaluation["verdict"],
            "reasons": evaluation["reasons"],
            "test_set": evaluation["test_set"],
        }
        change = promote(
            registry,
            version,
            actor=actor,
            lock_path=storage.lock_path,
            gate=gate,
            approved_by=approved_by,
            at=clock.now(),
            reason=config.reason or "the gate's verdict on the evaluated challenger",
            servable=check_servable,
        )
        yield _change_output(change)

    @asset(
        name=BASELINE,
        key_prefix=[wf.name],
        group_name="deployment",
        deps=[wf.key(EVAL_SET)],  # measured on it: a refreshed test set is drawn first
        kinds={"mlflow"},
        owners=[owner],
        ins={"champion": AssetIn(wf.key(CHAMPION))},
    )
    def baseline_metrics(
        context: AssetExecutionContext,
        config: BaselineConfig,
        champion: dict,
        storage: HomeStorage,
        registry: ModelRegistry,
        policy: PolicyResource,
        clock: ClockResource,
    ) -> Output[dict]:
        """The champion's metrics with their intervals on the test set it was judged on."""
        version = champion["version"]
        if config.rescore:
            evaluation = _rescore(wf, storage, registry, policy, version)
            context.log.info(
                "baseline re-recorded for %s on test set v%s",
                version,
                evaluation["test_set"]["version"],
            )
        else:
            evaluation = find_evaluation(storage.snapshots, version)
        if evaluation is None:
            raise Failure(f"champion {version} has no recorded evaluation to take a baseline from")
        code = current_code_version()
        record = {
            "champion_version": version,
            "change": "rebaseline" if config.rescore else champion["action"],
            "metrics": evaluation["metrics"],
            "test_set": evaluation["test_set"],
            "code": {"git_commit": code.commit, "git_dirty": code.dirty},
            "recorded_at": clock.now().isoformat(),
        }
        return Output(
            record,
            metadata={
                "champion_version": version,
                "test_set_version": evaluation["test_set"]["version"],
                "test_set_sha256": evaluation["test_set"]["sha256"],
                "metrics": table([{"metric": n, **v} for n, v in evaluation["metrics"].items()]),
            },
        )

    return [champion, baseline_metrics], []

"""champion and baseline_metrics: every promotion and rollback, and what the champion scored
when it took over.

Each materialization of `champion` is one change of the serving model: the Dagster event log
is the audit trail (mirrored in MLflow tags). `baseline_metrics` records the new champion's
metrics with their intervals, so every later comparison reads them back instead of guessing.
"""

from dagster import AssetExecutionContext, AssetIn, Config, Failure, MetadataValue, Output, asset

from assets.champion_repair import (
    change_output,
    on_repair_recorder,
    record_aside,
    repair_champion,
    unrecorded_change,
)
from assets.decisions import (
    NO_CHAMPION,
    approvable,
    approval_for,
    parse_expected,
    record_approval,
    registrants,
    stale_verdict,
)
from assets.evaluation import estimates_record, find_evaluation, raw_rows, test_set_identity
from assets.metadata import table
from assets.models import load_served, servable
from assets.names import BASELINE, CHALLENGER, CHAMPION, EVAL_SET, EVALUATION
from assets.promotion import PromotionError, promote, rollback
from assets.ui_links import link_change
from assets.workflow import Workflow
from resources.approvals import ApprovalStore, acting_person, approvals_path
from resources.clock import ClockResource
from resources.code_version import current_code_version
from resources.links import UiLinks
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.storage import HomeStorage


class ChampionAction(Config):
    """`auto`: promote the latest evaluated challenger if the gate said yes (and, in high-risk
    mode, a person approved). `promote`: promote `version` (its gate decision must be yes, or
    awaiting approval with an approval recorded). `approve`: record `actor`'s approval of
    `version`'s verdict awaiting approval, then promote it. `rollback`: back to the previous
    champion, or to `to_version`. `repair`: resolve a change a crash interrupted and record
    what the registry holds (`afterlaunch repair`).

    A promotion acts only on a verdict made against the champion serving now, on the test set
    stored now, within `gate.verdict_max_age_days`. `expected_champion` is the champion the
    caller decided against ("none": no champion yet); the change is refused if another is
    found under the lock. Not given: the champion read when the run starts (and, to promote,
    the one the verdict was judged against)."""

    action: str = "auto"
    version: str | None = None
    to_version: str | None = None
    reason: str | None = None
    actor: str | None = None
    expected_champion: str | None = None


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
    served = load_served(wf, registry, version)
    outputs = served.outputs(wf, raw_rows(wf, test_set))
    estimates = served.task_of(wf).estimates(
        test_set[wf.label.column].to_numpy(),
        outputs,
        rules.gate.metrics,
        **rules.bootstrap_settings(),
    )
    return {"metrics": estimates_record(estimates), "test_set": test_set_identity(test_set)}


def _refuse(
    context: AssetExecutionContext,
    config: ChampionAction,
    message: str,
    reasons: list | None = None,
) -> None:
    """A person's promote or approve fails with `message`; the automatic path only logs it
    (a verdict that does not promote is the gate working, not an error)."""
    if config.action != "auto":
        metadata = {"reasons": MetadataValue.json(reasons)} if reasons else None
        raise Failure(message, metadata=metadata)
    context.log.info(message)


def _expected(config: ChampionAction, current: str | None) -> str | None:
    """The champion the caller decided against: its own word, else `current` (read when the
    run started; for a promotion, the one the verdict was judged against)."""
    if config.expected_champion is None:
        return current
    return parse_expected(config.expected_champion)


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
        links: UiLinks,
    ):
        """The serving model: one materialization per promotion or rollback."""
        if config.action == "repair":
            yield from repair_champion(context, wf, registry, storage, clock.now())
            return
        missing = unrecorded_change(context, wf, storage)  # a crash after the registry commit
        if missing is not None:
            record_aside(context, wf, storage, missing)
        recorder = on_repair_recorder(context, wf, storage)
        actor = acting_person(config.actor)
        if config.action == "rollback":
            expected = _expected(config, registry.version_for_alias("champion"))
            try:
                change = rollback(
                    registry,
                    actor=actor,
                    lock_path=storage.lock_path,
                    to=config.to_version,
                    reason=config.reason or "manual rollback",
                    at=clock.now(),
                    expected_champion=expected,
                    servable=check_servable,
                    on_repair=recorder,
                )
            except PromotionError as exc:
                raise Failure(str(exc)) from exc
            yield link_change(
                links, registry, change_output(change), context.run.run_id, wf.key(CHAMPION)
            )
            return
        if config.action not in ("auto", "promote", "approve"):
            raise Failure(
                f"unknown champion action {config.action!r}: auto, promote, approve, rollback "
                "or repair"
            )
        store = storage.snapshots
        if config.action == "auto":
            if not store.partitions(EVALUATION):
                raise Failure("no challenger has been evaluated yet")
            evaluation = store.read(EVALUATION, None)
            version = evaluation["challenger_version"]
        else:
            if not config.version:
                raise Failure(f"action {config.action!r} needs `version`")
            version = config.version
            evaluation = find_evaluation(store, version)
            if evaluation is None:
                raise Failure(
                    f"version {version} has never been evaluated: no gate decision to act on"
                )
        current = registry.version_for_alias("champion")
        if current == version:
            context.log.info("version %s is already champion", version)
            return
        verdict = evaluation["verdict"]
        if config.action == "approve":
            approvable(evaluation)  # a verdict that asked for no approval gets none
        elif verdict not in ("promote", "awaiting_approval"):
            message = f"version {version} not promoted: gate verdict {verdict}"
            _refuse(context, config, message, evaluation["reasons"])
            return
        stale = stale_verdict(
            store, evaluation, current, clock.now(), policy.load().gate.verdict_max_age_days
        )
        if stale is not None:
            verb = "approved" if config.action == "approve" else "promoted"
            _refuse(context, config, f"version {version} not {verb}: {stale}")
            return
        # The verdict was judged against `current`: the swap below must find it still there.
        expected = _expected(config, current)
        if expected != current:
            raise Failure(
                f"{config.action} refused: expected @champion={expected or NO_CHAMPION} but it "
                f"is {current or NO_CHAMPION} (changed since the decision was made)"
            )
        approvals = ApprovalStore(approvals_path(storage.lock_path))
        if config.action == "approve":
            # Refused before anything is written: no approval row, no alias move.
            approval = record_approval(
                approvals,
                registry,
                evaluation,
                approver=actor,
                reason=config.reason or "approved",
                at=clock.now(),
                registered_by=registrants(context.instance, wf.key(CHALLENGER), registry, version),
                allowed=policy.load().approvers.promotion,
            )
            context.log.info("approval of version %s by %s recorded", version, actor)
        elif verdict == "awaiting_approval":
            approval = approval_for(approvals, evaluation)
        else:
            approval = None  # the gate's yes needs none (and a broken store must not block it)
        approved_by = approval.approver if approval else None
        if verdict == "awaiting_approval" and approved_by is None:
            _refuse(
                context,
                config,
                f"version {version} not promoted: gate verdict awaiting_approval and no "
                f"approval of this verdict recorded in {approvals.path} (afterlaunch approve "
                f"{version})",
            )
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
            "judged_against": evaluation["champion_version"],
            "evaluated_at": evaluation["evaluated_at"],
        }
        try:
            change = promote(
                registry,
                version,
                actor=actor,
                lock_path=storage.lock_path,
                gate=gate,
                approved_by=approved_by,
                at=clock.now(),
                reason=config.reason or "the gate's verdict on the evaluated challenger",
                expected_champion=expected,
                servable=check_servable,
                on_repair=recorder,
            )
        except PromotionError as exc:
            raise Failure(str(exc)) from exc
        yield link_change(
            links, registry, change_output(change), context.run.run_id, wf.key(CHAMPION)
        )

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

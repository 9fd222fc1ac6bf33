"""eval_test_set and challenger_evaluation: the fixed test set, and the challenger judged
against the champion on it by the statistical promotion gate, each model through its own
feature set."""

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetIn,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.eval_set import SLICE_PREFIX, draw_eval_set, slice_columns
from assets.gate_evidence import gate_evidence
from assets.history import materialization_metadata
from assets.metadata import table
from assets.models import load_served
from assets.names import BASELINE, CHALLENGER, EVAL_SET, EVALUATION, FEATURES, LABELS
from assets.training import labelled_window
from assets.ui_links import mlflow_version_metadata
from assets.workflow import Workflow
from checks.gate import SliceComparison, decide
from checks.gate_skill import beat_baselines
from resources.clock import ClockResource
from resources.links import UiLinks
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.snapshots import content_hash
from resources.storage import HomeStorage

VERSION_COLUMN = "eval_set_version"


class EvalSetConfig(Config):
    """Bump `version` for a deliberate change of scope; the baseline must then be re-recorded."""

    version: str = "1"
    end_date: str | None = None  # the last label partition of the pool; default: the newest
    start_date: str | None = None  # no row before this partition (a redraw after a drift)


class ChallengerChoice(Config):
    """`version`: the registered version to judge (the challenger sensor passes the one behind
    @challenger, which may have been registered by hand); default: the last trained one."""

    version: str | None = None


def find_evaluation(store, version: str) -> dict | None:
    """The newest recorded evaluation of `version` as a challenger, if any."""
    for entry in reversed(store.versions(EVALUATION, None)):
        value = store.read(EVALUATION, None, entry["content_hash"])
        if value.get("challenger_version") == version:
            return value
    return None


def test_set_identity(eval_test_set: pd.DataFrame) -> dict:
    """What every evaluation and baseline records about the test set it used."""
    return {
        "version": str(eval_test_set[VERSION_COLUMN].iloc[0]),
        "sha256": content_hash(eval_test_set),
        "rows": len(eval_test_set),
    }


def estimates_record(estimates) -> dict:
    return {name: {"value": e.value, "low": e.low, "high": e.high} for name, e in estimates.items()}


def pinned_hash(instance, wf: Workflow, version: str) -> str | None:
    """The content hash of the first materialization of test-set `version`, if any."""
    history = materialization_metadata(instance, wf.key(EVAL_SET))
    return next((m["content_hash"] for m in history if m.get("eval_set_version") == version), None)


def raw_rows(wf: Workflow, frame: pd.DataFrame) -> pd.DataFrame:
    """The raw columns of a stored set (its rows as the source gave them)."""
    return frame[[c for c in wf.contracts.raw_columns if c in frame.columns]]


def build(wf: Workflow) -> tuple[list, list]:
    owner = wf.team("model_owner")
    task = wf.task
    label = wf.label.column
    descriptions = {s.name: s.description for s in wf.slices}

    @asset(
        name=EVAL_SET,
        key_prefix=[wf.name],
        group_name="evaluation",
        deps=[wf.key(FEATURES), wf.key(LABELS)],
        kinds={"pandas"},
        owners=[owner],
    )
    def eval_test_set(
        context: AssetExecutionContext,
        config: EvalSetConfig,
        storage: HomeStorage,
        policy: PolicyResource,
    ) -> Output[pd.DataFrame]:
        """Labelled raw rows drawn at launch, with every named slice represented. Training
        never sees these entities; each model computes its own features from the rows."""
        rules = policy.load()
        store = storage.snapshots
        label_days = store.written(LABELS)  # a deleted newest one is named by the window
        if not label_days:
            raise Failure(f"no {wf.name}/{LABELS} stored yet: the test set needs known outcomes")
        end = config.end_date or label_days[-1]
        window = labelled_window(
            wf,
            store,
            end,
            rules.training.window_days,
            config.start_date,
            frozenset(),
            missing=rules.training.missing_partitions,
            policy_field="training.missing_partitions",
        )
        keys, pool = window.keys, window.rows
        evaluation = rules.evaluation
        drawn = draw_eval_set(
            pool.drop(columns=["split"]),
            wf.slices,
            evaluation.eval_set_size,
            min_per_slice=2 * rules.gate.min_slice_size,
            seed=evaluation.seed,
            order_by=wf.entity.id,
        )
        if len(drawn) < evaluation.eval_set_min_size:
            raise Failure(
                f"only {len(drawn)} examples drawn, {evaluation.eval_set_min_size} needed"
            )
        drawn.insert(0, VERSION_COLUMN, config.version)
        sizes = {c.removeprefix(SLICE_PREFIX): int(drawn[c].sum()) for c in slice_columns(drawn)}
        context.log.info("eval test set v%s: %d examples", config.version, len(drawn))
        return Output(
            drawn,
            metadata={
                "eval_set_version": config.version,
                "dagster/row_count": len(drawn),
                "label_mean": float(drawn[label].astype("float64").mean()),
                "pool_window": f"{keys[0]} .. {keys[-1]} (labels until {end})",
                "missing_partitions": MetadataValue.json(window.missing),
                "slices": MetadataValue.md(
                    "| slice | examples | what |\n| --- | --- | --- |\n"
                    + "\n".join(f"| {n} | {sizes[n]} | {descriptions[n]} |" for n in sizes)
                ),
            },
        )

    @asset_check(asset=wf.key(EVAL_SET), name="eval_test_set_pinned", blocking=True)
    def eval_test_set_pinned(context, eval_test_set: pd.DataFrame) -> AssetCheckResult:
        """The content of a test-set version never changes: the first materialization of a
        version pins its hash; other content under the same version is an ERROR."""
        version = str(eval_test_set[VERSION_COLUMN].iloc[0])
        digest = content_hash(eval_test_set)
        pinned = pinned_hash(context.instance, wf, version) or digest
        ok = pinned == digest
        return AssetCheckResult(
            passed=ok,
            description=(
                f"test set v{version} matches its pinned hash {pinned[:12]}"
                if ok
                else f"test set v{version} changed without a version bump: pinned "
                f"{pinned[:12]}, now {digest[:12]}; bump EvalSetConfig.version (and re-record "
                "the baseline)"
            ),
            metadata={"version": version, "pinned_hash": pinned, "content_hash": digest},
        )

    @asset(
        name=EVALUATION,
        key_prefix=[wf.name],
        group_name="evaluation",
        kinds={"sklearn", "mlflow"},
        owners=[owner],
        ins={
            "eval_test_set": AssetIn(wf.key(EVAL_SET)),
            "challenger_model": AssetIn(wf.key(CHALLENGER)),
        },
    )
    def challenger_evaluation(
        context: AssetExecutionContext,
        config: ChallengerChoice,
        eval_test_set: pd.DataFrame,
        challenger_model: dict,
        registry: ModelRegistry,
        storage: HomeStorage,
        policy: PolicyResource,
        clock: ClockResource,
        links: UiLinks,
    ) -> Output[dict]:
        """The challenger and the champion scored on the same test set, each with its own
        feature set; the gate decides with a paired bootstrap of the differences. The
        decision and every reason are in the metadata."""
        rules = policy.load()
        gate = rules.gate
        version = config.version or challenger_model["version"]
        test_set = test_set_identity(eval_test_set)
        if pinned_hash(context.instance, wf, test_set["version"]) != test_set["sha256"]:
            raise Failure(
                f"the stored test set v{test_set['version']} is not the content pinned for that "
                "version (see the eval_test_set_pinned check): draw it again under a new version"
            )
        y = eval_test_set[label].to_numpy()
        rows = raw_rows(wf, eval_test_set)
        settings = rules.bootstrap_settings()
        served_challenger = load_served(wf, registry, version)
        out_challenger = served_challenger.outputs(wf, rows)
        # Each version is judged at the decision threshold recorded for it.
        c_task = served_challenger.task_of(wf)
        challenger = c_task.estimates(y, out_challenger, gate.metrics, **settings)
        champion_version = registry.version_for_alias("champion")
        champion = differences = slices = k_task = None
        note, blocked = None, False
        if champion_version is not None and champion_version != version:
            served_champion = load_served(wf, registry, champion_version)
            out_champion = served_champion.outputs(wf, rows)
            k_task = served_champion.task_of(wf)
            champion = k_task.estimates(y, out_champion, gate.metrics, **settings)
            differences = c_task.paired(
                y, out_challenger, out_champion, gate.metrics, champion_task=k_task, **settings
            )
            slices = {
                column.removeprefix(SLICE_PREFIX): SliceComparison(
                    n=int(mask.sum()),
                    challenger=c_task.compute(gate.primary_metric, y[mask], out_challenger[mask]),
                    champion=k_task.compute(gate.primary_metric, y[mask], out_champion[mask]),
                )
                for column in slice_columns(eval_test_set)
                for mask in [eval_test_set[column].to_numpy(dtype=bool)]
            }
            note, blocked = _against_baseline(storage, champion_version, champion, test_set)
        if champion_version == version:
            note, blocked = f"version {version} is already the champion: nothing to decide", True
        skill = (
            beat_baselines(
                gate.primary_metric,
                _baseline_differences(wf, c_task, y, rows, out_challenger, gate, settings),
                gate.superiority_confidence,
            )
            if gate.beat_baselines
            else []
        )
        # --- provenance, packaging and cost (assets/gate_evidence.py, checks/provenance.py)
        evidence = gate_evidence(
            wf,
            registry,
            load_served(wf, registry, version),
            load_served(wf, registry, champion_version) if champion is not None else None,
            eval_test_set,
            rows,
            gate,
        )
        provenance_criteria = evidence.criteria
        # --- end of provenance, packaging and cost
        decision = decide(
            challenger,
            champion,
            differences,
            slices,
            gate,
            task.registry,
            extra=[*skill, *provenance_criteria],
        )
        if blocked:
            promote, verdict = False, "reject"
        else:
            promote, verdict = decision.promote, decision.verdict
        reasons = [*decision.reasons, *([note] if note else [])]
        value = {
            "challenger_version": version,
            "champion_version": champion_version,
            "challenger_threshold": c_task.param,
            "champion_threshold": k_task.param if k_task is not None else None,
            "verdict": verdict,
            "promote": promote,
            "reasons": reasons,
            "metrics": estimates_record(challenger),
            "champion_metrics": estimates_record(champion) if champion else None,
            "test_set": test_set,
            "policy_version": rules.version,
            # By the workflow's clock: promotion refuses a verdict older than the policy allows.
            "evaluated_at": clock.now().isoformat(),
            "provenance": evidence.figures,  # lineage, leakage, packaging and cost figures
        }
        context.log.info("version %s vs champion %s: %s", version, champion_version, verdict)
        return Output(
            value,
            metadata={
                "verdict": verdict,
                "challenger_version": version,
                **mlflow_version_metadata(links, registry.model_name, version),
                "champion_version": champion_version or "none",
                "challenger_decides_at": c_task.param,
                "summary": f"{decision.summary()} (on {value['evaluated_at'][:10]})",
                "criteria": table(decision.records()),
                "reasons": MetadataValue.md("\n".join(f"- {r}" for r in reasons)),
                "metrics": table(
                    [
                        {"metric": n, "value": e.value, "low": e.low, "high": e.high}
                        for n, e in challenger.items()
                    ]
                ),
                "test_set_version": test_set["version"],
                "test_set_sha256": test_set["sha256"],
                "evaluated_at": value["evaluated_at"],
                "provenance": MetadataValue.json(evidence.figures),
                **rules.as_metadata("gate"),
            },
        )

    return [eval_test_set, challenger_evaluation], [eval_test_set_pinned]


def _baseline_differences(wf: Workflow, c_task, y, rows, out_challenger, gate, settings) -> dict:
    """Challenger - baseline on the primary metric, for the fallback rule and the majority
    answer, with the superiority test's paired bootstrap."""
    answers = {}
    majority = wf.task.majority_outputs(y)
    if majority is not None:
        answers["majority"] = majority
    if wf.fallback is not None:
        answers["fallback"] = np.asarray(wf.fallback.rule(rows), dtype="float64")
    return {
        name: c_task.paired(
            y,
            out_challenger,
            outputs,
            [gate.primary_metric],
            champion_task=wf.task,
            n_resamples=settings["n_resamples"],
            confidence=gate.superiority_confidence,
            seed=settings["seed"],
        )[gate.primary_metric]
        for name, outputs in answers.items()
    }


def _against_baseline(
    storage: HomeStorage, champion_version: str, champion, test_set
) -> tuple[str, bool]:
    """Compare the champion's fresh scores with the baseline recorded at its promotion: a
    sentence, and whether it blocks the promotion. A test set that changed version since, or a
    champion that re-scores differently, blocks: the baseline must be re-recorded first."""
    store = storage.snapshots
    if not store.partitions(BASELINE):
        return f"no baseline recorded yet for champion {champion_version}", False
    baseline = store.read(BASELINE, None)
    if baseline["champion_version"] != champion_version:
        return (
            f"the recorded baseline is for version {baseline['champion_version']}, the "
            f"champion is {champion_version}: re-record the baseline"
        ), True
    if baseline["test_set"]["version"] != test_set["version"]:
        return (
            f"the baseline was recorded on test set v{baseline['test_set']['version']}, "
            f"the current one is v{test_set['version']}: re-record the baseline first"
        ), True
    recorded = baseline["metrics"]
    differing = [
        name
        for name, estimate in champion.items()
        if name in recorded and not _same(estimate.value, recorded[name]["value"])
    ]
    if differing:
        return (
            f"champion {champion_version} re-scores differently from its recorded baseline "
            f"({', '.join(differing)}): the model or the test set changed"
        ), True
    return f"champion {champion_version} re-scores exactly as its recorded baseline", False


def _same(a: float | None, b: float | None) -> bool:
    # An undefined metric matches only an undefined one.
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-9)

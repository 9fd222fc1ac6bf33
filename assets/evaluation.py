"""eval_test_set and challenger_evaluation: the fixed test set, and the challenger judged
against the champion on it by the statistical promotion gate."""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from assets.eval_set import SLICES, draw_eval_set, slice_columns
from assets.feature_definitions import FEATURE_COLUMNS
from assets.features import ticket_features
from assets.history import materialization_metadata
from assets.labels import ticket_labels
from assets.metadata import table
from assets.training import read_window, training_window
from assets.training_data import SPLIT, assemble_training_set
from checks.bootstrap import bootstrap_ci, paired_bootstrap
from checks.gate import SliceComparison, decide
from checks.metrics import compute
from resources.policy import PolicyResource
from resources.registry import ModelRegistry
from resources.snapshots import content_hash
from resources.storage import HomeStorage

VERSION_COLUMN = "eval_set_version"


class EvalSetConfig(Config):
    """Bump `version` for a deliberate change of scope; the baseline must then be re-recorded."""

    version: str = "1"
    end_date: str | None = None  # the last label day of the pool; default: newest label day
    start_date: str | None = None  # no ticket before this day (a redraw after a concept drift)


@asset(
    group_name="evaluation",
    deps=[ticket_features, ticket_labels],
    kinds={"pandas"},
    owners=["team:ml-platform"],
)
def eval_test_set(
    context: AssetExecutionContext,
    config: EvalSetConfig,
    storage: HomeStorage,
    policy: PolicyResource,
) -> Output[pd.DataFrame]:
    """Labelled tickets drawn at launch, with every named edge-case slice represented. Training
    never sees these tickets."""
    rules = policy.load()
    store = storage.snapshots
    label_days = store.partitions("ticket_labels")
    if not label_days:
        raise Failure("no ticket_labels stored yet: the test set needs known outcomes")
    end = config.end_date or label_days[-1]
    feature_days, label_window = training_window(
        end, rules.training.window_days, rules.labels.max_delay_days, config.start_date
    )
    features, labels = read_window(store, feature_days, label_window)
    pool, _ = assemble_training_set(features, labels, validation_fraction=0.0)
    evaluation = rules.evaluation
    drawn = draw_eval_set(
        pool.drop(columns=[SPLIT]),
        evaluation.eval_set_size,
        min_per_slice=2 * rules.gate.min_slice_size,
        seed=evaluation.seed,
    )
    if len(drawn) < evaluation.eval_set_min_size:
        raise Failure(f"only {len(drawn)} examples drawn, {evaluation.eval_set_min_size} needed")
    drawn.insert(0, VERSION_COLUMN, config.version)
    slice_sizes = {c.removeprefix("slice:"): int(drawn[c].sum()) for c in slice_columns(drawn)}
    context.log.info("eval test set v%s: %d examples", config.version, len(drawn))
    return Output(
        drawn,
        metadata={
            "eval_set_version": config.version,
            "dagster/row_count": len(drawn),
            "positive_rate": float(drawn["escalated"].mean()),
            "pool_window": f"{feature_days[0]} .. {feature_days[-1]} (labels until {end})",
            "slices": MetadataValue.md(
                "| slice | examples | what |\n| --- | --- | --- |\n"
                + "\n".join(f"| {n} | {slice_sizes[n]} | {SLICES[n][0]} |" for n in slice_sizes)
            ),
        },
    )


def pinned_hash(instance, version: str) -> str | None:
    """The content hash of the first materialization of test-set `version`, if any."""
    history = materialization_metadata(instance, AssetKey("eval_test_set"))
    return next((m["content_hash"] for m in history if m.get("eval_set_version") == version), None)


@asset_check(asset=eval_test_set, blocking=True)
def eval_test_set_pinned(context, eval_test_set: pd.DataFrame) -> AssetCheckResult:
    """The content of a test-set version never changes: the first materialization of a version
    pins its hash; different content under the same version is an ERROR (bump the version)."""
    version = str(eval_test_set[VERSION_COLUMN].iloc[0])
    digest = content_hash(eval_test_set)
    history = materialization_metadata(context.instance, AssetKey("eval_test_set"))
    pinned = next(
        (m["content_hash"] for m in history if m.get("eval_set_version") == version), digest
    )
    ok = pinned == digest
    return AssetCheckResult(
        passed=ok,
        description=(
            f"test set v{version} matches its pinned hash {pinned[:12]}"
            if ok
            else f"test set v{version} changed without a version bump: pinned {pinned[:12]}, now "
            f"{digest[:12]}; bump EvalSetConfig.version (and re-record the baseline)"
        ),
        metadata={"version": version, "pinned_hash": pinned, "content_hash": digest},
    )


def find_evaluation(store, version: str) -> dict | None:
    """The newest recorded evaluation of `version` as a challenger, if any."""
    for entry in reversed(store.versions("challenger_evaluation", None)):
        value = store.read("challenger_evaluation", None, entry["content_hash"])
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


class ChallengerChoice(Config):
    """`version`: the registered version to judge (the challenger sensor passes the one behind
    @challenger, which may have been registered by hand); default: the last trained one."""

    version: str | None = None


@asset(group_name="evaluation", kinds={"sklearn", "mlflow"}, owners=["team:ml-platform"])
def challenger_evaluation(
    context: AssetExecutionContext,
    config: ChallengerChoice,
    eval_test_set: pd.DataFrame,
    challenger_model: dict,
    registry: ModelRegistry,
    storage: HomeStorage,
    policy: PolicyResource,
) -> Output[dict]:
    """The challenger and the champion scored on the same test set; the gate decides with a
    paired bootstrap of the differences. The decision and every reason are in the metadata."""
    rules = policy.load()
    gate = rules.gate
    version = config.version or challenger_model["version"]
    test_set = test_set_identity(eval_test_set)
    if pinned_hash(context.instance, test_set["version"]) != test_set["sha256"]:
        raise Failure(
            f"the stored test set v{test_set['version']} is not the content pinned for that "
            "version (see the eval_test_set_pinned check): draw it again under a new version"
        )
    y = eval_test_set["escalated"].to_numpy()
    features = eval_test_set[FEATURE_COLUMNS]
    settings = rules.bootstrap_settings()
    p_challenger = registry.load_model(version).predict_proba(features)[:, 1]
    challenger = bootstrap_ci(y, p_challenger, gate.metrics, **settings)
    champion_version = registry.version_for_alias("champion")
    champion = differences = slices = None
    note, blocked = None, False
    if champion_version is not None and champion_version != version:
        p_champion = registry.load_model(champion_version).predict_proba(features)[:, 1]
        champion = bootstrap_ci(y, p_champion, gate.metrics, **settings)
        differences = paired_bootstrap(y, p_challenger, p_champion, gate.metrics, **settings)
        slices = {
            column.removeprefix("slice:"): SliceComparison(
                n=int(mask.sum()),
                challenger=compute(
                    gate.primary_metric, y[mask], p_challenger[mask], gate.decision_threshold
                ),
                champion=compute(
                    gate.primary_metric, y[mask], p_champion[mask], gate.decision_threshold
                ),
            )
            for column in slice_columns(eval_test_set)
            for mask in [eval_test_set[column].to_numpy(dtype=bool)]
        }
        note, blocked = _against_baseline(storage, champion_version, champion, test_set)
    if champion_version == version:
        note, blocked = f"version {version} is already the champion: nothing to decide", True
    decision = decide(challenger, champion, differences, slices, gate)
    if blocked:
        promote, verdict = False, "reject"
    else:
        promote, verdict = decision.promote, decision.verdict
    reasons = [*decision.reasons, *([note] if note else [])]
    value = {
        "challenger_version": version,
        "champion_version": champion_version,
        "verdict": verdict,
        "promote": promote,
        "reasons": reasons,
        "metrics": estimates_record(challenger),
        "champion_metrics": estimates_record(champion) if champion else None,
        "test_set": test_set,
        "policy_version": rules.version,
    }
    context.log.info("version %s vs champion %s: %s", version, champion_version, verdict)
    return Output(
        value,
        metadata={
            "verdict": verdict,
            "challenger_version": version,
            "champion_version": champion_version or "none",
            "summary": decision.summary(),
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
            **rules.as_metadata("gate"),
        },
    )


def _against_baseline(
    storage: HomeStorage, champion_version: str, champion, test_set
) -> tuple[str, bool]:
    """Compare the champion's fresh scores with the baseline recorded at its promotion: a
    sentence, and whether it blocks the promotion. A test set that changed version since, or a
    champion that re-scores differently, blocks: the baseline must be re-recorded first."""
    store = storage.snapshots
    if not store.partitions("baseline_metrics"):
        return f"no baseline recorded yet for champion {champion_version}", False
    baseline = store.read("baseline_metrics", None)
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

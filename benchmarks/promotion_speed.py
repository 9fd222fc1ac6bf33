"""How long a promotion and a rollback take, and when the new champion actually serves.

On the embedded store (SQLite file + artifact folder in a temporary folder) with four versions
already registered, five rounds of: promote a challenger, load ``models:/NAME@champion`` (and
check it predicts like the promoted version), roll back, load ``@champion`` again (and check it
predicts like the restored version). Reports best and median of

* ``promote`` / ``rollback``: the whole call (file lock, state read and checks, the
  servable check the deployment passes (the version's feature set is still in the code), both
  alias moves, version tags, the ``champion_history`` mirror);
* the alias switch inside it (the two alias moves alone);
* loading ``@champion`` afterwards, and promote + load: from the decision to the new model in
  memory, ready to score.

The comparison is the industry-common figure of about 30 minutes from "promote" (or "roll
back") to the new model serving: a redeploy of a model server or a rebuilt image.

    .venv/bin/python benchmarks/promotion_speed.py [--rounds 5] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, today
from sklearn.linear_model import LogisticRegression

from assets import promotion
from assets.models import FEATURE_HASH_TAG, FEATURE_SET_TAG, servable
from assets.promotion import promote, rollback
from resources.registry import ModelRegistry
from workflows.ticket_escalation.workflow import WORKFLOW

log = logging.getLogger("benchmarks.promotion_speed")
INDUSTRY_COMMON_S = 30 * 60
C_VALUES = (1.0, 0.05, 0.3, 3.0)  # one version each: distinct models, distinct predictions


def frame(rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {"account_age_days": rng.uniform(1, 900, rows), "tickets": rng.poisson(3, rows)}
    )
    y = ((x["account_age_days"] < 120) | (x["tickets"] > 4)).to_numpy(int)
    return x.astype(float), y


def register_versions(registry: ModelRegistry) -> dict[str, LogisticRegression]:
    x, y = frame(400, seed=0)
    # Tagged like a trained version, so the servable check passes as it does in production.
    feature_set = WORKFLOW.feature_sets.current_set
    tags = {FEATURE_SET_TAG: feature_set.version, FEATURE_HASH_TAG: feature_set.definitions_hash}
    models = {}
    for c in C_VALUES:
        model = LogisticRegression(C=c, max_iter=500).fit(x, y)
        registered = registry.log_and_register(
            model=model,
            input_example=x.head(3),
            params={"hp.C": c},
            metrics={},
            run_tags={},
            version_tags=tags,
            artifacts={},
            run_name=f"benchmark C={c}",
        )
        models[registered.version] = model
    return models


class SwitchTimer:
    """Times promotion._switch (the two alias moves) inside each call."""

    def __init__(self) -> None:
        self.last_s = float("nan")
        self._original = promotion._switch

    def __enter__(self) -> SwitchTimer:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self._original(*args, **kwargs)
            finally:
                self.last_s = time.perf_counter() - start

        promotion._switch = timed
        return self

    def __exit__(self, *exc) -> None:
        promotion._switch = self._original


def load_and_check(registry: ModelRegistry, expected, rows: pd.DataFrame) -> float:
    start = time.perf_counter()
    served = registry.load_model("@champion")
    elapsed = time.perf_counter() - start
    if not np.array_equal(served.predict_proba(rows), expected.predict_proba(rows)):
        raise AssertionError("@champion does not predict like the version just made champion")
    return elapsed


def summary(values: list[float]) -> dict:
    return {
        "best_ms": round(min(values) * 1000, 1),
        "median_ms": round(statistics.median(values) * 1000, 1),
    }


def run(rounds: int) -> dict:
    rows, _ = frame(200, seed=1)
    with tempfile.TemporaryDirectory(prefix="afterlaunch-promotion-bench-") as tmp:
        root = Path(tmp)
        registry = ModelRegistry(
            tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
            artifact_root=str(root / "artifacts"),
            model_name=WORKFLOW.model_name,
            experiment_name=WORKFLOW.experiment_name,
        )
        lock = root / "registry.lock"
        kw = {"actor": "bench", "lock_path": lock, "servable": servable(WORKFLOW)}
        log.info("registering %d versions", len(C_VALUES))
        models = register_versions(registry)
        promote(registry, "1", reason="launch", **kw)
        # One untimed round: first use of each code path.
        promote(registry, "2", reason="warm-up", **kw)
        rollback(registry, reason="warm-up", **kw)

        times: dict[str, list[float]] = {
            "promote": [],
            "promote_alias_switch": [],
            "load_after_promote": [],
            "promote_until_serving": [],
            "rollback": [],
            "rollback_alias_switch": [],
            "load_after_rollback": [],
            "rollback_until_serving": [],
        }
        challengers = [v for v in models if v != "1"]
        with SwitchTimer() as switch:
            for i in range(rounds):
                target = challengers[i % len(challengers)]
                start = time.perf_counter()
                promote(registry, target, reason=f"round {i}", **kw)
                times["promote"].append(time.perf_counter() - start)
                times["promote_alias_switch"].append(switch.last_s)
                times["load_after_promote"].append(load_and_check(registry, models[target], rows))
                times["promote_until_serving"].append(time.perf_counter() - start)

                start = time.perf_counter()
                change = rollback(registry, reason=f"round {i}", **kw)
                times["rollback"].append(time.perf_counter() - start)
                times["rollback_alias_switch"].append(switch.last_s)
                assert change.version == "1"
                times["load_after_rollback"].append(load_and_check(registry, models["1"], rows))
                times["rollback_until_serving"].append(time.perf_counter() - start)
        problems = promotion.consistency_problems(registry)
        if problems:
            raise AssertionError(f"history inconsistent after the benchmark: {problems}")
        history_entries = len(promotion.champion_history(registry))
    figures = {name: summary(values) for name, values in times.items()}
    worst_serving_s = max(max(times["promote_until_serving"]), max(times["rollback_until_serving"]))
    return {
        "date": today(),
        "machine": machine(),
        "store": "MLflow on SQLite (embedded) + local artifact folder",
        "versions_registered": len(C_VALUES),
        "rounds": rounds,
        "history_entries_written": history_entries,
        "figures": figures,
        "industry_common_s": INDUSTRY_COMMON_S,
        "worst_until_serving_s": round(worst_serving_s, 3),
        "ratio_quoted_to_worst_here": round(INDUSTRY_COMMON_S / worst_serving_s),
    }


LABELS = {
    "promote": "promote (whole call)",
    "promote_alias_switch": "of which: the two alias moves",
    "load_after_promote": "load @champion afterwards",
    "promote_until_serving": "promote until the new model is loaded",
    "rollback": "rollback (whole call)",
    "rollback_alias_switch": "of which: the two alias moves",
    "load_after_rollback": "load @champion afterwards",
    "rollback_until_serving": "rollback until the previous model is loaded",
}


def table(results: dict) -> str:
    lines = [
        f"Machine: {results['machine']}; date {results['date']}; {results['store']}; "
        f"{results['versions_registered']} versions registered; {results['rounds']} rounds.",
        "",
        "| step | best (ms) | median (ms) |",
        "| --- | --- | --- |",
    ]
    for key, label in LABELS.items():
        figure = results["figures"][key]
        lines.append(f"| {label} | {figure['best_ms']} | {figure['median_ms']} |")
    lines += [
        "",
        f"Slowest decision-to-serving in any round: {results['worst_until_serving_s']} s. The "
        f"industry-common figure (quoted, not measured here) is "
        f"{results['industry_common_s'] // 60} minutes: "
        f"{results['ratio_quoted_to_worst_here']:,}x that.",
    ]
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    results = run(args.rounds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "promotion_speed.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()

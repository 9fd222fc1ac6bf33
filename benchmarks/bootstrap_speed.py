"""Side-by-side timing of the bootstrap behind the promotion gate, on one machine, in one run.

On the same simulated evaluation set: every built-in classification metric with 1,000
resamples, as a confidence interval for one model (``bootstrap_ci``) and as the paired
bootstrap of two (``paired_bootstrap``), against a plain loop that calls the metric (sklearn)
once per resample on the same resampled indices. Best of 3; peak traced memory (tracemalloc)
of one call, measured separately because tracing slows the run. Writes JSON.

    .venv/bin/python benchmarks/bootstrap_speed.py [--sizes 500 1500] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import tracemalloc
from pathlib import Path

import numpy as np
from _common import best_of, machine, today

from checks.bootstrap import bootstrap_ci, paired_bootstrap
from checks.metrics import CLASSIFICATION_METRICS, compute

log = logging.getLogger("benchmarks.bootstrap_speed")
RESAMPLES = 1000
SEED = 7


def simulate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes from a known logit; two models see it through different amounts of noise."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.5, 2.5, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)
    noisy = [1 / (1 + np.exp(-(z + rng.normal(0, s, n)))) for s in (0.3, 0.8)]
    return y, noisy[0], noisy[1]


def peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def loop_ci(y, p, metrics, n_resamples: int, seed: int) -> dict[str, tuple[float, float]]:
    """The floor: one call per metric per resample, on the indices bootstrap_ci draws."""
    idx = np.random.default_rng(seed).integers(0, y.size, size=(n_resamples, y.size))
    out = {}
    for name in metrics:
        values = [compute(name, y[row], p[row], 0.5) for row in idx]
        values = np.array([v for v in values if v is not None])
        low, high = np.quantile(values, [0.025, 0.975])
        out[name] = (float(low), float(high))
    return out


def run(n: int) -> dict:
    y, p_new, p_old = simulate(n, seed=1)
    metrics = list(CLASSIFICATION_METRICS)
    kw = dict(threshold=0.5, n_resamples=RESAMPLES, seed=SEED)

    def ci():
        return bootstrap_ci(y, p_new, metrics, **kw)

    def paired():
        return paired_bootstrap(y, p_new, p_old, metrics, **kw)

    log.info("timing n=%d x %d metrics x %d resamples", n, len(metrics), RESAMPLES)
    ci_s, paired_s = best_of(ci), best_of(paired)
    loop_s = best_of(lambda: loop_ci(y, p_new, metrics, RESAMPLES, SEED))
    # Same indices, so the vectorised interval must equal the loop's to rounding.
    fast, slow = ci(), loop_ci(y, p_new, metrics, RESAMPLES, SEED)
    agreement = max(
        max(abs(fast[m].low - slow[m][0]), abs(fast[m].high - slow[m][1])) for m in metrics
    )
    return {
        "examples": n,
        "metrics": len(metrics),
        "resamples": RESAMPLES,
        "bootstrap_ci_s": round(ci_s, 4),
        "paired_bootstrap_s": round(paired_s, 4),
        "per_resample_loop_ci_s": round(loop_s, 3),
        "speedup_ci_vs_loop": round(loop_s / ci_s, 1),
        "peak_mb_bootstrap_ci": round(peak_mb(ci), 1),
        "peak_mb_paired_bootstrap": round(peak_mb(paired), 1),
        "max_abs_interval_difference_vs_loop": float(f"{agreement:.3g}"),
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1500])
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    results = {
        "date": today(),
        "machine": machine(),
        "runs": [run(n) for n in args.sizes],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bootstrap_speed.json").write_text(json.dumps(results, indent=2))
    lines = [
        f"Machine: {results['machine']}; date {results['date']}.",
        "",
        "| examples x metrics x resamples | bootstrap_ci (s) | paired_bootstrap (s) | "
        "per-resample loop, CI (s) | speed-up | peak MB CI / paired | max interval diff |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["runs"]:
        lines.append(
            f"| {r['examples']:,} x {r['metrics']} x {r['resamples']:,} | {r['bootstrap_ci_s']} "
            f"| {r['paired_bootstrap_s']} | {r['per_resample_loop_ci_s']} "
            f"| {r['speedup_ci_vs_loop']}x | {r['peak_mb_bootstrap_ci']} / "
            f"{r['peak_mb_paired_bootstrap']} | {r['max_abs_interval_difference_vs_loop']:g} |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

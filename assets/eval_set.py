"""The evaluation test set: drawn once at launch, fixed, versioned, with named edge-case slices.

Slices are boolean columns named ``slice:<name>``: each names a kind of example a model is
likely to get wrong and a reviewer wants to see separately. The draw guarantees every slice a
minimum number of examples, then fills the rest at random, deterministically from the seed.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

SLICE_PREFIX = "slice:"

# name -> (description, rule on the pool of labelled features). Rules that need a threshold
# take it from the pool itself, so "extreme" means extreme for this deployment's data.
SLICES: dict[str, tuple[str, Callable[[pd.DataFrame], pd.Series]]] = {
    "rare_channel": (
        "tickets from channels under 10% of traffic",
        lambda df: df["channel"].map(df["channel"].value_counts(normalize=True)) < 0.10,
    ),
    "enterprise": (
        "enterprise-plan customers (few, and costly when wrong)",
        lambda df: df["plan_tier"] == "enterprise",
    ),
    "urgent": ("urgent priority", lambda df: df["priority"] == "urgent"),
    "missing_sentiment": (
        "sentiment service failed for the ticket",
        lambda df: df["sentiment_missing"] == 1.0,
    ),
    "new_customer": (
        "accounts younger than 30 days",
        lambda df: df["log_account_age_days"] < np.log1p(30),
    ),
    "long_text": (
        "messages longer than 95% of the pool",
        lambda df: df["log_message_length"] > df["log_message_length"].quantile(0.95),
    ),
    "extreme_response_time": (
        "first response slower than 99% of the pool",
        lambda df: (
            df["log_first_response_minutes"] > df["log_first_response_minutes"].quantile(0.99)
        ),
    ),
}


def slice_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(SLICE_PREFIX)]


def draw_eval_set(pool: pd.DataFrame, size: int, min_per_slice: int, seed: int) -> pd.DataFrame:
    """`pool`: labelled features (one row per ticket). Returns `size` rows with slice flags,
    ordered by ticket id so the content (and its hash) does not depend on the draw order."""
    if len(pool) < size:
        raise ValueError(f"the pool holds {len(pool)} labelled tickets, {size} needed")
    flags = pd.DataFrame(
        {
            SLICE_PREFIX + name: rule(pool).fillna(False).astype(bool)
            for name, (_, rule) in SLICES.items()
        },
        index=pool.index,
    )
    rng = np.random.default_rng(seed)
    chosen: set = set()
    for column in flags.columns:  # each slice gets its minimum first
        members = flags.index[flags[column]].difference(list(chosen))
        have = int(flags.loc[list(chosen), column].sum()) if chosen else 0
        need = max(0, min_per_slice - have)
        take = rng.permutation(members.to_numpy())[: min(need, len(members))]
        chosen.update(take.tolist())
    rest = pool.index.difference(list(chosen)).to_numpy()
    fill = rng.permutation(rest)[: max(0, size - len(chosen))]
    chosen.update(fill.tolist())
    drawn = pool.loc[sorted(chosen)].join(flags)
    return drawn.sort_values("ticket_id", kind="stable").reset_index(drop=True)

"""The evaluation test set's draw: fixed, versioned, with the workflow's named slices.

The set holds raw rows (with their label), not features: each model is evaluated with the
feature set it was trained on, computed from the same rows. Slices are boolean columns named
``slice:<name>``; the draw guarantees every slice a minimum number of examples, then fills the
rest at random, deterministically from the seed.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

SLICE_PREFIX = "slice:"


def slice_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(SLICE_PREFIX)]


def slice_flags(pool: pd.DataFrame, slices: Sequence) -> pd.DataFrame:
    return pd.DataFrame(
        {SLICE_PREFIX + s.name: s.rule(pool).fillna(False).astype(bool) for s in slices},
        index=pool.index,
    )


def draw_eval_set(
    pool: pd.DataFrame, slices: Sequence, size: int, min_per_slice: int, seed: int, order_by: str
) -> pd.DataFrame:
    """`pool`: labelled rows. Returns `size` rows with slice flags, ordered by `order_by` (the
    entity id) so the content (and its hash) does not depend on the draw order."""
    if len(pool) < size:
        raise ValueError(f"the pool holds {len(pool)} labelled rows, {size} needed")
    flags = slice_flags(pool, slices)
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
    return drawn.sort_values(order_by, kind="stable").reset_index(drop=True)

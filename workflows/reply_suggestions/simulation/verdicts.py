"""What the support agents did with the served reply suggestions, known 1-3 days later.

An agent sends a suggestion as is, edits it, or discards it and writes their own. The odds
depend on the suggestion's quality, which the caller (the pipeline's serving step) passes per
ticket, in this order of precedence:

* ``refused``: no reply was suggested -> mostly discarded (the agent writes the answer);
* not ``faithful``: the reply states something the passages do not -> mostly discarded;
* faithful but not ``retrieved_relevant``: a correct quote of the wrong article -> often edited;
* faithful and built on a relevant article -> mostly sent as is.

Each ticket's draw is a hash of ``(seed, ticket_id)``, so a ticket's verdict does not depend on
which other tickets were served with it, or in what order.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

VERDICTS: tuple[str, ...] = ("sent", "edited", "discarded")
VERDICT_COLUMNS: list[str] = ["ticket_id", "verdict", "decided_at"]
QUALITY_COLUMNS: tuple[str, ...] = ("faithful", "retrieved_relevant", "refused")
# P(sent, edited, discarded) per quality class.
VERDICT_SHARES: dict[str, tuple[float, float, float]] = {
    "refused": (0.03, 0.17, 0.80),
    "unfaithful": (0.10, 0.30, 0.60),
    "off_topic": (0.25, 0.45, 0.30),
    "good": (0.72, 0.20, 0.08),
}
MIN_DELAY_DAYS, MAX_DELAY_DAYS = 1.0, 3.0
_NOON = dt.time(12)


def quality_class(faithful: bool, retrieved_relevant: bool, refused: bool) -> str:
    """The key of :data:`VERDICT_SHARES` for one suggestion."""
    if refused:
        return "refused"
    if not faithful:
        return "unfaithful"
    return "good" if retrieved_relevant else "off_topic"


def _uniforms(seed: int, ticket_id: str) -> tuple[float, float]:
    digest = hashlib.blake2b(f"{seed}|{ticket_id}".encode(), digest_size=16).digest()
    a, b = int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")
    return a / 2**64, b / 2**64


def _flags(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = frame[column]
    if values.isna().any():
        raise ValueError(f"served_quality.{column} has missing values")
    if not (pd.api.types.is_bool_dtype(values) or values.isin([0, 1]).all()):
        raise ValueError(f"served_quality.{column} must be boolean, got {values.dtype}")
    return values.astype(bool).to_numpy()


def verdicts(seed: int, day: dt.date, served_quality: pd.DataFrame) -> pd.DataFrame:
    """The agents' verdicts on ``day``'s served suggestions: :data:`VERDICT_COLUMNS`.

    ``served_quality`` has ``ticket_id`` and the boolean columns :data:`QUALITY_COLUMNS`, and
    optionally ``created_at``; ``decided_at`` (datetime64[ns], naive UTC) is ``created_at`` (or
    noon of ``day``) plus 1-3 days. Rows keep the input order. Pure, no I/O.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    missing = [c for c in ("ticket_id", *QUALITY_COLUMNS) if c not in served_quality.columns]
    if missing:
        raise ValueError(f"served_quality lacks column(s) {missing}")
    if served_quality["ticket_id"].duplicated().any():
        dupes = served_quality.loc[served_quality["ticket_id"].duplicated(), "ticket_id"]
        raise ValueError(f"served_quality has duplicate ticket ids, e.g. {dupes.iloc[0]!r}")
    flags = {c: _flags(served_quality, c) for c in QUALITY_COLUMNS}
    if "created_at" in served_quality.columns:
        start = pd.to_datetime(served_quality["created_at"]).astype("datetime64[ns]").to_numpy()
    else:
        noon = np.datetime64(dt.datetime.combine(day, _NOON), "ns")
        start = np.full(len(served_quality), noon)
    ids = served_quality["ticket_id"].astype(str).tolist()
    out_verdict, delay_s = [], []
    for i, ticket_id in enumerate(ids):
        u_verdict, u_delay = _uniforms(int(seed), ticket_id)
        shares = VERDICT_SHARES[
            quality_class(flags["faithful"][i], flags["retrieved_relevant"][i], flags["refused"][i])
        ]
        pick = int(np.searchsorted(np.cumsum(shares), u_verdict, side="right"))
        out_verdict.append(VERDICTS[min(pick, len(VERDICTS) - 1)])
        days = MIN_DELAY_DAYS + (MAX_DELAY_DAYS - MIN_DELAY_DAYS) * u_delay
        delay_s.append(round(days * 86_400))
    decided_at = start + np.array(delay_s, dtype="int64").astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "ticket_id": pd.array(ids, dtype="str"),
            "verdict": pd.array(out_verdict, dtype="str"),
            "decided_at": pd.Series(decided_at, dtype="datetime64[ns]"),
        },
        columns=VERDICT_COLUMNS,
    )

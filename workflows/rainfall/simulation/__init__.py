"""The rainfall workflow's source, as the engine's demo calls it: the real record replayed.

Nothing is simulated but time. :class:`RainfallSimulation` lands the record's days in the
home's source database (one table with an event-time column, and a labels table), injects no
incident (the record's own drift is the only change in it; a scenario may *declare* it, so the
timeline can say when the loop caught it), records no feedback (nobody acts on a rain
forecast here) and runs no actions of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from workflows.rainfall.record import FEATURES, LABEL, ROWS, START, day_of, load_record

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"
TABLE = "bellevue_days"
LABELS_TABLE = "bellevue_rain"
# Assumed: a day's summary is stamped at 23:00 UTC of its day, when the day's observations
# are complete (the record gives no time of day).
OBSERVED_AT = time(23, 0)
# The changes a scenario may declare (they are in the record already; nothing is injected).
KINDS = ("concept_drift",)
_ISO = "%Y-%m-%dT%H:%M:%S"

__all__ = ["DEFAULT_SCENARIO", "KnownChange", "RainfallSimulation", "known_at", "source_rows"]


def known_at(day: date) -> datetime:
    """When "rain tomorrow" for `day` becomes known: once the next day has passed, at
    `day + 2` 00:00 UTC. Its row was final at its own event time (a measurement never changes),
    which the workflow's source declares, so the label joins it although the row's monthly
    partition ends later."""
    return datetime.combine(day + timedelta(days=2), time(0, 0))


def source_rows(start: date, end: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The record's days from `start` to `end` (inclusive), as the source tables hold them:
    the day rows (`record_date` ISO text, `observed_at`, the eight measurements) and the labels
    (`record_date`, `rain`, `known_at`); times as naive UTC datetimes."""
    last = day_of(ROWS - 1)
    if start < START or end > last or end < start:
        raise ValueError(
            f"the record spans {START} .. {last} (assumed dates); asked for {start} .. {end}"
        )
    record = load_record()
    chosen = record[(record["date"] >= start) & (record["date"] <= end)]
    days = chosen["date"].map(date.isoformat)
    rows = pd.DataFrame(
        {
            "record_date": days,
            "observed_at": [datetime.combine(d, OBSERVED_AT) for d in chosen["date"]],
            **{c: chosen[c] for c in FEATURES},
        }
    ).reset_index(drop=True)
    labels = pd.DataFrame(
        {
            "record_date": days,
            LABEL: chosen[LABEL],
            "known_at": [known_at(d) for d in chosen["date"]],
        }
    ).reset_index(drop=True)
    return rows, labels


@dataclass(frozen=True)
class KnownChange:
    """A change the record is known to hold (declared, not injected): `day` its first day,
    `last_day` the last it lasts to (default: the record's end)."""

    kind: str
    day: date
    last_day: date
    params: dict = field(default_factory=dict)
    label_only: bool = True  # the timeline judges it by what the labels say
    expected_trigger: str | None = "performance"


def parse_changes(items: Iterable[Mapping[str, Any]] | None) -> list[KnownChange]:
    """`{kind: concept_drift, day: "YYYY-MM-DD", days: N (optional)}` entries; ValueError
    naming the entry for another kind or a day outside the record."""
    changes = []
    for item in items or []:
        if not isinstance(item, Mapping) or item.get("kind") not in KINDS:
            raise ValueError(
                f"rainfall scenario entry {item!r}: the record's known changes are "
                f"{', '.join(KINDS)} (nothing else is injected into a real record)"
            )
        unknown = sorted(set(item) - {"kind", "day", "days"})
        if unknown:
            raise ValueError(f"rainfall scenario entry {dict(item)!r}: unknown keys {unknown}")
        first = date.fromisoformat(str(item["day"]))
        end = day_of(ROWS - 1)
        if not START <= first <= end:
            raise ValueError(f"{item['kind']} on {first}: outside the record ({START} .. {end})")
        days = item.get("days")
        last = end if days is None else min(end, first + timedelta(days=int(days) - 1))
        changes.append(KnownChange(item["kind"], first, last, {"days": days} if days else {}))
    return changes


class NoFeedback:
    """Nobody acts on these forecasts: nothing to record."""

    def record(self, day: date, served: pd.DataFrame | None = None) -> None:
        return None


class RainfallSimulation:
    """The record replayed into a source database; stateless."""

    default_scenario: Path = DEFAULT_SCENARIO
    action_kinds: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return "RainfallSimulation()"

    def parse_incidents(self, items) -> list[KnownChange]:
        return parse_changes(items)

    def validate_action(self, item: Mapping[str, Any]) -> None:
        raise ValueError(_no_actions(item))

    def write_source(
        self,
        source_url: str,
        seed: int,
        start: date,
        end: date,
        incidents: Iterable,
        scale: float = 1.0,
    ) -> None:
        """Land the record's days from `start` to `end` (inclusive). `seed` is unused: the
        record is what it is. Declared changes are already in the record."""
        if scale != 1:
            raise ValueError(
                f"scale {scale}: the rainfall workflow replays a real record (one row a day); "
                "it cannot be scaled"
            )
        rows, labels = source_rows(start, end)
        iso = {"observed_at": rows["observed_at"].dt.strftime(_ISO)}
        engine = sa.create_engine(source_url)
        try:
            rows.assign(**iso).to_sql(TABLE, engine, if_exists="replace", index=False)
            labels.assign(known_at=labels["known_at"].dt.strftime(_ISO)).to_sql(
                LABELS_TABLE, engine, if_exists="replace", index=False
            )
        finally:
            engine.dispose()

    def feedback(self, source_url: str, seed: int, incidents, launch: date) -> NoFeedback:
        return NoFeedback()

    def act(self, action: Mapping[str, Any], registry, store, at: datetime) -> str:
        raise ValueError(_no_actions(action))


def _no_actions(item) -> str:
    shown = dict(item) if isinstance(item, Mapping) else item
    return (
        f"action {shown!r}: the rainfall workflow has no actions of its own "
        "(the engine's `flag` works on it)"
    )

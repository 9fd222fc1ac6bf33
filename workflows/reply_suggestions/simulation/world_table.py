"""The ``simulated_world`` table: the simulated desk's seed and incidents, kept in its source.

The incidents that act on serving (a provider's model update, a ranking regression, the refined
prompt's padding) happen outside the deployment, so the serving code cannot be told about them
by its caller: it reads them from the source, as it would find a real provider's behaviour
there. A source with no such table is a real one: serving applies no simulated effect.

One row (``world_id`` 1): ``seed`` and ``incidents``, a JSON list of ``{kind, day, params}``
that :func:`.incidents.parse_incidents` reads back. Writing replaces the row.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from workflows.reply_suggestions.simulation.incidents import Incident, parse_incidents

log = logging.getLogger(__name__)

WORLD_TABLE = "simulated_world"

_METADATA = sa.MetaData()
SIMULATED_WORLD = sa.Table(
    WORLD_TABLE,
    _METADATA,
    sa.Column("world_id", sa.Integer, primary_key=True),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("incidents", sa.Text, nullable=False),
    sa.Column("written_at", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class World:
    """What the source says about the simulated world serving runs in."""

    seed: int
    incidents: tuple[Incident, ...]


def incidents_json(incidents: Iterable[Incident]) -> str:
    """The incidents as JSON text, in their order (the order their effects combine in)."""
    items = [
        {"kind": i.kind, "day": i.day.isoformat(), "params": dict(i.params)} for i in incidents
    ]
    return json.dumps(items, sort_keys=True)


def write_world(url: str, seed: int, incidents: Iterable[Incident]) -> None:
    """Record the world's seed and incidents in the source at ``url`` (replacing any earlier)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    incidents = tuple(incidents)
    row = {
        "world_id": 1,
        "seed": seed,
        "incidents": incidents_json(incidents),
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _METADATA.create_all(conn, checkfirst=True)
            conn.execute(sa.delete(SIMULATED_WORLD))
            conn.execute(sa.insert(SIMULATED_WORLD), [row])
    finally:
        engine.dispose()
    log.info("recorded the simulated world (seed %d, %d incidents)", seed, len(incidents))


def read_world(url: str) -> World | None:
    """The world recorded in the source, or None when the source has no such table (a real
    source). A table without its row is an error: a half-written simulation must not serve
    as a real deployment."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(WORLD_TABLE):
                return None
            rows = conn.execute(sa.select(SIMULATED_WORLD)).mappings().all()
    finally:
        engine.dispose()
    if len(rows) != 1:
        raise ValueError(f"the source's {WORLD_TABLE} table holds {len(rows)} rows, expected 1")
    row = rows[0]
    try:
        items = json.loads(row["incidents"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"{WORLD_TABLE}.incidents is not JSON: {exc}") from None
    return World(seed=int(row["seed"]), incidents=tuple(parse_incidents(items)))

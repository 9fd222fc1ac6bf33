"""Incident injection: the failures teams meet after launch, each confined to its day.

An :class:`Incident` is ``(kind, day, params)``; missing params take the defaults in
:data:`DEFAULT_PARAMS` and bad ones raise ``ValueError`` at construction. ``parse_incidents``
reads the list-of-dicts form used by YAML scenario files::

    - {kind: volume_drop, day: 2026-03-05, fraction: 0.4}
    - {kind: schema_change, day: "2026-03-09", mode: retype}

Kinds fall in four groups, applied by
:func:`workflows.ticket_escalation.simulation.crm.generate_day` in this order:

* world (change the tickets, so outcomes follow): ``covariate_shift``, ``unseen_category``;
* rows (change which rows land): ``stale_feed``, ``volume_drop``, ``duplicate_rows``;
* values (change what the landed rows look like): ``null_flood``, ``schema_change``;
* labels (add bad rows to the outcomes delivered on the day): ``bad_labels``;

plus ``concept_drift``, which changes only the outcome model, from its day for ``days`` days.
``covariate_shift`` also takes ``days`` (default 1): a shift that persists is a new world, the
kind of drift that justifies a retraining. So does ``schema_change``: upstream renames a column
once and keeps sending the new name, until someone maps it back (``afterlaunch schema map``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workflows.ticket_escalation.simulation.vocabulary import (
    CATEGORIES,
    CATEGORY_SHARES,
    INTEGER_COLUMNS,
    NUMERIC_BOUNDS,
    NUMERIC_COLUMNS,
    TICKET_COLUMNS,
)

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    # mode: rename | drop | retype. new_name is used by rename only, template by retype only.
    # Also `days` (default 1): how many days upstream keeps sending the change.
    "schema_change": {
        "mode": "rename",
        "column": "message_length",
        "new_name": "msg_len",
        "template": "{value} chars",
    },
    "volume_drop": {"fraction": 0.5},
    # mode: empty (a batch with the right schema and zero rows) | resend (yesterday's rows again)
    "stale_feed": {"mode": "empty"},
    # numeric form; the category form uses CATEGORY_SHIFT_DEFAULTS
    "covariate_shift": {"column": "first_response_minutes", "k": 1.0},
    "unseen_category": {"column": "channel", "value": "whatsapp", "share": 0.15},
    "null_flood": {"column": "sentiment", "fraction": 0.9},
    "duplicate_rows": {"fraction": 0.05},
    # strength 0 = clean model, 0.5 = no feature matters, 1 = every feature effect flipped
    "concept_drift": {"strength": 1.0, "days": 30},
    # numbers of bad outcome rows known on the day: labels for ticket ids that never existed,
    # labels delivered again for tickets labelled on an earlier day, escalated not in {0, 1}
    "bad_labels": {"unknown": 20, "duplicate": 20, "invalid": 10},
    # What the support assistant does (simulation/assistant.py), not what the CRM exports:
    # the same reply asked for `repeats` times within `minutes`,
    "agent_loop": {"repeats": 8, "minutes": 40},
    # the CRM's API failing for these tools from `from_hour` to `to_hour` (UTC),
    "tool_outage": {
        "tools": ["escalate_ticket", "issue_goodwill_credit"],
        "from_hour": 13,
        "to_hour": 17,
    },
    # one reply sent by a runtime that skipped the gate (logged, never approved).
    "unapproved_action": {},
}
# covariate_shift becomes a category-share shift when any of these keys is given.
CATEGORY_SHIFT_DEFAULTS: dict[str, Any] = {
    "category_column": "channel",
    "category": "social",
    "share": 0.4,
}
KINDS: tuple[str, ...] = tuple(DEFAULT_PARAMS)
WORLD_KINDS = ("covariate_shift", "unseen_category")
ROW_KINDS = ("stale_feed", "volume_drop", "duplicate_rows")
VALUE_KINDS = ("null_flood", "schema_change")
LABEL_KINDS = ("bad_labels",)
# Kinds only the agent checks can see: they change the assistant's tool calls, not the data.
AGENT_KINDS = ("agent_loop", "tool_outage", "unapproved_action")
# Kinds that leave every input check quiet: only the labels, or what people do with the
# model's outputs, can reveal them.
LABEL_ONLY_KINDS = ("concept_drift",)
# The retraining trigger each kind should cause (kinds not listed should cause none).
EXPECTED_TRIGGERS: dict[str, str] = {"concept_drift": "performance", "covariate_shift": "drift"}
# Ticket ids are numbered from 000001 (a day has a few thousand), so none reaches 900000: the
# unknown ids of a bad_labels incident are T<day>-9xxxxx and can never exist.
UNKNOWN_ID_BASE = 900_000
MAX_BAD_LABELS = 10_000  # per param; also the number of unknown ids to draw from


@dataclass(frozen=True)
class Incident:
    """One injected failure. ``params`` is completed with defaults and validated on creation.

    ``day`` accepts a ``date`` or an ISO string. Hashing uses ``(kind, day)`` only.
    """

    kind: str
    day: dt.date
    params: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in DEFAULT_PARAMS:
            raise ValueError(
                f"unknown incident kind {self.kind!r}; expected one of {', '.join(KINDS)}"
            )
        object.__setattr__(self, "day", _to_date(self.day, self.kind))
        if not isinstance(self.params, Mapping):
            raise ValueError(f"{self.kind}: params must be a mapping, got {self.params!r}")
        try:
            params = _NORMALISERS[self.kind](dict(self.params))
        except ValueError as err:
            raise ValueError(f"{self.kind} on {self.day}: {err}") from None
        object.__setattr__(self, "params", params)

    @property
    def last_day(self) -> dt.date:
        """The last day the incident affects: its own day, or ``days`` days from it."""
        return self.day + dt.timedelta(days=self.params.get("days", 1) - 1)

    def active_on(self, day: dt.date) -> bool:
        return self.day <= day <= self.last_day

    @property
    def label_only(self) -> bool:
        """True if no input check can see the incident: only labels (or people's feedback on
        the model's outputs) reveal it, as for a ``concept_drift``."""
        return self.kind in LABEL_ONLY_KINDS

    @property
    def assets(self) -> tuple[str, ...] | None:
        """The assets whose checks may detect it (None: any check on its days)."""
        return ("agent_actions",) if self.kind in AGENT_KINDS else None

    @property
    def expected_trigger(self) -> str | None:
        """The retraining trigger this incident should cause (``"performance"`` for a concept
        drift, ``"drift"`` for a covariate shift), or None if it should cause none."""
        return EXPECTED_TRIGGERS.get(self.kind)


def parse_incidents(spec: Iterable[Mapping[str, Any]] | None) -> list[Incident]:
    """Incidents from a list of dicts ``{"kind": ..., "day": ..., **params}``.

    Params may also be nested under a ``params`` key. ``None`` gives no incidents. Raises
    ``ValueError`` naming the entry, an unknown kind, or a bad/unknown param.
    """
    if spec is None:
        return []
    if isinstance(spec, Mapping | str | bytes):
        raise ValueError(f"incidents must be a list of mappings, got {type(spec).__name__}")
    out = []
    for i, entry in enumerate(spec):
        if not isinstance(entry, Mapping):
            raise ValueError(f"incident #{i}: expected a mapping, got {entry!r}")
        entry = dict(entry)
        kind, day = entry.pop("kind", None), entry.pop("day", None)
        if kind is None or day is None:
            raise ValueError(f"incident #{i}: needs 'kind' and 'day', got {sorted(entry)}")
        params = entry.pop("params", None) or {}
        if not isinstance(params, Mapping):
            raise ValueError(f"incident #{i} ({kind}): 'params' must be a mapping")
        clash = set(params) & set(entry)
        if clash:
            raise ValueError(f"incident #{i} ({kind}): param(s) given twice: {sorted(clash)}")
        try:
            out.append(Incident(kind=str(kind), day=day, params={**params, **entry}))
        except ValueError as err:
            raise ValueError(f"incident #{i}: {err}") from None
    return out


# --- selection ---------------------------------------------------------------------------------


def incidents_on(incidents: Iterable[Incident], day: dt.date) -> list[Incident]:
    """The incidents that change the landed data on ``day`` (every kind but concept_drift, which
    changes outcomes only), in the given order."""
    return [i for i in incidents if i.kind != "concept_drift" and i.active_on(day)]


def drift_strength_on(incidents: Iterable[Incident], day: dt.date) -> float:
    """Strength of the concept drift active on ``day`` (0.0 if none).

    If several are active the most recently started wins (the later-listed on a tie).
    """
    active = [i for i in incidents if i.kind == "concept_drift" and i.active_on(day)]
    if not active:
        return 0.0
    return float(max(enumerate(active), key=lambda p: (p[1].day, p[0]))[1].params["strength"])


# --- injection ---------------------------------------------------------------------------------

Pairs = list[tuple[Incident, np.random.Generator]]


def apply_world_incidents(tickets: pd.DataFrame, todays: Pairs) -> pd.DataFrame:
    """covariate_shift then unseen_category: the tickets themselves change."""
    df = tickets.copy()
    for kind in WORLD_KINDS:
        for incident, rng in todays:
            if incident.kind != kind:
                continue
            p = incident.params
            if kind == "unseen_category":
                df[p["column"]] = _set_share_rows(df[p["column"]], p["value"], p["share"], rng)
            elif "category_column" in p:
                df[p["category_column"]] = _shift_share(
                    df[p["category_column"]], p["category_column"], p["category"], p["share"], rng
                )
            else:
                df[p["column"]] = _shift_numeric(df[p["column"]], p["column"], p["k"])
    return df


def apply_row_incidents(
    tickets: pd.DataFrame, todays: Pairs, yesterday: Callable[[], pd.DataFrame]
) -> pd.DataFrame:
    """stale_feed, volume_drop, duplicate_rows: which rows land. ``yesterday()`` gives the
    previous day's landed batch (for a resend)."""
    df = tickets
    for kind in ROW_KINDS:
        for incident, rng in todays:
            if incident.kind != kind:
                continue
            p = incident.params
            n = len(df)
            if kind == "stale_feed":
                df = df.iloc[:0] if p["mode"] == "empty" else yesterday()
            elif kind == "volume_drop":
                keep = np.sort(rng.permutation(n)[: n - round(p["fraction"] * n)])
                df = df.iloc[keep]
            else:  # duplicate_rows: copies land right after their original
                picked = rng.choice(n, size=round(p["fraction"] * n), replace=False)
                positions = np.concatenate([np.arange(n), np.sort(picked)])
                df = df.iloc[positions[np.argsort(positions, kind="stable")]]
            df = df.reset_index(drop=True)
    return df


def apply_value_incidents(tickets: pd.DataFrame, todays: Pairs) -> pd.DataFrame:
    """null_flood then schema_change: what the landed rows look like."""
    df = tickets.copy()
    for kind in VALUE_KINDS:
        for incident, rng in todays:
            if incident.kind != kind:
                continue
            p = incident.params
            if p["column"] not in df.columns:
                raise ValueError(f"{kind} on {incident.day}: column {p['column']!r} not in batch")
            if kind == "null_flood":
                n = len(df)
                mask = np.zeros(n, dtype=bool)
                mask[rng.choice(n, size=round(p["fraction"] * n), replace=False)] = True
                df[p["column"]] = df[p["column"]].mask(mask)
            elif p["mode"] == "rename":
                df = df.rename(columns={p["column"]: p["new_name"]})
            elif p["mode"] == "drop":
                df = df.drop(columns=[p["column"]])
            else:  # retype: the column becomes text like "523 chars"
                values = df[p["column"]].tolist()
                text = [None if _isna(v) else p["template"].format(value=v) for v in values]
                df[p["column"]] = pd.array(np.asarray(text, dtype=object), dtype="str")
    return df


def apply_label_incidents(
    day: dt.date, todays: Pairs, recent_labels: Callable[[], pd.DataFrame]
) -> pd.DataFrame:
    """bad_labels: extra outcome rows, each with a ``known_at`` drawn uniformly (whole seconds)
    within ``day``. Returns ``ticket_id`` (str), ``escalated`` (int64), ``known_at``
    (datetime64[ns]); no rows when no bad_labels incident is on the day.

    ``recent_labels()`` gives the clean outcomes of the tickets of the last few days (those a
    label known on or just before ``day`` can belong to). Per incident, in this order:

    * ``unknown``: ids ``T<day>-9xxxxx`` (no ticket has one), escalated 0/1 at random;
    * ``duplicate``: tickets whose label became known before ``day``, delivered again with the
      same value (fewer if fewer recent tickets are labelled);
    * ``invalid``: tickets whose clean label is also known on ``day``, delivered a second time
      with escalated -1 or 2 (fewer if fewer labels are known on the day). Each therefore also
      makes its ticket labelled twice on the day.
    """
    rows = []
    pool: pd.DataFrame | None = None
    for incident, rng in todays:
        if incident.kind not in LABEL_KINDS:
            continue
        p = incident.params
        pool = recent_labels() if pool is None else pool
        start = pd.Timestamp(day)
        end = start + pd.Timedelta(days=1)
        before = pool[pool["known_at"] < start]
        today = pool[(pool["known_at"] >= start) & (pool["known_at"] < end)]

        numbers = np.sort(rng.choice(MAX_BAD_LABELS, size=p["unknown"], replace=False))
        ids = [f"T{day:%Y%m%d}-{UNKNOWN_ID_BASE + int(i):06d}" for i in numbers]
        unknown = pd.DataFrame({"ticket_id": ids, "escalated": rng.integers(0, 2, len(ids))})

        picked = rng.choice(len(before), size=min(p["duplicate"], len(before)), replace=False)
        duplicate = before.iloc[np.sort(picked)][["ticket_id", "escalated"]]

        picked = rng.choice(len(today), size=min(p["invalid"], len(today)), replace=False)
        invalid = today.iloc[np.sort(picked)][["ticket_id"]].assign(
            escalated=rng.choice(np.array([-1, 2]), size=len(picked))
        )
        for frame in (unknown, duplicate, invalid):
            seconds = rng.integers(0, 86_400, len(frame))
            rows.append(
                pd.DataFrame(
                    {
                        "ticket_id": frame["ticket_id"].to_numpy(dtype=object),
                        "escalated": frame["escalated"].to_numpy(dtype="int64"),
                        "known_at": start + pd.to_timedelta(seconds, unit="s"),
                    }
                )
            )
    if not rows:
        rows.append(pd.DataFrame({"ticket_id": [], "escalated": [], "known_at": []}))
    out = pd.concat(rows, ignore_index=True)
    return pd.DataFrame(
        {
            "ticket_id": pd.array(out["ticket_id"].to_numpy(dtype=object), dtype="str"),
            "escalated": out["escalated"].to_numpy(dtype="int64"),
            "known_at": out["known_at"].to_numpy(dtype="datetime64[ns]"),
        }
    )


def _isna(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _set_share_rows(s: pd.Series, value: str, share: float, rng: np.random.Generator) -> pd.Series:
    values = s.to_numpy(dtype=object, na_value=None).copy()
    values[rng.choice(len(values), size=round(share * len(values)), replace=False)] = value
    return pd.Series(pd.array(values, dtype="str"), index=s.index, name=s.name)


def _shift_share(
    s: pd.Series, column: str, category: str, share: float, rng: np.random.Generator
) -> pd.Series:
    """Make ``category`` exactly ``share`` of the rows: rows move into it at random, or out of it
    to the other values in proportion to their normal shares."""
    values = s.to_numpy(dtype=object, na_value=None).copy()
    is_cat = values == category
    target, current = round(share * len(values)), int(is_cat.sum())
    if target > current:
        moved = rng.choice(np.flatnonzero(~is_cat), size=target - current, replace=False)
        values[moved] = category
    elif target < current:
        moved = rng.choice(np.flatnonzero(is_cat), size=current - target, replace=False)
        others = {k: v for k, v in CATEGORY_SHARES[column].items() if k != category}
        p = np.array(list(others.values()))
        values[moved] = np.array(list(others), dtype=object)[
            rng.choice(len(others), size=len(moved), p=p / p.sum())
        ]
    return pd.Series(pd.array(values, dtype="str"), index=s.index, name=s.name)


def _shift_numeric(s: pd.Series, column: str, k: float) -> pd.Series:
    """Add ``k`` of the day's standard deviations, clipped into the column's valid range."""
    std = float(s.std(ddof=0)) if s.notna().any() else 0.0
    lo, hi = NUMERIC_BOUNDS[column]
    shifted = (s.astype("float64") + k * std).clip(lo, hi)
    if column in INTEGER_COLUMNS:
        return shifted.round().astype("int64")
    return shifted.round(3 if column == "sentiment" else 1)


# --- validation --------------------------------------------------------------------------------


def _to_date(day: Any, kind: str) -> dt.date:
    if isinstance(day, dt.datetime):
        return day.date()
    if isinstance(day, dt.date):
        return day
    try:
        return dt.date.fromisoformat(str(day))
    except ValueError:
        raise ValueError(f"{kind}: day must be a date or 'YYYY-MM-DD', got {day!r}") from None


def _take(params: dict, defaults: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"unknown param(s) {unknown}; allowed: {sorted(defaults)}")
    return {k: params.get(k, v) for k, v in defaults.items()}


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value!r}")
    return float(value)


def _choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def _schema_change(params: dict) -> dict[str, Any]:
    days = params.pop("days", 1)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be an int >= 1, got {days!r}")
    found = _schema_change_params(params)
    return {**found, **({"days": days} if days > 1 else {})}


def _schema_change_params(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["schema_change"])
    mode = _choice("mode", p["mode"], ("rename", "drop", "retype"))
    column = _choice("column", p["column"], TICKET_COLUMNS)
    irrelevant = {"rename": "template", "drop": "new_name template", "retype": "new_name"}[mode]
    for key in irrelevant.split():
        if key in params:
            raise ValueError(f"param {key!r} does not apply to mode {mode!r}")
    if mode == "rename":
        new_name = p["new_name"]
        if not isinstance(new_name, str) or not new_name or new_name in TICKET_COLUMNS:
            raise ValueError(f"new_name must be a new, non-empty column name, got {new_name!r}")
        return {"mode": mode, "column": column, "new_name": new_name}
    if mode == "retype":
        template = p["template"]
        try:
            if not isinstance(template, str) or "{value}" not in template:
                raise ValueError
            template.format(value=1)
        except (ValueError, KeyError, IndexError):
            raise ValueError(f"template must contain '{{value}}', got {template!r}") from None
        return {"mode": mode, "column": column, "template": template}
    return {"mode": mode, "column": column}


def _fraction_only(kind: str) -> Callable[[dict], dict[str, Any]]:
    def normalise(params: dict) -> dict[str, Any]:
        p = _take(params, DEFAULT_PARAMS[kind])
        return {"fraction": _number("fraction", p["fraction"], 0.0, 1.0)}

    return normalise


def _stale_feed(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["stale_feed"])
    return {"mode": _choice("mode", p["mode"], ("empty", "resend"))}


def _covariate_shift(params: dict) -> dict[str, Any]:
    days = int(_number("days", params.pop("days", 1), 1, 3650))
    return {**_shift_params(params), **({"days": days} if days > 1 else {})}


def _shift_params(params: dict) -> dict[str, Any]:
    if set(params) & set(CATEGORY_SHIFT_DEFAULTS):
        if set(params) & set(DEFAULT_PARAMS["covariate_shift"]):
            raise ValueError(
                "give either column/k (numeric shift) or category_column/category/share "
                "(category share shift), not both"
            )
        p = _take(params, CATEGORY_SHIFT_DEFAULTS)
        column = _choice("category_column", p["category_column"], CATEGORIES)
        return {
            "category_column": column,
            "category": _choice("category", p["category"], CATEGORIES[column]),
            "share": _number("share", p["share"], 0.0, 1.0),
        }
    p = _take(params, DEFAULT_PARAMS["covariate_shift"])
    return {
        "column": _choice("column", p["column"], NUMERIC_COLUMNS),
        "k": _number("k", p["k"], -1e6, 1e6),
    }


def _unseen_category(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["unseen_category"])
    column = _choice("column", p["column"], CATEGORIES)
    value = p["value"]
    if not isinstance(value, str) or not value or value in CATEGORIES[column]:
        raise ValueError(f"value must be a new {column} value, got {value!r}")
    return {"column": column, "value": value, "share": _number("share", p["share"], 0.0, 1.0)}


def _null_flood(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["null_flood"])
    return {
        "column": _choice("column", p["column"], TICKET_COLUMNS),
        "fraction": _number("fraction", p["fraction"], 0.0, 1.0),
    }


def _count(name: str, value: Any, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value <= hi:
        raise ValueError(f"{name} must be an int between 0 and {hi}, got {value!r}")
    return int(value)


def _bad_labels(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["bad_labels"])
    return {
        name: _count(name, p[name], MAX_BAD_LABELS) for name in ("unknown", "duplicate", "invalid")
    }


def _concept_drift(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["concept_drift"])
    days = p["days"]
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be an int >= 1, got {days!r}")
    return {"strength": _number("strength", p["strength"], 0.0, 1.0), "days": days}


def _agent_loop(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["agent_loop"])
    repeats = _count("repeats", p["repeats"], 100)
    if repeats < 2:
        raise ValueError(f"repeats must be at least 2 (a loop repeats), got {repeats}")
    return {"repeats": repeats, "minutes": _number("minutes", p["minutes"], 1.0, 600.0)}


def _tool_outage(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["tool_outage"])
    tools = p["tools"]
    if (
        not isinstance(tools, list | tuple)
        or not tools
        or not all(isinstance(t, str) for t in tools)
    ):
        raise ValueError(f"tools must be a non-empty list of tool names, got {tools!r}")
    start, end = _count("from_hour", p["from_hour"], 23), _count("to_hour", p["to_hour"], 24)
    if end <= start:
        raise ValueError(f"to_hour ({end}) must be after from_hour ({start})")
    return {"tools": list(tools), "from_hour": start, "to_hour": end}


_NORMALISERS: dict[str, Callable[[dict], dict[str, Any]]] = {
    "schema_change": _schema_change,
    "volume_drop": _fraction_only("volume_drop"),
    "stale_feed": _stale_feed,
    "covariate_shift": _covariate_shift,
    "unseen_category": _unseen_category,
    "null_flood": _null_flood,
    "duplicate_rows": _fraction_only("duplicate_rows"),
    "concept_drift": _concept_drift,
    "bad_labels": _bad_labels,
    "agent_loop": _agent_loop,
    "tool_outage": _tool_outage,
    "unapproved_action": lambda params: _take(params, {}),
}

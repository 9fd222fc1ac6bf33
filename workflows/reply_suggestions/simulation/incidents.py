"""The reply-suggestions world's incidents: an :class:`Incident` is ``(kind, day, params)``.

Missing params take the defaults in :data:`DEFAULT_PARAMS`; an unknown kind or param, or a bad
value, raises ``ValueError`` naming it. ``parse_incidents`` reads the YAML scenario form::

    - {kind: kb_article_changed, day: 2026-02-10, article_id: KB-001}
    - {kind: provider_update, day: "2026-02-20", share: 0.3}

Only ``kb_article_changed`` changes the simulated data (the knowledge base and the questions
written from it, see :mod:`.knowledge_base` and :mod:`.tickets`). The other kinds act on the
reply pipeline, which reads their params:

* ``provider_update``: the generator's provider ships a new model that adds an unsupported
  number to ``share`` of the replies, for ``days`` days;
* ``prompt_regression_edge``: a refined prompt registered as a challenger that fixes
  ``common_gain`` of the failing replies on common questions and spoils ``edge_loss`` of the
  replies on edge-case questions;
* ``ranking_regression``: the ranker demotes the best passage in ``share`` of the rankings, for
  ``days`` days.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows.reply_suggestions.simulation.knowledge_base import ARTICLE_IDS

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "kb_article_changed": {"article_id": "KB-001"},
    "provider_update": {"share": 0.3, "days": 30},
    "prompt_regression_edge": {"common_gain": 0.1, "edge_loss": 0.5},
    "ranking_regression": {"share": 0.5, "days": 30},
}
KINDS: tuple[str, ...] = tuple(DEFAULT_PARAMS)
# Kinds that change the simulated source (the rest act on the pipeline only).
DATA_KINDS: tuple[str, ...] = ("kb_article_changed",)


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
    def last_day(self) -> dt.date | None:
        """The last day the incident acts on (None: from its day on, for good)."""
        if "days" not in self.params:
            return None
        return self.day + dt.timedelta(days=self.params["days"] - 1)

    def active_on(self, day: dt.date) -> bool:
        last = self.last_day
        return self.day <= day and (last is None or day <= last)


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


def active(incidents: Iterable[Incident], kind: str, day: dt.date) -> list[Incident]:
    """The incidents of ``kind`` acting on ``day``, in the given order."""
    if kind not in DEFAULT_PARAMS:
        raise ValueError(f"unknown incident kind {kind!r}; expected one of {', '.join(KINDS)}")
    return [i for i in incidents if i.kind == kind and i.active_on(day)]


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


def _share(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def _days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3650:
        raise ValueError(f"days must be an int between 1 and 3650, got {value!r}")
    return value


def _kb_article_changed(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["kb_article_changed"])
    if p["article_id"] not in ARTICLE_IDS:
        raise ValueError(
            f"article_id must name a knowledge-base article (KB-001 .. {ARTICLE_IDS[-1]}), "
            f"got {p['article_id']!r}"
        )
    return {"article_id": p["article_id"]}


def _share_for_days(kind: str) -> Callable[[dict], dict[str, Any]]:
    def normalise(params: dict) -> dict[str, Any]:
        p = _take(params, DEFAULT_PARAMS[kind])
        return {"share": _share("share", p["share"]), "days": _days(p["days"])}

    return normalise


def _prompt_regression_edge(params: dict) -> dict[str, Any]:
    p = _take(params, DEFAULT_PARAMS["prompt_regression_edge"])
    return {name: _share(name, p[name]) for name in ("common_gain", "edge_loss")}


_NORMALISERS: dict[str, Callable[[dict], dict[str, Any]]] = {
    "kb_article_changed": _kb_article_changed,
    "provider_update": _share_for_days("provider_update"),
    "prompt_regression_edge": _prompt_regression_edge,
    "ranking_regression": _share_for_days("ranking_regression"),
}

"""The agent checks and the workflow owner's agent view, from the audit log's rows.

Every tool call an agent makes leaves rows in the audit log, all sharing the request's id: the
request (`pending`, or at once `approved`/`denied` by the gate), a decision (`approved`,
`denied`, `cancelled`, `expired`) and the execution (`executed`, with an error when the tool
failed). `requests_table` folds them into one row per request; the checks read that table:

* an irreversible action executed with no person's approval of its exact arguments on record
  (a runtime that bypassed the gate, or an approval of other arguments) is an ERROR;
* a tool whose executions fail too often is an ERROR (a broken downstream system);
* one tool requested for one entity too often within an hour is an ERROR (an agent in a loop);
* a tool whose requests are refused (denied, cancelled, expired) far more often than usual is a
  WARN (the agent asks for things people do not want).

Each check judges whole requests: pass every row of the requests it should see (see
`touched_requests`); a request whose earlier rows are missing would look like one that
bypassed the gate.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
import pandas as pd
from scipy.stats import binom

from checks.action_classes import DISPOSITIONS, GATE
from checks.policy import AgentActionRules

AUDIT_COLUMNS = (
    "seq",
    "at",
    "request_id",
    "agent_id",
    "agent_version",
    "tool",
    "action_class",
    "digest",
    "disposition",
    "actor",
    "error",
    "context",
    "reason",
)
DECISIONS = ("approved", "denied", "cancelled", "expired")
REFUSALS = ("denied", "cancelled", "expired")

REQUEST_COLUMNS = (
    "request_id",
    "tool",
    "action_class",
    "entity",
    "agent_id",
    "agent_version",
    "digest",
    "requested_at",
    "decision",
    "decided_at",
    "decided_by",
    "approved_by_person",
    "executed",
    "executed_at",
    "error",
    "approval_minutes",
)


# The severity each check raises (the policy's words: ERROR for harm done, WARN for a trend).


def _records(table: pd.DataFrame | Iterable[Mapping]) -> list[Mapping]:
    # The describe_* helpers read a check's table, or its rows as stored JSON records (times as
    # ISO text): the asset keeps the records, the check describes them later.
    if isinstance(table, pd.DataFrame):
        return table.to_dict("records")
    return list(table)


def empty_rows() -> pd.DataFrame:
    """An audit-row frame with no rows and the columns `requests_table` reads."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in AUDIT_COLUMNS})
    frame["seq"] = frame["seq"].astype("int64")
    frame["at"] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def _objects(values: pd.Series) -> pd.Series:
    # Text columns as Python objects with None for missing: pandas' own text dtype turns None
    # into NaN, and "no error" must stay None for the callers that test `is None`.
    return values.astype(object).where(values.notna(), None)


def _entity(context: object, key: str) -> object:
    if context is None or (isinstance(context, float) and np.isnan(context)):
        return None
    if not isinstance(context, Mapping):
        raise TypeError(
            f"audit row context must be a mapping (the parsed JSON), not {type(context).__name__}"
        )
    return context.get(key)


def _validated(rows: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in AUDIT_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"audit rows lack the columns {', '.join(missing)}")
    bad = sorted(set(rows["disposition"].dropna()) - set(DISPOSITIONS))
    if bad or rows["disposition"].isna().any():
        raise ValueError(
            f"audit rows hold unknown dispositions {bad or ['<missing>']}; "
            f"expected one of {', '.join(DISPOSITIONS)}"
        )
    at = rows["at"]
    if not isinstance(at.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"audit rows' `at` must be tz-aware datetimes, not {at.dtype}")
    return rows.sort_values("seq", kind="stable")


def requests_table(rows: pd.DataFrame, entity_key: str = "entity_id") -> pd.DataFrame:
    """One row per request (columns `REQUEST_COLUMNS`), in the order requests began.

    The request's tool, class, digest and entity (`context[entity_key]`) come from its first
    row; `decision` from its first decision row (the gate allows one); `approved_by_person`
    when an `approved` row written by someone other than the gate carries the request's own
    digest; `approval_minutes` is the time from request to a person's decision (approve, deny
    or cancel). A request whose first row is `executed` (a runtime that logged a call without
    asking) has decision None."""
    rows = _validated(rows)
    if rows.empty:
        return _empty_requests()
    first = rows.drop_duplicates("request_id", keep="first").set_index("request_id")
    out = pd.DataFrame(index=first.index)
    for column in ("tool", "action_class", "agent_id", "agent_version", "digest"):
        out[column] = _objects(first[column])
    out["entity"] = [_entity(c, entity_key) for c in first["context"]]
    out["requested_at"] = first["at"]

    decided = rows[rows["disposition"].isin(DECISIONS)].drop_duplicates("request_id")
    decided = decided.set_index("request_id").reindex(out.index)
    out["decision"] = _objects(decided["disposition"])
    out["decided_at"] = decided["at"]
    out["decided_by"] = _objects(decided["actor"])

    approvals = rows[(rows["disposition"] == "approved") & (rows["actor"] != GATE)]
    bound = approvals["digest"].to_numpy() == out["digest"].reindex(approvals["request_id"])
    out["approved_by_person"] = out.index.isin(approvals["request_id"][bound.to_numpy()])

    done = rows[rows["disposition"] == "executed"].drop_duplicates("request_id")
    done = done.set_index("request_id").reindex(out.index)
    out["executed"] = done["at"].notna()
    out["executed_at"] = done["at"]
    error = _objects(done["error"])
    out["error"] = error.where(error.map(lambda e: isinstance(e, str) and e != ""), None)

    by_person = out["decision"].notna() & (out["decided_by"] != GATE)
    minutes = (out["decided_at"] - out["requested_at"]) / pd.Timedelta(minutes=1)
    out["approval_minutes"] = minutes.where(by_person)
    return out.reset_index()[list(REQUEST_COLUMNS)]


def _empty_requests() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in REQUEST_COLUMNS})
    for column in ("requested_at", "decided_at", "executed_at"):
        frame[column] = pd.Series(dtype="datetime64[ns, UTC]")
    frame["approved_by_person"] = frame["approved_by_person"].astype(bool)
    frame["executed"] = frame["executed"].astype(bool)
    frame["approval_minutes"] = frame["approval_minutes"].astype(float)
    return frame


def touched_requests(rows: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Every row of each request that has a row in [start, end): a day's requests whole, so a
    request asked for yesterday and executed today keeps its approval."""
    inside = (rows["at"] >= start) & (rows["at"] < end)
    return rows[rows["request_id"].isin(rows.loc[inside, "request_id"])]


def unapproved_irreversible(requests: pd.DataFrame) -> pd.DataFrame:
    """Executed irreversible requests with no person's approval of their digest on record:
    request_id, tool, entity, executed_at, and what the log does say (decision, decided_by)."""
    hit = (
        requests["executed"]
        & (requests["action_class"] == "irreversible")
        & ~requests["approved_by_person"]
    )
    columns = ["request_id", "tool", "entity", "executed_at", "decision", "decided_by", "agent_id"]
    return requests.loc[hit, columns].sort_values("executed_at").reset_index(drop=True)


def describe_unapproved(found: pd.DataFrame | Iterable[Mapping]) -> str:
    """One sentence naming each request `unapproved_irreversible` listed (its id, tool,
    entity, time and what the log says of it)."""
    rows = _records(found)
    if not rows:
        return "every executed irreversible action has a person's approval on record"
    listed = "; ".join(
        f"{r['tool']} request {r['request_id']} for {r['entity']} at {_clock(r['executed_at'])} "
        f"({_what_log_says(r['decision'], r['decided_by'])})"
        for r in rows
    )
    return (
        f"{len(rows)} irreversible action(s) executed without a person's approval on record: "
        f"{listed}"
    )


def _what_log_says(decision: object, decided_by: object) -> str:
    if decision is None:
        return "never asked the gate"
    if decision == "approved" and decided_by == GATE:
        return "approved only by the gate"
    if decision == "approved":
        return f"{decided_by} approved other arguments"
    return f"{decision} by {decided_by}, executed anyway"


def _clock(moment: object) -> str:
    return pd.Timestamp(moment).strftime("%Y-%m-%d %H:%M UTC")


_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_HEX_ID = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")


def error_pattern(text: str) -> str:
    """An error message with its ids and numbers blanked, so that one failure mode reads as one
    pattern ("CRM timeout for ticket T-<n> after <n>s") whatever ticket or delay it hit."""
    text = _UUID.sub("<id>", text)
    text = _HEX_ID.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACES.sub(" ", text).strip()


def _top_patterns(errors: Iterable[str], top: int = 3) -> tuple[tuple[str, int], ...]:
    counts = pd.Series([error_pattern(e) for e in errors], dtype=object).value_counts()
    return tuple((str(p), int(n)) for p, n in counts.head(top).items())


def tool_error_rates(requests: pd.DataFrame, rules: AgentActionRules) -> pd.DataFrame:
    """Per tool executed: executions, errors, rate, the top 3 error patterns with their counts,
    and `failing` (rate above `error_rate_max` over at least `error_min_calls` executions)."""
    ran = requests[requests["executed"]]
    out = []
    for tool, group in ran.groupby("tool", sort=True):
        errors = group["error"].dropna()
        rate = len(errors) / len(group)
        out.append(
            {
                "tool": tool,
                "executions": len(group),
                "errors": len(errors),
                "rate": rate,
                "patterns": _top_patterns(errors),
                "failing": bool(
                    rate > rules.error_rate_max and len(group) >= rules.error_min_calls
                ),
            }
        )
    columns = ["tool", "executions", "errors", "rate", "patterns", "failing"]
    return pd.DataFrame(out, columns=columns)


def describe_errors(
    table: pd.DataFrame | Iterable[Mapping], rules: AgentActionRules | None = None
) -> str:
    """One sentence naming each failing tool of `tool_error_rates` (the whole table or only its
    failing rows), its failures and its commonest error patterns."""
    failing = [r for r in _records(table) if r["failing"]]
    limit = f" (agent_actions.error_rate_max is {rules.error_rate_max:.0%})" if rules else ""
    if not failing:
        return f"no tool failed more often than the policy allows{limit}"
    listed = "; ".join(
        f"{r['tool']} failed {r['errors']} of {r['executions']} executions ({r['rate']:.0%}), "
        "mostly " + ", ".join(f"'{p}' x{n}" for p, n in r["patterns"])
        for r in failing
    )
    return listed + limit


_WINDOW = pd.Timedelta(minutes=60)
BURST_COLUMNS = ("tool", "entity", "requests", "first_at", "last_at", "same_digest", "total")


def bursts(requests: pd.DataFrame, rules: AgentActionRules) -> pd.DataFrame:
    """(tool, entity) pairs requested more than `burst_max_per_hour` times within one 60-minute
    window (rolling from each request, not clock hours): the count in the densest window, its
    first and last request, how many of those carried the same digest (the same arguments sent
    again and again), and the pair's total. Requests with no entity are not judged."""
    frame = requests.loc[requests["entity"].notna(), ["tool", "entity", "requested_at", "digest"]]
    if frame.empty:
        return pd.DataFrame(columns=list(BURST_COLUMNS))
    # Entities compare as text: an id may arrive as a number from one runtime, text from another.
    frame = frame.assign(key=frame["entity"].map(str))
    frame = frame.sort_values(["tool", "key", "requested_at"], kind="stable").reset_index(drop=True)
    group = frame.groupby(["tool", "key"], sort=False).ngroup().to_numpy()
    micros = (frame["requested_at"] - frame["requested_at"].min()) // pd.Timedelta(microseconds=1)
    micros = micros.to_numpy(dtype="int64")
    window = _WINDOW // pd.Timedelta(microseconds=1)
    # One sorted key per (group, time) so that one searchsorted finds every window's end: groups
    # sit further apart than any window can reach.
    stride = int(micros.max()) + window + 1
    key = group.astype("int64") * stride + micros
    ends = np.searchsorted(key, key + window, side="left")
    counts = ends - np.arange(len(key))
    frame["count"] = counts
    densest = frame.groupby(group)["count"].idxmax()
    out = []
    totals = np.bincount(group)
    for g, start in densest.items():
        n = int(counts[start])
        if n <= rules.burst_max_per_hour:
            continue
        inside = frame.iloc[start : start + n]
        out.append(
            {
                "tool": inside["tool"].iloc[0],
                "entity": inside["entity"].iloc[0],
                "requests": n,
                "first_at": inside["requested_at"].iloc[0],
                "last_at": inside["requested_at"].iloc[-1],
                "same_digest": int(inside["digest"].value_counts().iloc[0]),
                "total": int(totals[g]),
            }
        )
    table = pd.DataFrame(out, columns=list(BURST_COLUMNS))
    return table.sort_values(["requests", "tool"], ascending=[False, True]).reset_index(drop=True)


def describe_bursts(
    table: pd.DataFrame | Iterable[Mapping], rules: AgentActionRules | None = None
) -> str:
    """One sentence naming each (tool, entity) burst, its window and its repeated arguments."""
    rows = _records(table)
    limit = f" (agent_actions.burst_max_per_hour is {rules.burst_max_per_hour})" if rules else ""
    if not rows:
        return f"no tool was requested for one entity beyond the hourly limit{limit}"
    listed = "; ".join(
        f"{r['tool']} requested {r['requests']} times for {r['entity']} between "
        f"{_clock(r['first_at'])} and {_clock(r['last_at'])} "
        f"({r['same_digest']} with the same arguments)"
        for r in rows
    )
    return f"a tool requested in a loop: {listed}{limit}"


REFUSAL_COLUMNS = (
    "tool",
    "decided",
    "refusals",
    "denied",
    "cancelled",
    "expired",
    "share",
    "trailing_decided",
    "trailing_refusals",
    "trailing_share",
    "judged",
    "rising",
    "why",
)


def _refusal_counts(requests: pd.DataFrame) -> dict[str, Counter]:
    # A plain count per (tool, decision): a crosstab costs some ten times more, and the check
    # runs once per tool per day over small tables.
    counts: dict[str, Counter] = {}
    decided = requests["decision"].notna()
    for tool, decision in zip(
        requests["tool"][decided], requests["decision"][decided], strict=True
    ):
        counts.setdefault(tool, Counter())[decision] += 1
    return counts


def refusal_rates(
    today: pd.DataFrame, trailing: pd.DataFrame, rules: AgentActionRules
) -> pd.DataFrame:
    """Per tool decided today: refusals (denied + cancelled + expired) over decided requests,
    against the trailing days' pooled share (`trailing`: the requests table of the
    `trailing_days` before today).

    Judged only with at least `min_requests` decisions today. `rising` when the share is above
    `refusal_floor` and today's refusals are improbable at the trailing share: the one-sided
    binomial tail P(X >= refusals | decided, trailing share) is below `refusal_alpha`. A day of
    a dozen decisions varies a lot, so a ratio of shares alone would cry wolf; the tail says
    how surprising the day is at its own size. The trailing share is smoothed ((refusals + 1)
    / (decided + 2)) so a tool never refused before is not flagged for its first refusal, and
    counts only over at least `min_requests` trailing decisions; without such a history the
    absolute limit `refusal_rate_max` applies alone."""
    now = _refusal_counts(today)
    before = _refusal_counts(trailing)
    out = []
    for tool in sorted(now):
        row, past = now[tool], before.get(tool, Counter())
        decided, refusals = row.total(), sum(row[d] for d in REFUSALS)
        share = refusals / decided
        t_decided, t_refusals = past.total(), sum(past[d] for d in REFUSALS)
        history = t_decided >= rules.min_requests
        t_share = t_refusals / t_decided if history else float("nan")
        judged = decided >= rules.min_requests
        why = ""
        if judged and history and share > rules.refusal_floor:
            expected = (t_refusals + 1) / (t_decided + 2)
            tail = float(binom.sf(refusals - 1, decided, expected))
            if tail < rules.refusal_alpha:
                why = (
                    f"{share:.0%} refused against {t_share:.0%} on the trailing days (chance "
                    f"{tail:.2g} at that share, below agent_actions.refusal_alpha "
                    f"{rules.refusal_alpha:g})"
                )
        elif judged and not history and share > rules.refusal_rate_max:
            why = (
                f"{share:.0%} refused, above agent_actions.refusal_rate_max "
                f"{rules.refusal_rate_max:.0%} (no trailing history yet)"
            )
        out.append(
            {
                "tool": tool,
                "decided": decided,
                "refusals": refusals,
                "denied": int(row["denied"]),
                "cancelled": int(row["cancelled"]),
                "expired": int(row["expired"]),
                "share": share,
                "trailing_decided": t_decided,
                "trailing_refusals": t_refusals,
                "trailing_share": t_share,
                "judged": judged,
                "rising": bool(why),
                "why": why,
            }
        )
    return pd.DataFrame(out, columns=list(REFUSAL_COLUMNS))


def describe_refusals(
    table: pd.DataFrame | Iterable[Mapping], rules: AgentActionRules | None = None
) -> str:
    """One sentence naming each tool whose refusal share rose (the whole `refusal_rates`
    table or only its rising rows)."""
    rows = _records(table)
    rising = [r for r in rows if r["rising"]]
    if not rising:
        judged = sum(bool(r["judged"]) for r in rows)
        least = f" with at least {rules.min_requests} decisions" if rules else ""
        return f"no rising refusal share ({judged} tool(s){least} judged)"
    return "; ".join(
        f"{r['tool']}: {r['refusals']} of {r['decided']} decided requests refused "
        f"({r['denied']} denied, {r['cancelled']} cancelled, {r['expired']} expired): {r['why']}"
        for r in rising
    )


VIEW_COLUMNS = (
    "tool",
    "action_class",
    "requests",
    "executed",
    "errors",
    "success_rate",
    "top_error",
    "approval_median_minutes",
    "approval_p90_minutes",
    "approved",
    "approved_by_person",
    "denied",
    "cancelled",
    "expired",
    "open",
    "undeclared_denials",
)


def action_view(requests: pd.DataFrame) -> pd.DataFrame:
    """The workflow owner's view, one row per tool: volume, success rate (executions without
    an error over executions; NaN with none), errors and the most common error pattern, the
    latency of people's approvals (median and 90th percentile, minutes), the decisions, the
    requests still open, and denials of undeclared tools (whose name the tool column holds)."""
    out = []
    for tool, group in requests.groupby("tool", sort=True):
        ran = group[group["executed"]]
        errors = ran["error"].dropna()
        minutes = group.loc[
            (group["decision"] == "approved") & group["approved_by_person"], "approval_minutes"
        ].dropna()
        decision = group["decision"]
        top = _top_patterns(errors, top=1)
        out.append(
            {
                "tool": tool,
                "action_class": group["action_class"].mode().iloc[0],
                "requests": len(group),
                "executed": len(ran),
                "errors": len(errors),
                "success_rate": 1 - len(errors) / len(ran) if len(ran) else float("nan"),
                "top_error": top[0][0] if top else None,
                "approval_median_minutes": float(minutes.median()) if len(minutes) else np.nan,
                "approval_p90_minutes": float(minutes.quantile(0.9)) if len(minutes) else np.nan,
                "approved": int((decision == "approved").sum()),
                "approved_by_person": int(group["approved_by_person"].sum()),
                "denied": int((decision == "denied").sum()),
                "cancelled": int((decision == "cancelled").sum()),
                "expired": int((decision == "expired").sum()),
                "open": int((decision.isna() & ~group["executed"]).sum()),
                "undeclared_denials": int(
                    ((decision == "denied") & (group["action_class"] == "undeclared")).sum()
                ),
            }
        )
    return pd.DataFrame(out, columns=list(VIEW_COLUMNS))

"""The agent checks on hand-built audit rows, and their error rates on simulated days."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from checks.agent_actions import (
    AUDIT_COLUMNS,
    action_view,
    bursts,
    describe_bursts,
    describe_errors,
    describe_refusals,
    describe_unapproved,
    empty_rows,
    error_pattern,
    refusal_rates,
    requests_table,
    tool_error_rates,
    touched_requests,
    unapproved_irreversible,
)
from checks.policy import AgentActionRules

RULES = AgentActionRules()
# The hand-built cases below were reasoned at a 20% error limit and a 2x refusal rise.
HAND = AgentActionRules(error_rate_max=0.2)


def stored(table: pd.DataFrame) -> list[dict]:
    """A check's table as the asset stores it: JSON records, times as ISO text."""
    return json.loads(table.to_json(orient="records", date_format="iso"))


DAY = pd.Timestamp("2026-03-02", tz="UTC")
MIN = pd.Timedelta(minutes=1)


class Log:
    """Audit rows as the gate writes them, built by hand."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._ids = itertools.count(1)

    def row(
        self,
        request_id,
        disposition,
        at,
        *,
        tool="send_reply",
        action_class="irreversible",
        actor="agent-1",
        digest="d-1",
        entity="T-1",
        error=None,
    ):
        self.rows.append(
            {
                "seq": len(self.rows) + 1,
                "at": at,
                "request_id": request_id,
                "agent_id": "agent-1",
                "agent_version": "v3",
                "tool": tool,
                "action_class": action_class,
                "digest": digest,
                "disposition": disposition,
                "actor": actor,
                "error": error,
                "context": {"entity_id": entity, "score": 0.9},
                "reason": "",
            }
        )

    def request(
        self,
        at,
        *,
        decision="approved",
        by="alice",
        after=10.0,
        executed=True,
        error=None,
        approved_digest=None,
        **kw,
    ) -> str:
        """One request: pending (unless the gate decides at once), a decision `after` minutes,
        then its execution a minute later when approved and `executed`."""
        rid = f"r{next(self._ids)}"
        digest = kw.get("digest", "d-1")
        if by != "gate" or decision != "approved":
            self.row(rid, "pending", at, **kw)
        decided = at + after * MIN
        if decision is not None:
            row_kw = {**kw, "digest": approved_digest or digest}
            self.row(rid, decision, decided, actor=by, **row_kw)
        if executed and decision in ("approved", None):
            self.row(rid, "executed", decided + MIN, error=error, **kw)
        return rid

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.rows, columns=list(AUDIT_COLUMNS))
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame


# ---- the requests table ------------------------------------------------------------------


def test_a_request_folds_into_one_row_with_its_decision_execution_and_latency():
    log = Log()
    log.request(DAY + 9 * 60 * MIN, by="alice", after=12, error="CRM 503 for T-1")
    table = requests_table(log.frame())
    assert len(table) == 1
    r = table.iloc[0]
    assert (r.tool, r.action_class, r.entity, r.decision, r.decided_by) == (
        "send_reply",
        "irreversible",
        "T-1",
        "approved",
        "alice",
    )
    assert r.approved_by_person and r.executed and r.error == "CRM 503 for T-1"
    assert r.approval_minutes == pytest.approx(12.0)
    assert r.requested_at == DAY + 9 * 60 * MIN and r.executed_at == DAY + (9 * 60 + 13) * MIN


def test_a_call_logged_without_asking_the_gate_still_appears_with_no_decision():
    log = Log()
    log.row("r9", "executed", DAY, entity="T-7")
    r = requests_table(log.frame()).iloc[0]
    assert r.decision is None and r.decided_by is None and r.error is None
    assert r.executed and not r.approved_by_person and np.isnan(r.approval_minutes)
    assert r.entity == "T-7"


def test_gate_decisions_have_no_approval_latency_and_an_empty_log_gives_an_empty_table():
    log = Log()
    log.request(DAY, tool="escalate", action_class="reversible", by="gate", after=0)
    r = requests_table(log.frame()).iloc[0]
    assert r.decision == "approved" and r.decided_by == "gate" and not r.approved_by_person
    assert np.isnan(r.approval_minutes)
    empty = requests_table(empty_rows())
    assert empty.empty and "approved_by_person" in empty.columns
    assert unapproved_irreversible(empty).empty and bursts(empty, RULES).empty
    assert tool_error_rates(empty, RULES).empty and action_view(empty).empty
    assert refusal_rates(empty, empty, RULES).empty


def test_rows_that_cannot_be_read_are_refused_with_the_problem_named():
    frame = Log().frame().drop(columns=["digest"])
    with pytest.raises(ValueError, match="lack the columns digest"):
        requests_table(frame)
    log = Log()
    log.row("r1", "approvedd", DAY)
    with pytest.raises(ValueError, match="unknown dispositions \\['approvedd'\\]"):
        requests_table(log.frame())
    naive = log.frame().assign(at=pd.Timestamp("2026-03-02"), disposition="pending")
    with pytest.raises(ValueError, match="tz-aware"):
        requests_table(naive)


def test_touched_requests_keeps_yesterdays_approval_of_todays_execution():
    log = Log()
    log.request(DAY - 20 * MIN, after=15, executed=False)  # approved before midnight
    log.row("r1", "executed", DAY + 5 * MIN)
    log.request(DAY - 120 * MIN, after=5)  # wholly yesterday
    rows = touched_requests(log.frame(), DAY, DAY + pd.Timedelta(days=1))
    table = requests_table(rows)
    assert list(table["request_id"]) == ["r1"] and table.iloc[0].approved_by_person
    assert unapproved_irreversible(table).empty


# ---- irreversible actions without an approval ---------------------------------------------


def test_irreversible_executions_without_a_persons_approval_of_their_arguments_are_listed():
    log = Log()
    at = DAY + 10 * 60 * MIN
    approved = log.request(at, entity="T-1")
    log.row("bypass", "executed", at + 30 * MIN, entity="T-2")
    gate_only = log.request(at, by="gate", after=0, entity="T-3")
    other_args = log.request(at, entity="T-4", approved_digest="d-other")
    log.request(at, tool="escalate", action_class="reversible", by="gate", after=0, entity="T-5")
    log.request(at, decision="denied", entity="T-6")  # denied, never executed
    log.request(at, decision=None, executed=False, entity="T-7")  # still pending
    table = requests_table(log.frame())
    found = unapproved_irreversible(table)
    assert list(found["request_id"]) == [gate_only, other_args, "bypass"]
    assert approved not in set(found["request_id"])
    assert list(found["entity"]) == ["T-3", "T-4", "T-2"]
    sentence = describe_unapproved(found)
    assert sentence.startswith("3 irreversible action(s) executed without a person's approval")
    assert "send_reply request bypass for T-2 at 2026-03-02 10:30 UTC (never asked the gate)" in (
        sentence
    )
    assert "approved only by the gate" in sentence
    assert "alice approved other arguments" in sentence
    assert describe_unapproved(stored(found)) == sentence  # the stored records read the same
    assert describe_unapproved([]).startswith("every executed irreversible action has")


# ---- error rates -------------------------------------------------------------------------


def test_error_patterns_blank_ids_and_numbers():
    a = error_pattern("CRM 503 for ticket T-1042 (request 3f2a9c1e77b0) after 30.5s")
    b = error_pattern("CRM 500 for ticket T-77 (request 0b9e44aa12cd)  after 2s")
    assert a == b == "CRM <n> for ticket T-<n> (request <id>) after <n>s"
    uuid = error_pattern("no such request 123e4567-e89b-12d3-a456-426614174000")
    assert uuid == "no such request <id>"


def test_a_tool_fails_above_the_rate_only_over_enough_executions():
    log = Log()
    kw = {"tool": "crm", "action_class": "reversible", "by": "gate", "after": 0}
    for i in range(10):  # 3 of 10 fail: 30% > 20%
        log.request(DAY + i * MIN, error=f"CRM 503 for T-{i}" if i < 3 else None, **kw)
    for i in range(9):  # 9 executions all failing: too few to judge
        log.request(DAY + i * MIN, error="SMTP refused", **{**kw, "tool": "mail"})
    for i in range(10):  # exactly 20%: not above the limit
        log.request(DAY + i * MIN, error="slow" if i < 2 else None, **{**kw, "tool": "calendar"})
    table = tool_error_rates(requests_table(log.frame()), HAND).set_index("tool")
    assert table.loc["crm", "failing"] and table.loc["crm", "rate"] == pytest.approx(0.3)
    assert table.loc["crm", "patterns"] == (("CRM <n> for T-<n>", 3),)
    assert not table.loc["mail", "failing"] and table.loc["mail", "rate"] == 1.0
    assert not table.loc["calendar", "failing"]
    sentence = describe_errors(table.reset_index(), HAND)
    assert sentence == (
        "crm failed 3 of 10 executions (30%), mostly 'CRM <n> for T-<n>' x3 "
        "(agent_actions.error_rate_max is 20%)"
    )
    assert describe_errors(stored(table.reset_index())) == sentence.split(" (agent_")[0]
    assert describe_errors([]).startswith("no tool failed")


# ---- bursts ------------------------------------------------------------------------------


def test_a_burst_is_judged_on_rolling_windows_not_clock_hours():
    log = Log()
    # Four across a clock hour's edge (10:40..11:10): two per clock hour, four within 30 min.
    for m in (40, 50, 60, 70):
        log.request(DAY + (10 * 60 + m) * MIN, entity="T-1", digest=f"d-{m % 20}")
    # Four spread over 61 minutes: no 60-minute window holds more than three.
    for m in (0, 20, 40, 61):
        log.request(DAY + m * MIN, entity="T-2")
    # Four for four different entities at once: not a loop on one entity.
    for e in range(4):
        log.request(DAY, entity=f"T-{10 + e}")
    found = bursts(requests_table(log.frame()), RULES)
    assert len(found) == 1
    r = found.iloc[0]
    assert (r.tool, r.entity, r.requests, r.total, r.same_digest) == ("send_reply", "T-1", 4, 4, 2)
    assert r.first_at == DAY + 640 * MIN and r.last_at == DAY + 670 * MIN
    assert bursts(requests_table(log.frame()), AgentActionRules(burst_max_per_hour=4)).empty


# ---- refusals ------------------------------------------------------------------------------


def _decided(log: Log, at, n: int, refused: int, tool: str = "send_reply") -> None:
    for i in range(n):
        decision = ("denied", "cancelled", "expired")[i % 3] if i < refused else "approved"
        by = "gate" if decision == "expired" else "alice"
        log.request(at + i * MIN, decision=decision, by=by, tool=tool, entity=f"T-{i}")


def test_refusals_rise_when_improbable_at_the_trailing_share_or_above_the_limit_without_one():
    today, trailing = Log(), Log()
    # 8 of 20 against 4 of 40 before (smoothed 5/42 = 0.119): P(X >= 8 | 20, 0.119) = 0.001.
    _decided(today, DAY, 20, 8, "send_reply")
    _decided(trailing, DAY - pd.Timedelta(days=3), 40, 4, "send_reply")
    # 5 of 20 against the same 10%: P(X >= 5) = 0.09, an ordinary bad day, not a rise.
    _decided(today, DAY, 20, 5, "reply_b")
    _decided(trailing, DAY - pd.Timedelta(days=3), 40, 4, "reply_b")
    _decided(today, DAY, 20, 5, "credit")  # 25% against no history: under the 40% limit
    _decided(today, DAY, 20, 9, "escalate")  # 45% with no history: above the limit
    # 5 of 20 against 0 of 20 (smoothed 1/22): P(X >= 5 | 20, 0.045) = 0.002, a rise.
    _decided(today, DAY, 20, 5, "refund")
    _decided(trailing, DAY - pd.Timedelta(days=2), 20, 0, "refund")
    _decided(today, DAY, 9, 9, "lookup")  # all refused, but 9 decided: not judged
    table = refusal_rates(requests_table(today.frame()), requests_table(trailing.frame()), RULES)
    table = table.set_index("tool")
    assert table.loc["send_reply", "rising"] and table.loc["send_reply", "trailing_share"] == 0.1
    assert "refusal_alpha" in table.loc["send_reply", "why"]
    assert (table.loc["send_reply", ["denied", "cancelled", "expired"]] == [3, 3, 2]).all()
    assert not table.loc["reply_b", "rising"] and table.loc["reply_b", "judged"]
    assert not table.loc["credit", "rising"] and np.isnan(table.loc["credit", "trailing_share"])
    assert table.loc["escalate", "rising"] and "refusal_rate_max" in table.loc["escalate", "why"]
    assert table.loc["refund", "rising"]
    assert not table.loc["lookup", "judged"] and not table.loc["lookup", "rising"]
    sentence = describe_refusals(stored(table.reset_index()), RULES)
    assert sentence.count("refused (") == 3
    assert "send_reply: 8 of 20 decided requests refused (3 denied, 3 cancelled, 2 expired): " in (
        sentence
    )
    assert describe_refusals(table.reset_index().iloc[0:0]).startswith("no rising refusal share")


# ---- the owner's view --------------------------------------------------------------------


def test_the_view_counts_each_tool_and_its_approval_latency():
    log = Log()
    for i, after in enumerate([2, 4, 6, 8, 30]):
        log.request(DAY + i * MIN, after=after, error="CRM 503" if i == 0 else None)
    log.request(DAY, decision="denied", after=3)
    log.request(DAY, decision="cancelled", after=1)
    log.request(DAY, decision="expired", by="gate", after=60)
    log.request(DAY, decision=None, executed=False)
    log.request(
        DAY,
        tool="wire_money",
        action_class="undeclared",
        decision="denied",
        by="gate",
        after=0,
        executed=False,
    )
    view = action_view(requests_table(log.frame())).set_index("tool")
    r = view.loc["send_reply"]
    assert (r.requests, r.executed, r.errors, r.approved, r.approved_by_person) == (9, 5, 1, 5, 5)
    assert (r.denied, r.cancelled, r.expired, r.open) == (1, 1, 1, 1)
    assert r.success_rate == pytest.approx(0.8) and r.top_error == "CRM <n>"
    assert r.approval_median_minutes == 6.0
    assert r.approval_p90_minutes == pytest.approx(8 + 0.6 * 22)  # linear between 8 and 30
    w = view.loc["wire_money"]
    assert w.action_class == "undeclared" and w.undeclared_denials == 1 and w.executed == 0
    assert np.isnan(w.success_rate) and np.isnan(w.approval_median_minutes)


# ---- simulated days ------------------------------------------------------------------------

DAYS = 500


def _opening_hours(rng: np.random.Generator, n: int, day: pd.Timestamp) -> pd.DatetimeIndex:
    return day + pd.to_timedelta(np.sort(rng.uniform(8, 20, n)), unit="h")


def _error_days(rng, outage: bool) -> pd.DataFrame:
    """DAYS days of ~40 CRM updates (gate-approved at once), 2% failing at random; with
    `outage`, every call from 14:00 to 18:00 (a third of the opening hours) fails too."""
    log = Log()
    for d in range(DAYS):
        day = DAY + pd.Timedelta(days=d)
        for at in _opening_hours(rng, rng.poisson(40), day):
            down = outage and 14 <= (at - day) / pd.Timedelta(hours=1) < 18
            error = None
            if down:
                error = f"CRM 503 for ticket T-{rng.integers(10**5)}"
            elif rng.random() < 0.02:
                error = f"CRM timeout after {rng.integers(20, 40)}s"
            log.request(
                at,
                tool="crm",
                action_class="reversible",
                by="gate",
                after=0,
                error=error,
                entity=f"T-{d}-{at.value}",
            )
    return requests_table(log.frame())


def _failing_days(table: pd.DataFrame, rules: AgentActionRules) -> float:
    days = table.groupby(table["requested_at"].dt.floor("D"))
    return float(np.mean([tool_error_rates(g, rules)["failing"].any() for _, g in days]))


def test_error_rate_false_alarms_and_power_on_simulated_days():
    rng = np.random.default_rng(18)
    # Null days: failing needs more than 20% of ~40 calls, 9+ errors where 0.8 are expected:
    # the binomial tail P(X >= 9 | n=40, p=0.02) is about 1e-7, and a thin day of 10 calls
    # needs 3 errors (P about 0.001). At most 1% of days, with room to spare.
    null = _error_days(rng, outage=False)
    assert _failing_days(null, RULES) <= 0.01
    # An afternoon outage fails a third of the calls on average. At a 20% limit the day is
    # missed when fewer than 20% of its calls fell in the afternoon, P(Bin(40, 1/3) <= 8) about
    # 2.6%: a catch rate near 97%. The default 15% limit catches about 99.6% and false-alarms
    # on a 40-call day about once in 10,000: held to the asked-for 99%.
    outage = _error_days(rng, outage=True)
    assert RULES.error_rate_max == 0.15
    assert _failing_days(outage, RULES) >= 0.99
    assert _failing_days(outage, AgentActionRules(error_rate_max=0.2)) >= 0.95


def test_bursts_on_realistic_days_never_fire_and_a_reply_loop_always_does():
    rng = np.random.default_rng(7)
    log = Log()
    tools = ("escalate", "send_reply", "credit")
    loops = []
    for d in range(DAYS):
        day = DAY + pd.Timedelta(days=d)
        for e, at in enumerate(_opening_hours(rng, 40, day)):
            entity = f"T-{d}-{e}"
            for k in range(rng.integers(1, 3)):  # acted on once or twice, a few minutes apart
                log.request(
                    at + k * rng.uniform(1, 10) * MIN,
                    tool=tools[rng.integers(3)],
                    by="gate",
                    after=0,
                    entity=entity,
                    digest=f"d-{d}-{e}-{k}",
                )
    realistic = requests_table(log.frame())
    assert bursts(realistic, RULES).empty
    for d in range(DAYS):  # the same reply to one ticket 6 times within 30 minutes, every day
        start = DAY + pd.Timedelta(days=d) + rng.uniform(8, 19) * pd.Timedelta(hours=1)
        entity = f"T-{d}-loop"
        loops.append(entity)
        for m in np.sort(rng.uniform(0, 30, 6)):
            log.request(
                start + m * MIN, entity=entity, digest=f"same-reply-{d}", by="gate", after=0
            )
    found = bursts(requests_table(log.frame()), RULES)
    assert sorted(found["entity"]) == sorted(loops)
    assert (found["requests"] == 6).all() and (found["same_digest"] == 6).all()
    assert (found["tool"] == "send_reply").all()
    sentence = describe_bursts(stored(found.head(1)), RULES)
    assert sentence.startswith("a tool requested in a loop: send_reply requested 6 times for T-")
    assert sentence.endswith("(6 with the same arguments) (agent_actions.burst_max_per_hour is 3)")


def _refusal_days(rng, share: float, days: int, per_day: int = 30) -> list[pd.DataFrame]:
    """Per day ~`per_day` decided send_reply requests, each refused with probability `share`."""
    log = Log()
    for d in range(days):
        day = DAY + pd.Timedelta(days=d)
        n = rng.poisson(per_day)
        refused = rng.random(n) < share
        for i, at in enumerate(_opening_hours(rng, n, day)):
            decision = ("denied", "cancelled", "expired")[i % 3] if refused[i] else "approved"
            log.request(
                at,
                decision=decision,
                by="gate" if decision == "expired" else "alice",
                entity=f"T-{d}-{i}",
            )
    table = requests_table(log.frame())
    by_day = table.groupby(table["requested_at"].dt.floor("D"))
    return [g for _, g in by_day]


def _rising_share(days: list[pd.DataFrame], rules: AgentActionRules, today=None) -> float:
    n = rules.trailing_days
    flags = []
    for d in range(n, len(days)):
        trailing = pd.concat(days[d - n : d], ignore_index=True)
        table = refusal_rates(days[d] if today is None else today[d - n], trailing, rules)
        flags.append(bool(table["rising"].any()))
    return float(np.mean(flags))


def test_refusal_false_alarms_on_null_days_and_power_on_a_bad_day():
    rng = np.random.default_rng(11)
    history = _refusal_days(rng, 0.10, DAYS + RULES.trailing_days)
    # Null days at 10% against 14 trailing days (~420 decisions, share about 10%). A day of ~30
    # is flagged when P(X >= k | 30, 0.1) < 0.01: k = 8 (P = 0.008), and the exact tail of a
    # discrete count stays at or under alpha, give or take the trailing share's own noise:
    # held to 2% over 500 days (1% + 3 sd of 0.45%).
    assert _rising_share(history, RULES) <= 0.02
    # A day at 45% refusals: P(X >= 8 | 30, 0.45) is about 0.99; held to 95%.
    bad = _refusal_days(rng, 0.45, DAYS)
    assert _rising_share(history, RULES, today=bad) >= 0.95
    # Small days (the ticket assistant's dozen replies) at the null rate: no more noise.
    small = _refusal_days(rng, 0.12, DAYS + RULES.trailing_days, per_day=12)
    assert _rising_share(small, RULES) <= 0.02

"""Simulated support agents working the tickets: what the CRM records about the model's use.

For each ticket the CRM logs, the day after the ticket, which agent handled it, whether the
model's suggestion was on the agent's screen (``used``: that agent uses the assistant today),
whether the agent ``accepted`` or overrode it, and the handle time in minutes. Before launch
there is no suggestion: those days are the pre-deployment baseline of the handle time.

The behaviour is a pure function of (seed, day, what was served, the true outcomes):

* adoption follows the curve teams see after launch: most agents try it, use falls into a
  valley 30 to 90 days after launch (novelty gone, trust not yet earned), then partly recovers;
* agents accept most right suggestions and catch about half of the wrong ones, so a model that
  goes wrong shows in the override rate the next day, before any label arrives;
* an accepted right suggestion saves time; an accepted wrong one costs more than it saved.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import sqlalchemy as sa

from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.vocabulary import ACTION_COLUMNS, ACTIONS_TABLE

AGENTS = 60
ADOPTION_START = 0.85  # share of agents using the assistant on a day, just after launch
VALLEY_DEPTH, VALLEY_CENTER, VALLEY_WIDTH = 0.32, 55.0, 20.0  # days after launch
ACCEPT_IF_RIGHT, ACCEPT_IF_WRONG = 0.93, 0.50
HANDLE_MEDIAN = {"low": 12.0, "normal": 16.0, "high": 24.0, "urgent": 32.0}
SAVED_IF_RIGHT, COST_IF_WRONG, COST_OF_OVERRIDE = 0.78, 1.30, 1.05  # handle-time factors


def adoption(days_since_launch: int) -> float:
    """Expected share of agents using the assistant on a day (the adoption-collapse valley)."""
    valley = VALLEY_DEPTH * np.exp(-(((days_since_launch - VALLEY_CENTER) / VALLEY_WIDTH) ** 2))
    return float(ADOPTION_START - valley)


def simulate_actions(
    seed: int,
    day: dt.date,
    tickets: pd.DataFrame,
    outcomes: pd.DataFrame,
    served: pd.DataFrame | None,
    launch: dt.date | None,
) -> pd.DataFrame:
    """The actions recorded for ``day``'s tickets. ``served`` is the day's predictions
    (ticket_id, decision) or None before launch; ``outcomes`` the true (ticket_id, escalated)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, day.toordinal(), 99]))
    frame = tickets[["ticket_id", "priority"]].drop_duplicates("ticket_id").reset_index(drop=True)
    n = len(frame)
    agent = rng.integers(0, AGENTS, size=n)
    base = np.array([HANDLE_MEDIAN.get(p, 16.0) for p in frame["priority"].astype("str")])
    minutes = base * rng.lognormal(0.0, 0.35, size=n)
    used = np.zeros(n, dtype=bool)
    accepted = np.zeros(n, dtype=bool)
    suggested = np.full(n, np.nan)
    if served is not None and launch is not None and len(served):
        share = adoption((day - launch).days)
        using_today = rng.random(AGENTS) < share  # an agent uses it all day or not at all
        suggestion = frame[["ticket_id"]].merge(
            served[["ticket_id", "decision"]], on="ticket_id", how="left"
        )["decision"]
        truth = frame[["ticket_id"]].merge(
            outcomes[["ticket_id", "escalated"]].drop_duplicates("ticket_id"),
            on="ticket_id",
            how="left",
        )["escalated"]
        has = suggestion.notna().to_numpy()
        used = using_today[agent] & has
        right = (
            suggestion.fillna(False).astype(bool).to_numpy() == (truth.fillna(0) == 1).to_numpy()
        )
        p_accept = np.where(right, ACCEPT_IF_RIGHT, ACCEPT_IF_WRONG)
        accepted = used & (rng.random(n) < p_accept)
        suggested = np.where(has, suggestion.fillna(False).astype(float).to_numpy(), np.nan)
        factor = np.where(accepted & right, SAVED_IF_RIGHT, 1.0)
        factor = np.where(accepted & ~right, COST_IF_WRONG, factor)
        factor = np.where(used & ~accepted, COST_OF_OVERRIDE, factor)
        minutes = minutes * factor
    recorded = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(12))
    return pd.DataFrame(
        {
            "ticket_id": frame["ticket_id"].astype("str"),
            "agent_id": [f"A{a:03d}" for a in agent],
            "used": used.astype("int64"),
            "suggested_escalation": suggested,
            "accepted": accepted.astype("int64"),
            "handle_minutes": np.round(minutes, 2),
            "recorded_at": recorded.isoformat(timespec="seconds"),
        },
        columns=ACTION_COLUMNS,
    )


def write_actions(url: str, day: dt.date, actions: pd.DataFrame) -> int:
    """Replace the actions recorded for ``day``'s tickets in the source database."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(ACTIONS_TABLE):
                recorded = set(actions["recorded_at"])  # one value: the day after the tickets
                for value in recorded:
                    conn.execute(
                        sa.text(f"DELETE FROM {ACTIONS_TABLE} WHERE recorded_at = :r"), {"r": value}
                    )
            actions.to_sql(ACTIONS_TABLE, conn, if_exists="append", index=False, chunksize=5_000)
    finally:
        engine.dispose()
    return len(actions)


class AgentSimulator:
    """Records the agents' actions for a day's tickets in the source database, as the CRM would
    the day after: with the served predictions after launch, without before."""

    def __init__(self, url: str, seed: int, incidents=(), launch: dt.date | None = None):
        self.url, self.seed, self.incidents, self.launch = url, seed, tuple(incidents), launch
        self.crm = CrmSimulator(url, seed=seed)

    def record(self, day: dt.date, served: pd.DataFrame | None = None) -> int:
        tickets, outcomes = self.crm.generate(day, self.incidents)
        if "priority" not in tickets or "ticket_id" not in tickets:
            return 0  # a day whose export lost the columns: nobody could work from it
        actions = simulate_actions(self.seed, day, tickets, outcomes, served, self.launch)
        return write_actions(self.url, day, actions)

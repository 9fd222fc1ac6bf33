"""The simulated agents: adoption's valley after launch, overrides of wrong suggestions, and
handle time, as the readiness report measures them."""

import datetime as dt

import numpy as np
import pandas as pd

from workflows.ticket_escalation.simulation.agents import (
    ACCEPT_IF_RIGHT,
    ACCEPT_IF_WRONG,
    adoption,
    simulate_actions,
)
from workflows.ticket_escalation.simulation.crm import generate_day

LAUNCH = dt.date(2026, 2, 4)


def test_adoption_falls_into_a_valley_30_to_90_days_after_launch_and_recovers():
    curve = {d: adoption(d) for d in range(0, 121)}
    low = min(curve, key=curve.get)
    assert 30 <= low <= 90
    assert curve[low] < curve[1] - 0.2 and curve[120] > curve[low] + 0.2


def _day(offset: int, served_right: float, seed=3):
    day = LAUNCH + dt.timedelta(days=offset)
    tickets, outcomes = generate_day(day, seed)
    rng = np.random.default_rng(offset)
    truth = outcomes.set_index("ticket_id")["escalated"].reindex(tickets["ticket_id"]).to_numpy()
    right = rng.random(len(tickets)) < served_right
    served = pd.DataFrame(
        {"ticket_id": tickets["ticket_id"], "decision": np.where(right, truth == 1, truth != 1)}
    )
    return simulate_actions(seed, day, tickets, outcomes, served, LAUNCH)


def test_wrong_suggestions_are_overridden_more_and_cost_handle_time():
    good = pd.concat(_day(o, 0.95) for o in range(1, 6))
    bad = pd.concat(_day(o, 0.60) for o in range(1, 6))

    def override(a):
        used = a[a["used"] == 1]
        return 1 - used["accepted"].mean()

    # Expected override: 1 - (right * ACCEPT_IF_RIGHT + wrong * ACCEPT_IF_WRONG).
    for frame, right in ((good, 0.95), (bad, 0.60)):
        expected = 1 - (right * ACCEPT_IF_RIGHT + (1 - right) * ACCEPT_IF_WRONG)
        assert abs(override(frame) - expected) < 0.02
    assert bad["handle_minutes"].mean() > good["handle_minutes"].mean()


def test_before_launch_nobody_has_a_suggestion():
    day = LAUNCH - dt.timedelta(days=3)
    tickets, outcomes = generate_day(day, 3)
    actions = simulate_actions(3, day, tickets, outcomes, None, None)
    assert len(actions) == len(tickets) and actions["used"].sum() == 0
    assert actions["suggested_escalation"].isna().all()
    assert (actions["recorded_at"] == f"{day + dt.timedelta(days=1)}T12:00:00").all()

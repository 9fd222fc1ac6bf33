"""The shortened closed-loop scenario several test files read: one demo run per session
(`tests.support.demo_home.shared_demo`), whichever worker asks first builds it."""

import pytest

from tests.support.demo_home import shared_demo
from workflows.ticket_escalation.workflow import WORKFLOW as WF

LOOP_SCENARIO = """
start: "2026-01-01"
days: 34
seed: 11
reference_days: 10
policy:
  retraining:
    cooldown_days: 2
    new_labels_min_rows: 1000000
  # The default schedule takes 16 days; the same machinery, shorter. The canary still outlasts
  # the label lag (5 days), or the policy is refused: its labels must be able to arrive.
  rollout:
    shadow_days: 1
    steps: [{fraction: 0.5, days: 1}, {fraction: 1.0, days: 5}]
actions:
  - {kind: hand_registered_model, day: 11, recipe: leaky_tree, reason: "notebook model"}
  - {kind: hand_registered_model, day: 12, recipe: rekeyed_tree, reason: "case export"}
  # One partition (day 14's, scored early on day 15) served by the fallback rule: `explain`
  # must answer for it.
  - {kind: flag, day: 14, state: "off", reason: "agents report odd suggestions"}
  - {kind: flag, day: 15, state: "on", reason: "false alarm"}
  # Upstream keeps the rename of day 16: days 16-17 are blocked until it is mapped back.
  - {kind: schema_map, day: 18, rename: {message_length: msg_len}, reason: "CRM renamed it"}
incidents:
  - {kind: volume_drop, day: 12, fraction: 0.5}
  - {kind: covariate_shift, day: 13, days: 3, column: first_response_minutes, k: 1.0}
  - {kind: schema_change, day: 16, days: 19, mode: rename, new_name: msg_len}  # message_length
  - {kind: concept_drift, day: 17, strength: 1.0, days: 30}
  # The support assistant's incidents: caught by the agent checks on their days.
  - {kind: agent_loop, day: 21, repeats: 8, minutes: 40}
  - {kind: tool_outage, day: 23, from_hour: 13, to_hour: 17}
  - {kind: unapproved_action, day: 25}
"""


@pytest.fixture(scope="module")
def loop_demo(tmp_path_factory):
    """The loop scenario's home, shared read-only: copy it (`copied_home`) to change it."""
    with shared_demo(tmp_path_factory, "loop", WF, LOOP_SCENARIO) as demo:
        yield demo

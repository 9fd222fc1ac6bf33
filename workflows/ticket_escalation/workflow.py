"""Ticket escalation: should a new support ticket go straight to the escalation team?

A calibrated classifier scores every ticket of the simulated CRM; the label (escalated or not)
arrives two to four days later; agents see the suggestion and accept or override it.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from assets.model_family import CLASSIFIERS
from assets.partitions import Partitioning
from assets.workflow import (
    Contracts,
    Entity,
    Fallback,
    Feedback,
    Label,
    Owners,
    Slice,
    Source,
    Stage,
    Workflow,
)
from checks.action_classes import ActionClass, Reversibility
from checks.tasks import BinaryClassification
from workflows.ticket_escalation.contracts import LabelContract, RawTicketContract
from workflows.ticket_escalation.features import FEATURE_SETS
from workflows.ticket_escalation.simulation import TicketSimulation

HERE = Path(__file__).resolve().parent


def _share_below(column: str, share: float):
    return lambda df: df[column].map(df[column].value_counts(normalize=True)) < share


def _above_quantile(column: str, q: float):
    return lambda df: df[column] > df[column].quantile(q)


SLICES = (
    Slice(
        "rare_channel", "tickets from channels under 10% of traffic", _share_below("channel", 0.10)
    ),
    Slice(
        "enterprise",
        "enterprise-plan customers (few, and costly when wrong)",
        lambda df: df["plan_tier"] == "enterprise",
    ),
    Slice("urgent", "urgent priority", lambda df: df["priority"] == "urgent"),
    Slice(
        "missing_sentiment",
        "sentiment service failed for the ticket",
        lambda df: df["sentiment"].isna(),
    ),
    Slice("new_customer", "accounts younger than 30 days", lambda df: df["account_age_days"] < 30),
    Slice(
        "long_text", "messages longer than 95% of the pool", _above_quantile("message_length", 0.95)
    ),
    Slice(
        "extreme_response_time",
        "first response slower than 99% of the pool",
        _above_quantile("first_response_minutes", 0.99),
    ),
)


# What the support assistant may do on its own, and who must say yes first. A customer reply
# cannot be unsent; a credit can be clawed back only with an apology; an escalation is undone by
# moving the ticket back within the half hour before the escalation team picks it up.
ACTIONS = (
    ActionClass(
        "escalate_ticket",
        Reversibility.REVERSIBLE,
        owner="support operations lead",
        approval="window",
        window_minutes=30,
        description="move the ticket to the escalation team's queue",
    ),
    ActionClass(
        "send_reply",
        Reversibility.IRREVERSIBLE,
        owner="support operations lead",
        approval="required",
        deadline_minutes=120,
        description="send the drafted reply to the customer",
    ),
    ActionClass(
        "issue_goodwill_credit",
        Reversibility.DIFFICULT,
        owner="support operations lead",
        approval="window",
        window_minutes=60,
        deadline_minutes=240,
        required_above=("amount", 50),
        description="credit the customer's account (above 50, a person says yes first)",
    ),
)


def _escalate_urgent(raw: pd.DataFrame) -> np.ndarray:
    return raw["priority"].isin(["urgent"]).to_numpy(dtype="float64")


WORKFLOW = Workflow(
    name="ticket_escalation",
    description="Escalate a support ticket at once, or let it follow the usual queue.",
    owners=Owners(
        data_engineer="data engineer",
        model_owner="workflow designer",
        domain_owner="support operations lead",
    ),
    partitions=Partitioning("daily", start="2026-01-01"),
    source=Source(
        layout="day_tables",
        table="crm_tickets_",
        labels_table="crm_outcomes",
        feedback_table="crm_agent_actions",
    ),
    entity=Entity(id="ticket_id", event_time="created_at"),
    # Outcomes are known 2-4 days after the ticket; after 5 days a ticket is unlabelled for good.
    label=Label(column="escalated", known_at="known_at", max_lag_days=5),
    contracts=Contracts(raw=RawTicketContract, labels=LabelContract),
    feature_sets=FEATURE_SETS,
    task=BinaryClassification(threshold=0.5),
    model_families=CLASSIFIERS,
    slices=SLICES,
    fallback=Fallback("escalate urgent tickets", _escalate_urgent),
    feedback=Feedback(
        actor="agent_id",
        used="used",
        accepted="accepted",
        recorded_at="recorded_at",
        kpi="handle_minutes",
        kpi_name="handle time (minutes)",
    ),
    segments=("channel", "region", "plan_tier"),
    stages=(
        Stage("triage model (task success)", "task_success"),
        Stage("agent review (acceptance rate)", "acceptance_rate"),
        Stage("resolution (handle time vs pre-deployment)", "kpi_ratio"),
    ),
    actions=ACTIONS,
    policy_file=HERE / "policy.yaml",
    simulation=TicketSimulation(),
)

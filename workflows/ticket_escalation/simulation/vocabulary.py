"""The simulated CRM's vocabulary: its tables, the columns it exports and its category values.

Everything the CRM (:mod:`.crm`), the incidents (:mod:`.incidents`) and the agents
(:mod:`.agents`) must agree on, and nothing that generates data, so the import graph stays
acyclic: ``vocabulary <- incidents <- crm <- agents``.
"""

from __future__ import annotations

# --- tables ------------------------------------------------------------------------------------

TABLE_PREFIX = "crm_tickets_"  # one table per day: crm_tickets_YYYYMMDD
BATCHES_TABLE = "crm_batches"
OUTCOMES_TABLE = "crm_outcomes"
ACTIONS_TABLE = "crm_agent_actions"

# --- category values ---------------------------------------------------------------------------

# Category values with their (stationary) shares. Order is the order a contract should list them.
CHANNEL_SHARES: dict[str, float] = {
    "email": 0.38,
    "chat": 0.27,
    "phone": 0.12,
    "web_form": 0.17,
    "social": 0.06,
}
PRODUCT_SHARES: dict[str, float] = {
    "billing": 0.24,
    "mobile_app": 0.19,
    "web_app": 0.22,
    "api": 0.14,
    "integrations": 0.12,
    "hardware": 0.09,
}
REGION_SHARES: dict[str, float] = {"NA": 0.42, "EMEA": 0.31, "APAC": 0.18, "LATAM": 0.09}
PLAN_TIER_SHARES: dict[str, float] = {"free": 0.35, "basic": 0.30, "pro": 0.24, "enterprise": 0.11}
# Priority depends on the plan tier (enterprise customers file more urgent tickets).
PRIORITY_SHARES_BY_TIER: dict[str, dict[str, float]] = {
    "free": {"low": 0.32, "normal": 0.52, "high": 0.13, "urgent": 0.03},
    "basic": {"low": 0.26, "normal": 0.52, "high": 0.17, "urgent": 0.05},
    "pro": {"low": 0.20, "normal": 0.50, "high": 0.23, "urgent": 0.07},
    "enterprise": {"low": 0.12, "normal": 0.44, "high": 0.30, "urgent": 0.14},
}
PRIORITY_SHARES: dict[str, float] = {
    p: round(sum(PLAN_TIER_SHARES[t] * PRIORITY_SHARES_BY_TIER[t][p] for t in PLAN_TIER_SHARES), 4)
    for p in ("low", "normal", "high", "urgent")
}  # marginal shares, for reference
CATEGORY_SHARES: dict[str, dict[str, float]] = {
    "channel": CHANNEL_SHARES,
    "product": PRODUCT_SHARES,
    "region": REGION_SHARES,
    "plan_tier": PLAN_TIER_SHARES,
    "priority": PRIORITY_SHARES,
}
CATEGORIES: dict[str, list[str]] = {col: list(shares) for col, shares in CATEGORY_SHARES.items()}

# --- columns -----------------------------------------------------------------------------------

# A day's ticket export, in this order.
TICKET_COLUMNS: list[str] = [
    "ticket_id",
    "created_at",
    "customer_id",
    "channel",
    "product",
    "region",
    "plan_tier",
    "priority",
    "account_age_days",
    "prior_tickets_90d",
    "message_length",
    "first_response_minutes",
    "sentiment",
    "subject",
]
CATEGORICAL_COLUMNS: list[str] = list(CATEGORIES)
INTEGER_COLUMNS: list[str] = ["account_age_days", "prior_tickets_90d", "message_length"]
FLOAT_COLUMNS: list[str] = ["first_response_minutes", "sentiment"]
NUMERIC_COLUMNS: list[str] = INTEGER_COLUMNS + FLOAT_COLUMNS
# Valid range per numeric column; a covariate shift clips into it.
NUMERIC_BOUNDS: dict[str, tuple[float, float]] = {
    "account_age_days": (0, 365 * 50),
    "prior_tickets_90d": (0, 10_000),
    "message_length": (1, 200_000),
    "first_response_minutes": (0.0, 60.0 * 24 * 30),
    "sentiment": (-1.0, 1.0),
}
# The outcomes table: whether a ticket was escalated, and when that became known.
OUTCOME_COLUMNS: list[str] = ["ticket_id", "escalated", "known_at"]
# What agents did with each ticket's suggestion (the actions table).
ACTION_COLUMNS: list[str] = [
    "ticket_id",
    "agent_id",
    "used",
    "suggested_escalation",
    "accepted",
    "handle_minutes",
    "recorded_at",
]

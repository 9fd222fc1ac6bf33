"""The ticket workflow's data contracts: pandera models a reviewer reads in one screen."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

CHANNELS = ["email", "chat", "phone", "web_form", "social"]
PRODUCTS = ["billing", "mobile_app", "web_app", "api", "integrations", "hardware"]
REGIONS = ["NA", "EMEA", "APAC", "LATAM"]
PLAN_TIERS = ["free", "basic", "pro", "enterprise"]
PRIORITIES = ["low", "normal", "high", "urgent"]

# The sentiment service fails now and then (about 2% of rows); far more is an outage.
MAX_SENTIMENT_NULL_RATE = 0.10


class RawTicketContract(pa.DataFrameModel):
    """One row per support ticket, as exported by the CRM for one day."""

    ticket_id: Series[str] = pa.Field(unique=True)
    created_at: Series[pd.Timestamp]
    customer_id: Series[str]
    channel: Series[str] = pa.Field(isin=CHANNELS)
    product: Series[str] = pa.Field(isin=PRODUCTS)
    region: Series[str] = pa.Field(isin=REGIONS)
    plan_tier: Series[str] = pa.Field(isin=PLAN_TIERS)
    priority: Series[str] = pa.Field(isin=PRIORITIES)
    account_age_days: Series[int] = pa.Field(ge=0, le=365 * 50)
    prior_tickets_90d: Series[int] = pa.Field(ge=0, le=10_000)
    message_length: Series[int] = pa.Field(ge=1, le=200_000)
    first_response_minutes: Series[float] = pa.Field(ge=0, le=60 * 24 * 30)
    sentiment: Series[float] = pa.Field(ge=-1, le=1, nullable=True)
    subject: Series[str]

    @pa.dataframe_check(error=f"sentiment null rate above {MAX_SENTIMENT_NULL_RATE:.0%}")
    def sentiment_mostly_present(cls, df: pd.DataFrame) -> bool:
        if "sentiment" not in df or len(df) == 0:
            return True  # a missing column is reported by the column rule itself
        return bool(df["sentiment"].isna().mean() <= MAX_SENTIMENT_NULL_RATE)

    class Config:
        name = "raw_tickets/1"
        strict = True  # an unexpected column is a schema change, not noise
        coerce = False  # coercion would hide a retyped column


class LabelContract(pa.DataFrameModel):
    """One row per outcome that became known: which ticket, escalated or not, and when."""

    ticket_id: Series[str]
    escalated: Series[int] = pa.Field(isin=[0, 1])
    known_at: Series[pd.Timestamp]

    class Config:
        name = "ticket_labels/1"
        strict = True
        coerce = False


_FLAG = {"isin": [0.0, 1.0]}


class FeatureContract(pa.DataFrameModel):
    """Feature set v1: one row per ticket; no nulls anywhere (the model cannot take them)."""

    ticket_id: Series[str] = pa.Field(unique=True)
    created_at: Series[pd.Timestamp]
    channel: Series[str] = pa.Field(isin=CHANNELS)
    product: Series[str] = pa.Field(isin=PRODUCTS)
    region: Series[str] = pa.Field(isin=REGIONS)
    plan_tier: Series[str] = pa.Field(isin=PLAN_TIERS)
    priority: Series[str] = pa.Field(isin=PRIORITIES)
    log_account_age_days: Series[float] = pa.Field(ge=0, le=12)
    prior_tickets_90d: Series[float] = pa.Field(ge=0)
    log_message_length: Series[float] = pa.Field(ge=0, le=13)
    log_first_response_minutes: Series[float] = pa.Field(ge=0, le=11)
    sentiment: Series[float] = pa.Field(ge=-1, le=1)
    sentiment_missing: Series[float] = pa.Field(**_FLAG)
    hour_of_day: Series[float] = pa.Field(ge=0, le=23)
    is_weekend: Series[float] = pa.Field(**_FLAG)
    subject_words: Series[float] = pa.Field(ge=0)
    subject_negation: Series[float] = pa.Field(**_FLAG)
    subject_money: Series[float] = pa.Field(**_FLAG)
    subject_failure: Series[float] = pa.Field(**_FLAG)

    class Config:
        name = "ticket_features/1"
        strict = True
        coerce = False

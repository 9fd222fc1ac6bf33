"""The feature-set contract: what the model may assume about its inputs."""

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from checks.contract import (
    CHANNELS,
    PLAN_TIERS,
    PRIORITIES,
    PRODUCTS,
    REGIONS,
    ContractReport,
    validate_against,
)

FEATURE_CONTRACT_VERSION = "ticket_features/1"

_FLAG = {"isin": [0.0, 1.0]}


class FeatureContract(pa.DataFrameModel):
    """One row per ticket; no nulls anywhere (the model cannot take them)."""

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
        name = FEATURE_CONTRACT_VERSION
        strict = True
        coerce = False


def validate_features(df: pd.DataFrame) -> ContractReport:
    return validate_against(FeatureContract, df)

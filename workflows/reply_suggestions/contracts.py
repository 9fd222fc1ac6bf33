"""The reply workflow's data contracts: pandera models a reviewer reads in one screen."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from workflows.reply_suggestions.simulation.knowledge_base import CATEGORIES
from workflows.reply_suggestions.simulation.verdicts import VERDICTS

LANGUAGES = ["en", "de", "fr"]
# "KB-001" or "KB-001,KB-005": the articles known to answer the question, primary first.
RELEVANT_PATTERN = r"^KB-\d{3}(,KB-\d{3})*$"


class RawTicketContract(pa.DataFrameModel):
    """One row per support question, as the desk exports one day's tickets."""

    ticket_id: Series[str] = pa.Field(unique=True)
    created_at: Series[pd.Timestamp]
    category: Series[str] = pa.Field(isin=list(CATEGORIES))
    language: Series[str] = pa.Field(isin=LANGUAGES)
    question: Series[str] = pa.Field(str_matches=r"^\s*\S")  # not empty, not only blanks
    relevant_articles: Series[str] = pa.Field(str_matches=RELEVANT_PATTERN)
    # The desk's database has no boolean type: the export says 0 or 1.
    edge_case: Series[int] = pa.Field(isin=[0, 1])

    class Config:
        name = "reply_tickets/1"
        strict = True  # an unexpected column is a schema change, not noise
        coerce = False  # coercion would hide a retyped column


class VerdictContract(pa.DataFrameModel):
    """One row per agent verdict on a shown suggestion: the task-success label."""

    ticket_id: Series[str] = pa.Field(unique=True)
    verdict: Series[str] = pa.Field(isin=list(VERDICTS))
    decided_at: Series[pd.Timestamp]

    class Config:
        name = "reply_verdicts/1"
        strict = True
        coerce = False

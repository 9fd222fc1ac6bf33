"""agent_actions: what the support agents did with each ticket, as the CRM records it the day
after (the assistant used or not, its suggestion accepted or overridden, the handle time).
Adoption, overrides and the business KPI are measured from it (see readiness_report)."""

import pandas as pd
from dagster import AssetExecutionContext, Output, asset

from assets.partitions import DAILY, day_of
from resources.source import SqlTicketSource


@asset(
    partitions_def=DAILY,
    group_name="labels",
    kinds={"sql", "parquet"},
    owners=["team:data-engineering"],
)
def agent_actions(context: AssetExecutionContext, source: SqlTicketSource) -> Output[pd.DataFrame]:
    """Agent actions recorded on this day (for the tickets of the day before)."""
    actions = source.extract_actions(day_of(context.partition_key))
    used = int(actions["used"].sum()) if len(actions) else 0
    return Output(
        actions,
        metadata={
            "dagster/row_count": len(actions),
            "tickets_with_suggestion_used": used,
            "agents": int(actions["agent_id"].nunique()) if len(actions) else 0,
        },
    )

"""The agents' verdicts respond to the suggestion's quality, days later."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from workflows.reply_suggestions.simulation.verdicts import verdicts

DAY = dt.date(2026, 1, 5)


def _served(n: int, faithful: bool, relevant: bool = True, refused: bool = False) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticket_id": [f"R20260105-{i:05d}" for i in range(n)],
            "faithful": np.full(n, faithful),
            "retrieved_relevant": np.full(n, relevant),
            "refused": np.full(n, refused),
        }
    )


def test_discarded_share_is_higher_for_unfaithful_replies():
    good = verdicts(7, DAY, _served(2000, faithful=True))["verdict"].value_counts(normalize=True)
    bad = verdicts(7, DAY, _served(2000, faithful=False))["verdict"].value_counts(normalize=True)
    assert bad["discarded"] > good["discarded"] + 0.3
    assert good["sent"] > bad["sent"] + 0.3
    refused = verdicts(7, DAY, _served(2000, True, refused=True))["verdict"]
    assert (refused == "discarded").mean() > bad["discarded"]
    off_topic = verdicts(7, DAY, _served(2000, True, relevant=False))["verdict"]
    assert good["sent"] > (off_topic == "sent").mean() > bad["sent"]


def test_decided_one_to_three_days_later_deterministic_per_ticket():
    served = _served(500, faithful=True)
    served["created_at"] = pd.Timestamp("2026-01-05 09:00")
    out = verdicts(7, DAY, served)
    delay = out["decided_at"] - pd.Timestamp("2026-01-05 09:00")
    assert delay.between(pd.Timedelta(days=1), pd.Timedelta(days=3)).all()
    assert delay.max() - delay.min() > pd.Timedelta(days=1)
    # a ticket's verdict does not depend on the other served tickets
    pd.testing.assert_frame_equal(
        verdicts(7, DAY, served.iloc[::-1].head(50)).sort_values("ticket_id", ignore_index=True),
        out.iloc[::-1].head(50).sort_values("ticket_id", ignore_index=True),
    )
    assert not verdicts(8, DAY, served)["verdict"].equals(out["verdict"])
    noon = verdicts(7, DAY, _served(5, True))["decided_at"]
    assert (noon >= pd.Timestamp("2026-01-06 12:00")).all()


def test_bad_quality_frames_are_refused_with_the_column_named():
    with pytest.raises(ValueError, match="refused"):
        verdicts(7, DAY, _served(3, True).drop(columns="refused"))
    bad = _served(3, True).astype({"faithful": object})
    bad.loc[0, "faithful"] = "yes"
    with pytest.raises(ValueError, match="faithful"):
        verdicts(7, DAY, bad)
    with pytest.raises(ValueError, match="duplicate"):
        verdicts(7, DAY, pd.concat([_served(2, True), _served(1, True)]))

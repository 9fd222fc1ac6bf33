"""What a Workflow declaration refuses before anything runs."""

import dataclasses

import pandera.pandas as pa
import pytest
from pandera.typing import Series

from assets.workflow import Contracts
from tests.engine import toy


class DayContract(toy.AccountContract):
    """The toy's rows with a column the monitoring layers use for their own partition key."""

    day: Series[str] = pa.Field(isin=["mon", "tue"])

    class Config:
        name = "toy_accounts_with_day/1"
        strict = True
        coerce = False


def test_a_segment_or_id_the_engines_frames_already_use_is_refused(tmp_path):
    wf = toy.workflow(tmp_path)
    contracts = Contracts(raw=DayContract, labels=toy.RevenueContract)
    with pytest.raises(ValueError, match=r"columns \['day'\] are names the engine uses"):
        dataclasses.replace(wf, contracts=contracts, segments=("plan", "day"))
    # The same column as an ordinary input is fine: only what rides along collides.
    assert dataclasses.replace(wf, contracts=contracts).segments == ("plan",)

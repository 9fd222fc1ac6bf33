"""Reference-versus-current histograms from profiles: shares are shares, and a known shift
shows in the bins it moved to."""

import numpy as np
import pandas as pd
import pytest

from checks.histograms import column_histogram, render_histogram, shares
from checks.profiles import build_reference_profile, profile_like

N_REF, N_CUR = 20_000, 2_000


def frame(rng, n, shift=0.0, channel=(0.5, 0.3, 0.2)):
    return pd.DataFrame(
        {
            "minutes": rng.normal(100 + shift, 10, n),
            "channel": rng.choice(["email", "chat", "phone"], n, p=list(channel)),
        }
    )


@pytest.fixture(scope="module")
def ref():
    return build_reference_profile(frame(np.random.default_rng(1), N_REF), ["minutes"], ["channel"])


def histogram(ref, current, column):
    cur = profile_like(current, ref)
    return column_histogram(column, ref.columns[column], cur.columns[column])


def test_shares_sum_to_one_on_both_sides(ref):
    h = histogram(ref, frame(np.random.default_rng(2), N_CUR, shift=15), "minutes")
    assert sum(h.reference) == pytest.approx(1.0) and sum(h.current) == pytest.approx(1.0)
    assert len(h.bins) == len(h.reference) == len(h.current)
    assert (h.n_reference, h.n_current) == (N_REF, N_CUR)
    c = histogram(ref, frame(np.random.default_rng(2), N_CUR), "channel")
    assert sum(c.reference) == pytest.approx(1.0) and sum(c.current) == pytest.approx(1.0)
    assert list(shares(np.zeros(3))) == [0.0, 0.0, 0.0]


def test_a_shift_up_moves_share_from_the_low_bins_to_the_high_ones(ref):
    # +1.5 SD: below the reference median now only P(Z < -1.5) = 6.7% of the values; the
    # reference's top 5% bin (from +1.64 SD) and the overflow above its maximum hold
    # P(Z > 0.14) = 44%.
    h = histogram(ref, frame(np.random.default_rng(3), N_CUR, shift=15), "minutes")
    # 20 quantile bins; the reference has nothing outside its own range, the current only above.
    assert len(h.bins) == 21 and " to " in h.bins[0] and h.bins[-1].startswith("> ")
    assert sum(h.reference[:10]) == pytest.approx(0.5, abs=0.01)
    assert sum(h.current[:10]) == pytest.approx(0.067, abs=0.02)
    assert h.reference[-2] + h.reference[-1] == pytest.approx(0.05, abs=0.01)
    assert h.current[-2] + h.current[-1] == pytest.approx(0.44, abs=0.04)
    # The reference maximum is near +3.9 SD: P(Z > 2.4) = 0.8% of the current values pass it.
    assert h.reference[-1] == 0.0 and h.current[-1] == pytest.approx(0.008, abs=0.005)


def test_a_category_share_change_shows_in_that_category(ref):
    h = histogram(ref, frame(np.random.default_rng(4), N_CUR, channel=(0.2, 0.3, 0.5)), "channel")
    by = dict(zip(h.bins, zip(h.reference, h.current, strict=True), strict=True))
    assert by["email"][0] == pytest.approx(0.5, abs=0.02)
    assert by["email"][1] == pytest.approx(0.2, abs=0.03)
    assert by["phone"][1] == pytest.approx(0.5, abs=0.03)
    assert by["chat"][1] == pytest.approx(by["chat"][0], abs=0.03)
    # Empty on both sides ("values not in the reference"): not a row.
    assert "(values not in the reference)" not in by


def test_rendering_is_a_table_with_bars_on_one_scale(ref):
    h = histogram(ref, frame(np.random.default_rng(4), N_CUR, channel=(0.2, 0.3, 0.5)), "channel")
    text = render_histogram(h)
    rows = [line for line in text.splitlines() if line.startswith("| email")]
    [email] = rows
    cells = [c.strip() for c in email.strip("|").split("|")]
    assert cells[0] == "email" and cells[1].endswith("%") and cells[3].startswith("-")
    ref_bar, cur_bar = cells[4].strip("`"), cells[5].strip("`")
    assert set(ref_bar) <= set("█▏▎▍▌▋▊▉") and len(ref_bar) > 2 * len(cur_bar) - 1
    assert "reference n=20,000, current n=2,000" in text


def test_profiles_on_other_bins_are_refused(ref):
    other = build_reference_profile(frame(np.random.default_rng(5), 500), ["minutes"], [])
    with pytest.raises(ValueError, match="'minutes'.*reference's bins"):
        column_histogram("minutes", ref.columns["minutes"], other.columns["minutes"])
    with pytest.raises(ValueError, match="different kinds"):
        column_histogram("minutes", ref.columns["minutes"], ref.columns["channel"])

"""Per-feature replacement attribution: exact on models whose answer is known by hand."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from checks.attribution import reference_values, replacement_attribution


def _linear_data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 400
    return pd.DataFrame(
        {
            "a": rng.normal(0, 1, n),
            "b": rng.normal(5, 2, n),
            "c": rng.normal(-3, 4, n),
            "ignored": rng.normal(0, 1, n),
        }
    )


def test_on_a_linear_model_each_change_is_coef_times_distance_to_the_reference():
    frame = _linear_data()
    coefs = {"a": 2.0, "b": -0.5, "c": 0.25, "ignored": 0.0}
    y = 1.0 + sum(c * frame[k] for k, c in coefs.items())
    model = LinearRegression().fit(frame, y)
    reference = reference_values(frame, [], list(frame.columns))
    assert reference["b"] == pytest.approx(float(frame["b"].median()))
    row = pd.DataFrame({"a": [1.5], "b": [1.0], "c": [9.0], "ignored": [4.0]})
    output, found = replacement_attribution(model.predict, row, reference)
    assert output == pytest.approx(float(model.predict(row)[0]))
    expected = {k: model.coef_[i] * (row[k].iloc[0] - reference[k]) for i, k in enumerate(coefs)}
    for a in found:
        assert a.change == pytest.approx(expected[a.feature], abs=1e-9)
        assert a.output_with_reference == pytest.approx(output - expected[a.feature], abs=1e-9)
    ranked = sorted(expected, key=lambda k: -abs(expected[k]))
    assert [a.feature for a in found] == ranked
    # y never depended on it: the fitted coefficient is ~0, so is its attribution.
    assert abs(next(a for a in found if a.feature == "ignored").change) < 1e-9


def test_a_feature_the_model_never_reads_gets_exactly_zero_for_any_family():
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame(
        {
            "channel": rng.choice(["email", "phone", "chat"], n, p=[0.5, 0.25, 0.25]),
            "minutes": rng.exponential(30, n),
            "unused": rng.normal(0, 1, n),
        }
    )
    y = ((frame["channel"] == "phone") & (frame["minutes"] > 30)).astype(int)
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["channel"]),
                ("num", "passthrough", ["minutes"]),
            ]
        ),
        GradientBoostingClassifier(random_state=0),
    ).fit(frame, y)
    reference = reference_values(frame, ["channel"], ["minutes", "unused"])
    row = pd.DataFrame({"channel": ["phone"], "minutes": [90.0], "unused": [7.0]})
    output, found = replacement_attribution(
        lambda x: pipeline.predict_proba(x)[:, 1], row, reference
    )
    by_name = {a.feature: a for a in found}
    assert by_name["unused"].change == 0.0
    assert found[-1].feature == "unused"
    # Both features the rule reads move the output down when set to the usual ticket.
    assert output > 0.9
    assert reference["channel"] == "email" and reference["minutes"] < 30
    assert by_name["channel"].change > 0.5 and by_name["minutes"].change > 0.5
    assert by_name["channel"].value == "phone"


def test_reference_values_are_the_median_and_the_mode_independent_of_row_order():
    rows = pd.DataFrame({"x": [1, 2, 3, 100], "k": ["b", "a", "b", "a"]})
    ref = reference_values(rows, ["k"], ["x"])
    assert ref == {"x": 2.5, "k": "a"}  # a tie between a and b: the smallest
    assert reference_values(rows.iloc[::-1], ["k"], ["x"]) == ref


def test_an_integer_feature_takes_a_fractional_median():
    rows = pd.DataFrame({"n": [1, 2, 3, 4]})
    model = LinearRegression().fit(rows, rows["n"] * 3.0)
    _, [a] = replacement_attribution(model.predict, rows.head(1), reference_values(rows, [], ["n"]))
    assert a.reference == 2.5 and a.change == pytest.approx(3.0 * (1 - 2.5))


@pytest.mark.bad_input
def test_bad_inputs_are_refused_by_name():
    rows = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(KeyError, match="missing_col"):
        reference_values(rows, [], ["missing_col"])
    with pytest.raises(ValueError, match="no reference rows"):
        reference_values(rows.iloc[:0], [], ["x"])
    with pytest.raises(ValueError, match="one row"):
        replacement_attribution(lambda x: np.zeros(len(x)), rows, {"x": 1.0})
    with pytest.raises(KeyError, match="'y'"):
        replacement_attribution(lambda x: np.zeros(len(x)), rows.head(1), {"y": 1.0})
    with pytest.raises(ValueError, match="non-finite"):
        replacement_attribution(lambda x: np.full(len(x), np.nan), rows.head(1), {"x": 1.0})
    cat = pd.DataFrame({"k": pd.Categorical(["a"], categories=["a", "b"])})
    with pytest.raises(ValueError, match="not a category"):
        replacement_attribution(lambda x: np.zeros(len(x)), cat, {"k": "zzz"})

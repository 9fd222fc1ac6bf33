from checks.policy import VolumeRules
from checks.volume import judge_volume

RULES = VolumeRules()


def test_drop_of_30_percent_is_an_error_and_15_a_warning():
    history = [2000, 2100, 1900, 2050]  # median 2025
    assert judge_volume(1400, history, RULES).severity == "error"  # 30.9% below
    assert judge_volume(1700, history, RULES).severity == "warn"  # 16% below
    assert judge_volume(1900, history, RULES).severity == "ok"  # 6% below


def test_median_is_robust_to_one_earlier_incident():
    # An earlier volume drop in the history must not lower the bar for today.
    assert judge_volume(1300, [2000, 600, 2050, 1950], RULES).severity == "error"


def test_only_the_configured_number_of_weeks_counts():
    rules = VolumeRules(history_weeks=2)
    result = judge_volume(1000, [1000, 1000, 5000, 5000], rules)
    assert result.expected == 1000 and result.severity == "ok"


def test_no_history_is_no_judgement_and_says_why():
    result = judge_volume(10, [], RULES)
    assert result.severity == "no_history"
    assert "0 earlier" in result.reason


def test_a_surge_is_judged_as_a_ratio_over_the_median_not_as_a_drop():
    history = [2000, 2000]
    result = judge_volume(2600, history, RULES)  # 1.3x: within a busy day's range
    assert result.severity == "ok" and result.drop < 0 and result.rise == 1.3
    assert judge_volume(3000, history, RULES).severity == "warn"  # 1.5x
    assert judge_volume(5900, history, RULES).severity == "warn"  # 2.95x


def test_a_tenfold_spike_is_an_error_naming_the_ratio_and_the_thresholds():
    result = judge_volume(20_000, [2000, 2100, 1900, 2050], RULES)
    assert result.severity == "error" and round(result.rise, 2) == 9.88
    assert "9.88 times the median 2025" in result.reason
    assert "warn at 1.5x, error at 3x" in result.reason
    assert judge_volume(6000, [2000, 2000], RULES).severity == "error"  # 3x


def test_rise_thresholds_come_from_the_policy_and_must_be_in_order():
    import pytest
    from pydantic import ValidationError

    lenient = VolumeRules(warn_rise=5, error_rise=20)
    assert judge_volume(20_000, [2000], lenient).severity == "warn"
    with pytest.raises(ValidationError, match="error_rise must not be below"):
        VolumeRules(warn_rise=3, error_rise=2)
    with pytest.raises(ValidationError, match="greater than 1"):
        VolumeRules(warn_rise=0.5)


def test_rows_where_there_are_usually_none_warn():
    assert judge_volume(0, [0, 0], RULES).severity == "ok"
    assert judge_volume(500, [0, 0], RULES).severity == "warn"


def test_empty_partition_against_real_history_is_an_error():
    assert judge_volume(0, [2000, 2000], RULES).severity == "error"

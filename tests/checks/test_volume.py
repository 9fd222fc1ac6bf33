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


def test_surge_is_not_a_drop():
    result = judge_volume(4000, [2000, 2000], RULES)
    assert result.severity == "ok" and result.drop < 0 and "above" in result.reason


def test_empty_partition_against_real_history_is_an_error():
    assert judge_volume(0, [2000, 2000], RULES).severity == "error"

from checks.task_success_drop import judge_task_success_drop


def test_a_drop_beyond_the_allowance_against_the_baseline_fails():
    judgement = judge_task_success_drop(0.78, baseline=0.84, previous_week=None, allowed_points=5)
    assert not judgement.passed
    assert round(judgement.drops["baseline"], 6) == 6.0  # 84% -> 78%
    assert "6.0 points vs baseline" in judgement.reason


def test_a_drop_within_the_allowance_passes_and_an_improvement_is_no_drop():
    assert judge_task_success_drop(0.80, 0.84, None, 5).passed  # 4 points
    better = judge_task_success_drop(0.90, 0.84, 0.85, 5)
    assert better.passed and better.drops["baseline"] < 0


def test_week_over_week_drop_fails_even_when_the_baseline_is_still_met():
    # Last week was far above the baseline; this week fell 6 points but sits at the baseline.
    judgement = judge_task_success_drop(0.84, 0.84, 0.90, 5)
    assert not judgement.passed
    assert round(judgement.drops["last week"], 6) == 6.0
    assert set(judgement.drops) == {"baseline", "last week"}

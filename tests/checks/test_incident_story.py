"""The incident timeline and deployment history assembled from plain records."""

from checks.incident_story import (
    CheckRecord,
    Links,
    Materialization,
    Records,
    RunRecord,
    Streak,
    assemble,
    champion_at,
    deployment_history,
    inconsistencies,
    markdown,
    retraining_why,
    stale_mark,
)


class FakeLinks(Links):
    def run(self, run_id):
        return f"http://ui/runs/{run_id}" if run_id else None

    def check(self, asset, check):
        return f"http://ui/assets/{asset}?check={check}"


def at(day: int, hour: int = 7) -> str:
    return f"2026-01-{day:02d}T{hour:02d}:00:00+00:00"


def drift(day: int, passed: bool, id_: int) -> CheckRecord:
    return CheckRecord(
        id_, "wf/profiles", "drift", f"2026-01-{day:02d}", f"2026-01-{day:02d}T23:59:59+00:00",
        passed, "ERROR", "" if passed else "col drifted", f"daily-{day}",
    )  # fmt: skip


def champion(day, version, previous, judged, action="promote", actor="rollout", approved=None):
    gate = {} if action == "rollback" else {"judged_against": judged, "verdict": "promote"}
    return Materialization(
        "champion",
        at(day),
        f"champ-{day}",
        {
            "action": action,
            "version": version,
            "previous_version": previous or "none",
            "reason": f"reason {version}",
            "actor": actor,
            "approved_by": approved or "not required",
            "gate": gate,
        },
    )


def evaluation(day, version, against, verdict):
    return Materialization(
        "challenger_evaluation",
        at(day),
        f"eval-{day}",
        {
            "challenger_version": version,
            "champion_version": against or "none",
            "verdict": verdict,
            "summary": f"{verdict}: because",
        },
    )


def rollout(day, version, state, action):
    return Materialization(
        "rollout",
        at(day),
        f"roll-{day}",
        {
            "action": action,
            "state": state,
            "version": version,
            "fraction": 0.0,
            "reason": "task success below the floor" if state == "rolled_back" else "schedule",
            "actor": "rollout",
        },
    )


def story() -> Records:
    return Records(
        checks=[drift(12, True, 1), drift(13, False, 2), drift(14, False, 3), drift(15, True, 4)],
        materializations=[
            champion(10, "1", None, None, actor="root"),
            Materialization(
                "challenger_model",
                at(15),
                "retrain",
                {"model_version": "4", "labels_until": "2026-01-14"},
            ),
            evaluation(12, "3", "1", "promote"),
            rollout(13, "3", "shadow", "start"),
            rollout(16, "3", "rolled_back", "rollback"),
            evaluation(15, "4", "1", "reject"),
            champion(20, "5", "1", "1", approved="dana"),
            Materialization(
                "serving_flags",
                at(14, 12),
                "flag",
                {"state": "off", "version": "none", "reason": "odd", "actor": "ds"},
            ),
        ],
        runs=[
            RunRecord(
                "retrain",
                "retraining",
                at(15),
                {"afterlaunch/trigger": "drift", "afterlaunch/reason": "ERROR drift 2+ in a row"},
            ),
            RunRecord("daily-14", "daily_production", at(15, 0), {}),
        ],
        approvals=[
            {
                "version": "5",
                "approver": "dana",
                "approved_at": at(19),
                "reason": "looks right",
                "champion_version": "1",
                "verdict": "awaiting_approval",
            }
        ],
        alerts=[
            {
                "created_at": at(14),
                "owner": "data engineer",
                "severity": "ERROR",
                "delivery": "immediate",
                "payload": {
                    "asset": "wf/profiles",
                    "check": "drift",
                    "partition": "2026-01-13",
                    "description": "col drifted",
                    "run_id": "daily-13",
                },
            }
        ],
        streaks={"retrain": Streak("drift", 2, "2026-01-14")},
    )


def test_rows_are_dated_by_the_records_and_link_their_run_or_check():
    rows = assemble(story(), FakeLinks(), until=at(31))
    failures = [r for r in rows if r.kind == "check_failed"]
    assert [r.date for r in failures] == ["2026-01-13", "2026-01-14"]  # passes are no rows
    assert all(r.link == "http://ui/assets/wf/profiles?check=drift" for r in failures)
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    kinds = {r.kind for r in rows}
    assert kinds >= {"alert", "retraining_requested", "registered", "verdict", "rollout_step"}
    assert kinds >= {"canary_rollback", "promotion", "flag_flip", "approval"}
    flag = next(r for r in rows if r.kind == "flag_flip")
    assert (flag.date, flag.actor, flag.link) == ("2026-01-14", "ds", "http://ui/runs/flag")


def test_a_retraining_request_says_which_check_failed_how_many_partitions_in_a_row():
    rows = assemble(story(), FakeLinks(), until=at(31))
    request = next(r for r in rows if r.kind == "retraining_requested")
    assert request.why.startswith(
        "retraining requested because drift failed 2 days in a row (through 2026-01-14)"
    )
    assert request.link == "http://ui/runs/retrain"
    assert "by the schedule trigger" in retraining_why("schedule", "scheduled", None, "day")
    one = retraining_why("drift", "r", Streak("drift", 1, "2026-01-13"), "day")
    assert "failed 1 day in a row" in one


def test_until_cuts_the_story_at_the_partition_end():
    rows = assemble(story(), FakeLinks(), until="2026-01-15T00:00:00+00:00")
    assert max(r.at for r in rows) < "2026-01-15"
    assert [r.version for r in rows if r.kind in ("promotion", "canary_rollback")] == ["1"]


def test_a_verdict_against_a_former_champion_is_marked_stale_where_shown():
    # As of day 16 champion 1 still serves: version 4's reject against 1 is current.
    early = assemble(story(), FakeLinks(), until=at(16))
    assert next(r for r in early if r.kind == "verdict" and r.version == "4").stale is None
    # Once 5 is champion, the same verdict is shown stale, naming both versions.
    late = assemble(story(), FakeLinks(), until=at(31))
    verdict = next(r for r in late if r.kind == "verdict" and r.version == "4")
    assert verdict.stale == "stale (judged against v1, champion then v5)"
    assert stale_mark("1", "1") is None and stale_mark(None, None) is None
    assert champion_at([(at(10), "1"), (at(20), "5")], at(19)) == "1"


def test_deployment_history_lists_promotions_canary_rollbacks_and_rejections_with_actors():
    history = deployment_history(assemble(story(), FakeLinks(), until=at(31)))
    assert [(r.kind, r.version) for r in history] == [
        ("promotion", "1"),
        ("rejected", "4"),
        ("canary_rollback", "3"),
        ("promotion", "5"),
    ]
    five = history[-1]
    assert (five.actor, five.approved_by, five.why) == ("rollout", "dana", "reason 5")
    assert history[2].why == "task success below the floor"
    assert inconsistencies(history) == []
    table = markdown(history, ("date", "kind", "version", "what", "actor", "approved_by", "stale"))
    assert "| 2026-01-20 | promotion | 5 | [promote: v1 -> v5](http://ui/runs/champ-20) |" in table
    assert "stale (judged against v1, champion then v5)" in table  # version 4's rejection


def test_a_promotion_on_a_stale_verdict_is_an_inconsistency():
    records = story()
    records.materializations.append(champion(25, "6", "5", "1"))
    history = deployment_history(assemble(records, FakeLinks(), until=at(31)))
    assert inconsistencies(history) == [
        "2026-01-25: version 6 promoted on a stale (judged against v1, champion then v5)"
    ]


def test_a_version_registered_by_hand_gets_a_registration_row_before_its_verdict():
    rows = assemble(story(), FakeLinks(), until=at(31))
    three = [r.kind for r in rows if r.version == "3"]
    assert three[:2] == ["registered", "verdict"]
    assert [r.kind for r in rows if r.version == "4"][:2] == ["registered", "verdict"]

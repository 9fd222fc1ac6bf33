"""The aliases against the audited history: agreement, a move outside Afterlaunch (either
alias), a change in progress, and the digest that keeps the watch from judging twice."""

from checks.alias_audit import (
    IN_PROGRESS,
    MOVED,
    OK,
    audited_aliases,
    judge_aliases,
    state_digest,
)

HISTORY = [
    {"action": "promote", "version": "1", "previous_version": None, "at": "2026-03-01"},
    {"action": "promote", "version": "2", "previous_version": "1", "at": "2026-03-05"},
]


def test_aliases_that_match_the_last_audited_change_pass():
    finding = judge_aliases("2", "1", HISTORY, change_in_progress=False)
    assert (finding.status, finding.passed, finding.moves) == (OK, True, ())
    assert (finding.audited_champion, finding.audited_previous) == ("2", "1")


def test_a_champion_moved_outside_names_both_versions_and_both_ways_out():
    finding = judge_aliases("3", "1", HISTORY, change_in_progress=False)
    assert finding.status == MOVED and not finding.passed
    [move] = finding.moves
    assert (move.alias, move.audited, move.found) == ("champion", "2", "3")
    text = finding.description
    assert "@champion names version 3 but the audit trail says 2" in text
    assert "`afterlaunch promote 3`" in text and "`afterlaunch revert-aliases`" in text
    assert "audited champion 2" in text


def test_a_moved_previous_alone_is_a_move_too():
    finding = judge_aliases("2", "3", HISTORY, change_in_progress=False)
    assert finding.status == MOVED
    assert [(m.alias, m.audited, m.found) for m in finding.moves] == [("previous", "1", "3")]
    assert "`afterlaunch promote VERSION`" in finding.description


def test_an_alias_set_with_no_audited_history_is_moved_outside():
    finding = judge_aliases("4", None, [], change_in_progress=False)
    assert finding.status == MOVED
    assert finding.audited_champion is None
    assert "the audit trail says none" in finding.description
    assert judge_aliases(None, None, [], change_in_progress=False).status == OK


def test_a_deleted_champion_is_a_move():
    finding = judge_aliases(None, "1", HISTORY, change_in_progress=False)
    assert [(m.alias, m.audited, m.found) for m in finding.moves] == [("champion", "2", None)]


def test_nothing_is_judged_while_a_change_is_in_progress():
    finding = judge_aliases("3", "2", HISTORY, change_in_progress=True)
    assert finding.status == IN_PROGRESS and finding.passed


def test_audited_aliases_come_from_the_last_entry():
    assert audited_aliases(HISTORY) == ("2", "1")
    assert audited_aliases([]) == (None, None)


def test_the_digest_changes_with_any_alias_or_history_entry_and_only_then():
    base = state_digest("2", "1", HISTORY)
    assert base == state_digest("2", "1", [dict(e) for e in HISTORY])
    assert base != state_digest("3", "1", HISTORY)
    assert base != state_digest("2", None, HISTORY)
    assert base != state_digest("2", "1", HISTORY[:1])

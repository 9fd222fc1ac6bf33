"""The audit hash chain: each tampering is named by its kind and the right row."""

from __future__ import annotations

import pytest

from checks.audit_chain import COLUMNS, GENESIS, HASHED_COLUMNS, row_hash, verify_chain


def chain(count: int) -> list[dict]:
    """`count` stored rows, chained as the store writes them."""
    rows, prev = [], GENESIS
    for seq in range(1, count + 1):
        row = {
            "seq": seq,
            "at": f"2026-03-01T10:{seq:02d}:00.000000+00:00",
            "workflow": "ticket_escalation",
            "request_id": f"req-{(seq + 1) // 2}",
            "agent_id": "assistant",
            "agent_version": "prompt@3",
            "tool": "send_reply" if seq % 2 else "escalate",
            "action_class": "irreversible" if seq % 2 else "reversible",
            "input": f'{{"ticket":{seq}}}',
            "digest": "d" * 64,
            "output": None,
            "error": None,
            "context": f'{{"entity":"t-{seq}"}}',
            "disposition": "pending" if seq % 2 else "executed",
            "actor": "assistant",
            "reason": "",
            "deadline": None,
            "prev_hash": prev,
        }
        row["hash"] = prev = row_hash(prev, row)
        rows.append(row)
    return rows


def rehash_from(rows: list[dict], index: int) -> None:
    """Recompute every hash from `index` on: what someone who knows the scheme would do."""
    prev = rows[index - 1]["hash"] if index else GENESIS
    for row in rows[index:]:
        row["prev_hash"] = prev
        row["hash"] = prev = row_hash(prev, row)


def kinds(findings) -> list[tuple[str, int]]:
    return [(f.kind, f.seq) for f in findings]


def test_an_intact_chain_has_no_findings():
    assert verify_chain(chain(6)) == []
    assert verify_chain([]) == []


def test_the_hash_covers_every_column_but_itself():
    row = chain(1)[0]
    assert set(HASHED_COLUMNS) == set(COLUMNS) - {"hash"}
    for column in HASHED_COLUMNS:
        changed = {**row, column: "something else"}
        assert row_hash(changed["prev_hash"], changed) != row["hash"], column
    assert row_hash(row["prev_hash"], {**row, "hash": "x"}) == row["hash"]


@pytest.mark.bad_input
def test_a_row_without_a_column_cannot_be_hashed():
    row = chain(1)[0]
    del row["tool"]
    with pytest.raises(ValueError, match="tool"):
        row_hash(GENESIS, row)


def test_an_edited_field_is_named_on_its_row():
    rows = chain(5)
    rows[2]["input"] = '{"ticket":999}'
    findings = verify_chain(rows)
    assert kinds(findings) == [("edited", 3)]
    assert "row 3" in findings[0].detail
    assert "2026-03-01T10:03:00" in findings[0].detail
    assert "send_reply" in findings[0].detail and "req-2" in findings[0].detail


def test_an_edited_hash_or_prev_hash_is_one_edit_of_that_row():
    rows = chain(5)
    rows[2]["hash"] = "f" * 64
    assert kinds(verify_chain(rows)) == [("edited", 3)]
    rows = chain(5)
    rows[2]["prev_hash"] = "e" * 64
    assert kinds(verify_chain(rows)) == [("edited", 3)]


def test_a_row_rewritten_with_a_recomputed_hash_is_named_by_the_broken_link():
    rows = chain(5)
    rows[1]["disposition"] = "approved"
    rows[1]["hash"] = row_hash(rows[1]["prev_hash"], rows[1])
    assert kinds(verify_chain(rows)) == [("edited", 2)]


def test_a_deleted_middle_row_is_named():
    rows = chain(5)
    del rows[2]
    findings = verify_chain(rows)
    assert kinds(findings) == [("deleted", 3)]
    assert "row 3 is missing" in findings[0].detail and "row 4" in findings[0].detail
    rows = chain(6)
    del rows[2:4]
    findings = verify_chain(rows)
    assert kinds(findings) == [("deleted", 3)]
    assert "rows 3 to 4 are missing" in findings[0].detail


def test_deleted_first_rows_are_named():
    rows = chain(4)[2:]
    findings = verify_chain(rows)
    assert kinds(findings) == [("deleted", 1)]


def test_swapped_seq_numbers_are_named_as_reordered_on_both_rows():
    rows = chain(6)
    rows[1]["seq"], rows[4]["seq"] = rows[4]["seq"], rows[1]["seq"]
    rows.sort(key=lambda r: r["seq"])  # read back ordered by seq, as the store does
    findings = verify_chain(rows)
    assert kinds(findings) == [("reordered", 2), ("reordered", 5)]
    assert "chain puts it at seq 5" in findings[0].detail
    assert "chain puts it at seq 2" in findings[1].detail


def test_swapped_neighbours_are_named_as_reordered():
    rows = chain(5)
    rows[1]["seq"], rows[2]["seq"] = 3, 2
    rows.sort(key=lambda r: r["seq"])
    assert kinds(verify_chain(rows)) == [("reordered", 2), ("reordered", 3)]


def test_a_row_chained_to_a_present_row_other_than_its_predecessor_is_reordered():
    rows = chain(5)
    # Row 4 rewritten (hash recomputed) to chain to row 2, as if row 3 came after it.
    rows[3]["prev_hash"] = rows[1]["hash"]
    rows[3]["hash"] = row_hash(rows[3]["prev_hash"], rows[3])
    rehash_from(rows, 4)
    assert kinds(verify_chain(rows)) == [("reordered", 4)]


def test_truncation_shows_only_against_an_anchor():
    rows = chain(6)
    anchor = (6, rows[5]["hash"])
    truncated = rows[:4]
    assert verify_chain(truncated) == []  # what remains chains perfectly
    findings = verify_chain(truncated, anchors=[anchor])
    assert kinds(findings) == [("truncated", 6)]
    assert "ends at seq 4" in findings[0].detail and "rows 5 to 6" in findings[0].detail
    assert kinds(verify_chain([], anchors=[anchor])) == [("truncated", 6)]
    assert verify_chain(rows, anchors=[anchor, (3, rows[2]["hash"])]) == []


def test_a_rewritten_and_rehashed_tail_shows_against_an_anchor():
    rows = chain(6)
    anchor = (5, rows[4]["hash"])
    rows[2]["output"] = '{"sent":false}'
    rehash_from(rows, 2)
    assert verify_chain(rows) == []
    findings = verify_chain(rows, anchors=[anchor])
    assert kinds(findings) == [("edited", 5)]
    assert "hash changed" in findings[0].detail


def test_an_anchored_row_deleted_from_the_middle_is_one_deletion():
    rows = chain(5)
    anchor = (3, rows[2]["hash"])
    del rows[2]
    assert kinds(verify_chain(rows, anchors=[anchor])) == [("deleted", 3)]

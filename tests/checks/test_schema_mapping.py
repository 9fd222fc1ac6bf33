"""Schema mappings as plain functions: parsing, the refusals, applying one to a frame, and the
append-only log that keeps them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from checks.schema_mapping import (
    KNOWN_TYPES,
    MappingRefused,
    SchemaMapping,
    apply_mapping,
    mapping_in_force,
    parse_pairs,
    rules_apply,
    validate_mapping,
)
from orchestration.schema_cli import TYPES
from resources.schema_mappings import SchemaLogCorrupt, SchemaMappingStore

CONTRACT = {"ticket_id": "string", "message_length": "integer", "sentiment": "float"}
DTYPES = {"ticket_id": "str", "message_length": "int64", "sentiment": "float64"}
SENT = {"ticket_id": "string", "msg_len": "integer", "sentiment": "float"}  # after the rename


def mapping(renames=None, retypes=None, version=2, start="2026-03-18") -> SchemaMapping:
    return SchemaMapping(
        version=version,
        renames=renames or {},
        retypes=retypes or {},
        effective_from=start,
        reason="upstream release",
        actor="data engineer",
        at="2026-03-20T12:00:00+00:00",
        contract="raw_tickets/1",
    )


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_a_valid_rename_passes_and_reads_upstreams_name_back_into_the_contracts():
    validate_mapping({"message_length": "msg_len"}, {}, CONTRACT, SENT, "partition 2026-03-18")
    sent = frame(ticket_id=["a", "b"], msg_len=[10, 20], sentiment=[0.1, None])
    result = apply_mapping(sent, mapping({"message_length": "msg_len"}), DTYPES)
    assert list(result.frame.columns) == ["ticket_id", "message_length", "sentiment"]  # in place
    assert result.frame["message_length"].tolist() == [10, 20]
    assert result.applied == ["msg_len -> message_length"] and result.changed
    assert list(sent.columns) == ["ticket_id", "msg_len", "sentiment"]  # the input is untouched
    assert mapping({"message_length": "msg_len"}).describe() == "msg_len -> message_length"


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("renames", "retypes", "observed", "says"),
    [
        # the spelling read the other way round: the sentence names the fix
        (
            {"msg_len": "message_length"},
            {},
            SENT,
            "'msg_len' is not a contract column (it is written CONTRACT=UPSTREAM: did you mean "
            "message_length=msg_len?)",
        ),
        ({"body_size": "msg_len"}, {}, SENT, "'body_size' is not a contract column"),
        ({"message_length": "msg_size"}, {}, SENT, "sends no column 'msg_size'"),
        (
            {"message_length": "msg_len"},
            {},
            {**SENT, "message_length": "integer"},
            "sends both 'message_length' and 'msg_len'; renaming would create a duplicate",
        ),
        (
            {"message_length": "sentiment"},
            {},
            SENT,
            "'sentiment' is itself a contract column",
        ),
        ({"message_length": "message_length"}, {}, SENT, "a column renamed to itself"),
        ({}, {"message_length": "number"}, SENT, "unknown type 'number'; one of integer"),
        ({}, {"message_length": "float"}, SENT, "converts back to the contract's type"),
        ({}, {"chars": "integer"}, SENT, "'chars' is not a contract column"),
        ({}, {}, SENT, "needs at least one --rename or --retype"),
    ],
)
def test_a_mapping_that_cannot_bring_the_source_back_to_the_contract_is_refused(
    renames, retypes, observed, says
):
    with pytest.raises(MappingRefused) as refused:
        validate_mapping(renames, retypes, CONTRACT, observed, "partition 2026-03-18")
    assert says in str(refused.value)


@pytest.mark.bad_input
def test_two_renames_taking_one_upstream_column_are_refused_as_duplicates():
    contract = {**CONTRACT, "body_length": "integer"}
    with pytest.raises(MappingRefused, match="duplicate columns"):
        validate_mapping(
            {"message_length": "msg_len", "body_length": "msg_len"}, {}, contract, SENT
        )


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("items", "says"),
    [
        (["message_length"], "must be written CONTRACT_COLUMN=UPSTREAM"),
        (["=msg_len"], "must be written"),
        (["message_length=msg_len", "message_length=len"], "is given twice"),
    ],
)
def test_malformed_rules_are_refused_by_name(items, says):
    with pytest.raises(MappingRefused, match=says):
        parse_pairs(items, "--rename", "UPSTREAM")


def test_a_rule_the_frame_gives_no_occasion_for_is_skipped_and_said_so():
    # A partition sent before the rename: nothing to do, and the frame is the source's.
    before = frame(ticket_id=["a"], message_length=[3], sentiment=[0.0])
    result = apply_mapping(before, mapping({"message_length": "msg_len"}), DTYPES)
    assert result.frame is before and not result.changed
    assert result.skipped == ["msg_len -> message_length: no msg_len sent"]
    both = frame(ticket_id=["a"], message_length=[3], msg_len=[4])
    result = apply_mapping(both, mapping({"message_length": "msg_len"}), DTYPES)
    assert not result.changed and "both sent" in result.skipped[0]


def test_a_retype_reads_numbers_sent_as_text_back_into_the_contracts_dtype():
    sent = frame(ticket_id=["a", "b", "c"], message_length=["523 chars", "7 chars", " 12"])
    sent["message_length"] = sent["message_length"].astype("str")
    result = apply_mapping(sent, mapping(retypes={"message_length": "integer"}), DTYPES)
    assert str(result.frame["message_length"].dtype) == "int64"
    assert result.frame["message_length"].tolist() == [523, 7, 12]
    assert result.unparsed == {} and result.applied == ["message_length as integer"]


def test_cells_a_retype_cannot_read_are_counted_and_left_for_the_contract_to_refuse():
    sent = frame(message_length=pd.array(["523 chars", "many", None, "2.5"], dtype="str"))
    result = apply_mapping(sent, mapping(retypes={"message_length": "integer"}), DTYPES)
    # "many" unreadable, "2.5" not whole; the null stays null and is not counted as lost.
    assert result.unparsed == {"message_length": 2}
    assert str(result.frame["message_length"].dtype) == "float64"  # not int64: the contract says


def test_a_retype_of_a_column_already_of_its_type_changes_nothing():
    sent = frame(message_length=[1, 2])
    result = apply_mapping(sent, mapping(retypes={"message_length": "integer"}), DTYPES)
    assert not result.changed and result.skipped == ["message_length as integer: already integer"]


def test_rules_apply_only_where_the_source_sent_what_they_are_for():
    assert rules_apply({"message_length": "msg_len"}, {}, SENT)
    assert not rules_apply({"message_length": "msg_len"}, {}, CONTRACT)
    assert rules_apply({}, {"message_length": "integer"}, {"message_length": "string"})
    assert not rules_apply({}, {"message_length": "integer"}, CONTRACT)


def test_the_newest_version_in_force_for_a_partition_wins():
    v2 = mapping({"message_length": "msg_len"}, version=2, start="2026-03-18")
    v3 = mapping({"message_length": "len"}, version=3, start="2026-03-25")
    assert mapping_in_force([v2, v3], "2026-03-17") is None  # before any mapping: as declared
    assert mapping_in_force([v2, v3], "2026-03-20") is v2
    assert mapping_in_force([v2, v3], "2026-03-25") is v3


def test_the_cli_names_every_type_the_mapping_knows():
    assert tuple(TYPES) == KNOWN_TYPES


# --- the append-only log -----------------------------------------------------------------------


def record(store: SchemaMappingStore, upstream: str, start: str = "2026-03-18") -> SchemaMapping:
    return store.record(
        {"message_length": upstream}, {}, start, "upstream release", "data engineer",
        "2026-03-20T12:00:00+00:00", "raw_tickets/1",
    )  # fmt: skip


def test_versions_are_numbered_from_2_and_a_new_one_supersedes_without_editing(tmp_path):
    store = SchemaMappingStore(tmp_path / "schema_mappings.jsonl")
    assert store.read() == [] and store.latest() is None
    first = record(store, "msg_len")
    before = store.path.read_text()
    second = record(store, "len", "2026-03-25")
    assert (first.version, second.version) == (2, 3)
    assert store.path.read_text().startswith(before)  # the earlier line is kept, byte for byte
    assert [m.version for m in store.read()] == [2, 3]
    assert store.in_force("2026-03-20").renames == {"message_length": "msg_len"}
    assert store.in_force("2026-03-26").renames == {"message_length": "len"}
    assert not hasattr(store, "edit") and not hasattr(store, "delete")


@pytest.mark.bad_input
def test_an_edited_earlier_mapping_is_found_and_the_log_refused(tmp_path):
    store = SchemaMappingStore(tmp_path / "schema_mappings.jsonl")
    record(store, "msg_len")
    record(store, "len", "2026-03-25")
    lines = store.path.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["renames"] = {"message_length": "size"}  # someone rewrites history
    store.path.write_text("\n".join([json.dumps(edited, sort_keys=True), lines[1]]) + "\n")
    with pytest.raises(SchemaLogCorrupt, match="line 2 does not follow the line before it"):
        store.read()


@pytest.mark.bad_input
def test_a_removed_mapping_is_found(tmp_path):
    store = SchemaMappingStore(tmp_path / "schema_mappings.jsonl")
    for upstream in ("msg_len", "len", "size"):
        record(store, upstream)
    lines = store.path.read_text().splitlines()
    store.path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    with pytest.raises(SchemaLogCorrupt, match="line 2 does not follow"):
        store.read()


@pytest.mark.bad_input
def test_a_mapping_without_a_reason_is_not_recorded(tmp_path):
    store = SchemaMappingStore(tmp_path / "schema_mappings.jsonl")
    with pytest.raises(ValueError, match="needs a reason"):
        store.record({"message_length": "msg_len"}, {}, "2026-03-18", " ", "me", "t", "c")
    assert not store.path.exists() or store.read() == []

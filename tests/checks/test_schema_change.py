import pandas as pd

from checks.schema_change import diff_schemas, judge_schema, logical_type, schema_of

CONTRACT = {"ticket_id": "string", "message_length": "integer", "sentiment": "float"}


def test_logical_types_ignore_storage_details():
    assert logical_type("string[pyarrow]") == logical_type("str") == "string"
    assert logical_type("datetime64[us]") == logical_type("datetime64[ns]") == "datetime"
    assert logical_type("Int64") == "integer"


def test_rename_is_recognised_from_a_removed_and_added_column_of_the_same_type():
    current = {"ticket_id": "string", "msg_len": "integer", "sentiment": "float"}
    diff = diff_schemas(current, CONTRACT)
    assert diff.renamed == [("message_length", "msg_len")]
    assert diff.added == [] and diff.removed == []


def test_drop_and_retype_are_listed():
    dropped = diff_schemas({"ticket_id": "string", "sentiment": "float"}, CONTRACT)
    assert dropped.removed == ["message_length"]
    retyped = diff_schemas({**CONTRACT, "message_length": "string"}, CONTRACT)
    assert retyped.retyped == [("message_length", "integer", "string")]


def test_break_of_contract_is_error_and_change_from_yesterday_only_a_warning():
    broken = judge_schema({"ticket_id": "string", "sentiment": "float"}, CONTRACT, CONTRACT)
    assert broken.severity == "error" and "removed message_length" in broken.reason
    # Today matches the contract again, yesterday did not: worth a look, not an error.
    yesterday = {"ticket_id": "string", "msg_len": "integer", "sentiment": "float"}
    recovered = judge_schema(CONTRACT, yesterday, CONTRACT)
    assert recovered.severity == "warn"
    assert judge_schema(CONTRACT, CONTRACT, CONTRACT).severity == "ok"


def test_schema_of_a_frame():
    df = pd.DataFrame({"a": [1], "b": ["x"], "c": [0.5]})
    assert schema_of(df) == {"a": "integer", "b": "string", "c": "float"}

"""The schema layer end to end on a small ticket home: upstream renames message_length to
msg_len and keeps it; the contract blocks those days; a person maps the new name back; the
backfill re-ingests the blocked days through the mapping, and their features equal those of
the same rows sent under the original names. What the source sent stays readable."""

from __future__ import annotations

import contextlib
import io
import json
import re
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from dagster import AssetCheckKey

from assets.check_history import evaluations
from assets.names import FEATURES, RAW
from orchestration.cli import EXIT_BLOCKED, main
from resources.schema_mappings import SchemaMappingStore, mappings_path
from resources.snapshots import content_hash
from resources.source import DayTableSource
from tests.assets.ticket_home import WF, ticket_home
from workflows.ticket_escalation.simulation.crm import CrmSimulator
from workflows.ticket_escalation.simulation.incidents import Incident

SEED = 3
BEFORE = date(2026, 1, 5)  # sent under the contract's names
RENAMED = [date(2026, 1, 6), date(2026, 1, 7)]  # msg_len from here on: blocked, then mapped
AFTER = date(2026, 1, 8)  # still msg_len, ingested once the mapping is in force
RENAME = Incident("schema_change", RENAMED[0], {"mode": "rename", "days": 3})


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def source(url: str) -> DayTableSource:
    return DayTableSource(
        url=url,
        table=WF.source.table,
        entity_id=WF.entity.id,
        event_time=WF.entity.event_time,
        labels_table=WF.source.labels_table,
        label_column=WF.label.column,
        known_at_column=WF.label.known_at_column,
        exclude=list(WF.source.exclude),
    )


def window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, datetime.min.time())
    return start, start + timedelta(days=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("schema")
    with ticket_home(root / "home") as world:
        crm = CrmSimulator(world.source_url, seed=SEED)
        for day in (BEFORE, *RENAMED, AFTER):
            crm.write_day(day, [RENAME])
        # The same rows under the original names, in a source of their own: the control.
        control_url = f"sqlite:///{root / 'control.sqlite'}"
        control = CrmSimulator(control_url, seed=SEED)
        for day in (*RENAMED, AFTER):
            control.write_day(day)
        home = ["--home", str(world.root), "--workflow", WF.name]
        found = {"control": source(control_url), "sent": source(world.source_url)}
        found["history"] = cli("ingest", *home, "--raw-only", "--start", BEFORE.isoformat())
        found["blocked"] = cli(
            "ingest", *home, "--raw-only", "--start", RENAMED[0].isoformat(), "--end",
            RENAMED[-1].isoformat(),
        )  # fmt: skip
        found["blocked_features"] = set(world.store.partitions(FEATURES))
        found["blocked_hashes"] = {
            d.isoformat(): world.store.current(RAW, d.isoformat()).content_hash for d in RENAMED
        }
        with pytest.raises(SystemExit) as reversed_:
            cli(
                "schema", "map", *home, "--rename", "msg_len=message_length",
                "--reason", "upstream renamed it",
            )  # fmt: skip
        found["reversed"] = str(reversed_.value)
        found["map"] = cli(
            "schema", "map", *home, "--rename", "message_length=msg_len",
            "--reason", "CRM release renamed message_length", "--actor", "data engineer",
        )  # fmt: skip
        found["backfill"] = cli("schema", "backfill", *home)
        found["after"] = cli("ingest", *home, "--raw-only", "--start", AFTER.isoformat())
        found["again"] = cli("schema", "backfill", *home)  # nothing left blocked
        yield world, found


def latest_check(world, name: str, day: date):
    found = [
        e
        for e in evaluations(world.instance, [AssetCheckKey(WF.key(RAW), name)])
        if e.partition == day.isoformat()
    ]
    return found[-1]


def test_the_renamed_days_are_blocked_by_the_contract_before_any_mapping(world):
    _, found = world
    assert found["history"][0] == 0
    code, out = found["blocked"]
    assert code == EXIT_BLOCKED
    for day in RENAMED:
        assert f"{day} raw_contract" in out and f"{day} raw_schema" in out
        assert "renamed? message_length -> msg_len" in out
    assert found["blocked_features"] == {BEFORE.isoformat()}


@pytest.mark.bad_input
def test_a_rename_written_the_wrong_way_round_is_refused_naming_the_right_spelling(world):
    home, found = world
    assert "'msg_len' is not a contract column" in found["reversed"]
    assert "did you mean message_length=msg_len?" in found["reversed"]
    # Refused: nothing recorded; the one mapping in the log is the one written right.
    log = SchemaMappingStore(mappings_path(home.root / "workflows" / WF.name))
    assert [m.version for m in log.read()] == [2]


@pytest.mark.bad_input
def test_a_mapping_from_a_day_that_is_not_a_date_is_refused(world):
    home, _ = world
    with pytest.raises(SystemExit, match="--from 'last tuesday' is not a date"):
        cli(
            "schema", "map", "--home", str(home.root), "--workflow", WF.name,
            "--rename", "message_length=msg_len", "--reason", "r", "--from", "last tuesday",
        )  # fmt: skip


def test_the_mapping_is_recorded_as_schema_v2_from_the_first_renamed_day(world):
    home, found = world
    code, out = found["map"]
    assert code == 0 and "recorded schema v2 from 2026-01-06: msg_len -> message_length" in out
    [entry] = [
        json.loads(line)
        for line in mappings_path(home.root / "workflows" / WF.name).read_text().splitlines()
    ]
    assert entry["renames"] == {"message_length": "msg_len"}
    assert entry["actor"] == "data engineer" and entry["reason"].startswith("CRM release")
    assert entry["effective_from"] == RENAMED[0].isoformat() and entry["at"]
    assert entry["contract"] == WF.contracts.raw.Config.name  # the contract itself is unchanged


def test_the_backfill_rebuilds_the_blocked_days_through_the_mapping(world):
    home, found = world
    code, out = found["backfill"]
    assert code == 0, out
    for day in RENAMED:
        assert f"{day} rebuilt: mapped by schema v2: msg_len -> message_length" in out
        schema = latest_check(home, "raw_schema", day)
        assert schema.passed and schema.description.startswith(
            "mapped by schema v2: msg_len -> message_length; schema matches"
        )
        assert latest_check(home, "raw_contract", day).passed
    assert set(home.store.partitions(FEATURES)) >= {d.isoformat() for d in RENAMED}
    assert found["again"] == (0, "no partition blocked by the contract since 2026-01-06\n")


def test_the_mapped_days_features_equal_those_of_the_rows_under_their_original_names(world):
    home, found = world
    features = WF.feature_sets.current_set.features
    for day in (*RENAMED, AFTER):
        original = found["control"].extract(*window(day))
        mapped = home.store.read(RAW, day.isoformat())
        pd.testing.assert_frame_equal(mapped, original)  # same columns, order, dtypes, values
        assert content_hash(mapped) == content_hash(original)
        pd.testing.assert_frame_equal(
            home.store.read(FEATURES, day.isoformat()), features(original)
        )


def test_what_the_source_sent_is_still_readable_beside_the_mapped_rows(world):
    home, found = world
    for day in RENAMED:
        key = day.isoformat()
        exported = found["blocked_hashes"][key]
        versions = [v["content_hash"] for v in home.store.versions(RAW, key)]
        assert exported in versions and versions[-1] != exported  # kept; the mapped one current
        sent = home.store.read(RAW, key, exported)
        assert "msg_len" in sent.columns and "message_length" not in sent.columns
        pd.testing.assert_frame_equal(sent, found["sent"].extract(*window(day)))
        meta = _raw_metadata(home, key)
        assert meta["exported_content_hash"] == exported
        assert meta["content_hash"] == versions[-1] and meta["schema_version"] == 2


def test_a_day_sent_after_the_mapping_is_read_through_it_at_ingestion(world):
    home, found = world
    assert found["after"] == (0, "")  # no check failed: nothing printed
    schema = latest_check(home, "raw_schema", AFTER)
    assert schema.description.startswith("mapped by schema v2: msg_len -> message_length")
    meta = _raw_metadata(home, AFTER.isoformat())
    assert meta["exported_schema"]["msg_len"] == "integer"
    assert "message_length" in meta["logical_schema"]


def test_a_day_from_before_the_change_is_not_touched_by_the_mapping(world):
    home, _ = world
    key = BEFORE.isoformat()
    assert len(home.store.versions(RAW, key)) == 1  # ingested once, never re-ingested
    assert _raw_metadata(home, key)["schema_version"] == 1


def _raw_metadata(home, key: str) -> dict:
    from assets.history import latest_metadata

    return latest_metadata(home.instance, WF.key(RAW), [key])[key]


@pytest.mark.bad_input
@pytest.mark.parametrize("days", [0, -1, 1.5, True])
def test_a_rename_upstream_keeps_for_no_whole_number_of_days_is_refused(days):
    with pytest.raises(ValueError, match="days must be an int >= 1"):
        Incident("schema_change", BEFORE, {"mode": "rename", "days": days})


def test_a_rename_upstream_keeps_lasts_its_days():
    assert RENAME.last_day == AFTER and RENAME.active_on(AFTER)
    assert Incident("schema_change", BEFORE).last_day == BEFORE  # one day, as before


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("action", "says"),
    [
        ("{kind: schema_map, day: 3, rename: {message_length: msg_len}}", "needs a reason"),
        ("{kind: schema_map, day: 3, reason: r}", "needs a rename or a retype"),
        ("{kind: schema_map, day: 3, rename: [msg_len], reason: r}", "must map column names"),
        ("{kind: schema_map, day: 3, renames: {a: b}, reason: r}", "does not take ['renames']"),
    ],
)
def test_a_scenario_schema_map_action_of_the_wrong_shape_is_refused(tmp_path, action, says):
    from orchestration.scenario import load_scenario

    path = tmp_path / "s.yaml"
    path.write_text(f"days: 10\nreference_days: 5\nactions:\n  - {action}\n")
    with pytest.raises(ValueError, match=re.escape(says)):
        load_scenario(WF.simulation, path)

"""The diff of two versions' records: plain dicts in, sections of changes out."""

import copy

import pytest

from checks.lineage_diff import diff_versions, render_diff, side, slice_sentences

SOURCE_V1 = """def compute(raw):
    out = raw[["channel"]].copy()
    out["minutes"] = raw["first_response_minutes"]
    return out
"""
SOURCE_V2 = SOURCE_V1.replace(
    "    return out\n", '    out["long"] = raw["message_length"] > 500\n    return out\n'
)


def _lineage(**changes) -> dict:
    manifest = {
        "training_window": {
            "first_day": "2026-01-01",
            "last_day": "2026-01-28",
            "labels_until": "2026-02-02",
            "cutoff": "2026-02-03T00:00:00+00:00",
        },
        "raw_snapshots": {f"2026-01-{d:02d}": f"raw{d}" for d in range(1, 29)},
        "label_snapshots": {f"2026-01-{d:02d}": f"lab{d}" for d in range(1, 29)},
        "excluded_partitions": {},
        "counts": {"rows": 20000, "labelled_rows": 18000, "held_out_for_evaluation": 900},
        "training_set_sha256": "aaa",
        "eval_test_set_sha256": "ttt",
        "feature_set": {"version": "1", "hash": "h1", "source": SOURCE_V1},
        "code": {"git_commit": "c1", "git_dirty": False},
        "packages": {"python": "3.11.7", "scikit-learn": "1.9.1", "pandas": "3.1.1"},
        "model": {
            "family": "gradient_boosting",
            "hyperparameters": {"max_depth": 3, "n_estimators": 100},
            "seed": 7,
            "validation_fraction": 0.2,
        },
        "task": {"kind": "binary", "param": 0.5},
        "owner": "model owner",
        "change_summary": "first model",
    }
    for path, value in changes.items():
        node = manifest
        *head, last = path.split("__")
        for key in head:
            node = node[key]
        node[last] = value
    return manifest


def _evaluation(version, champion, auc, slices=()) -> dict:
    return {
        "challenger_version": version,
        "champion_version": champion,
        "verdict": "promote",
        "reasons": ["superiority: fine", *slices],
        "metrics": {"roc_auc": {"value": auc, "low": auc - 0.02, "high": auc + 0.02}},
        "test_set": {"version": "1", "sha256": "ttt", "rows": 900},
        "policy_version": "p1",
        "evaluated_at": "2026-02-03T09:00:00",
    }


def _rows(doc, name):
    [section] = [s for s in doc["sections"] if s["name"] == name]
    return section, {r["field"]: r for r in section["rows"]}


def test_two_identical_lineages_differ_only_in_what_registration_says():
    a = side("1", lineage=_lineage(), tags={}, evaluation=_evaluation("1", None, 0.8))
    b = side("2", lineage=_lineage(), tags={}, evaluation=_evaluation("2", None, 0.8))
    doc = diff_versions(a, b)
    for section in doc["sections"]:
        if section["name"] != "gate":
            assert section["changed"] == [], section
    assert _rows(doc, "feature set")[0]["text_diff"] == []


def test_a_retraining_shows_its_window_data_features_parameters_packages_and_metrics():
    later = {f"2026-01-{d:02d}": f"raw{d}" for d in range(15, 32)}
    later["2026-01-20"] = "resnapshotted"
    b_lineage = _lineage(
        training_window__first_day="2026-01-15",
        training_window__last_day="2026-01-31",
        raw_snapshots=later,
        counts__labelled_rows=12000,
        training_set_sha256="bbb",
        feature_set={"version": "2", "hash": "h2", "source": SOURCE_V2},
        code={"git_commit": "c2", "git_dirty": True},
        packages={"python": "3.11.7", "scikit-learn": "1.9.2", "pandas": "3.1.1"},
        model__hyperparameters={"max_depth": 4, "n_estimators": 100},
        change_summary="PERFORMANCE: concept drift",
    )
    a = side(
        "1",
        lineage=_lineage(),
        tags={"decision.threshold": "0.5"},
        evaluation=_evaluation("1", None, 0.80),
        registration={"description": "first model", "alias_moves": []},
    )
    b = side(
        "5",
        lineage=b_lineage,
        tags={"decision.threshold": "0.31"},
        evaluation=_evaluation("5", "1", 0.86, ["slice 'enterprise' (n=120): 0.9 vs 0.8"]),
        baseline={"champion_version": "5", "metrics": {"roc_auc": {"value": 0.86}}},
        registration={
            "description": "drift",
            "alias_moves": [
                {
                    "alias": "challenger",
                    "from_version": "4",
                    "to_version": "5",
                    "actor": "sensor",
                    "at": "2026-02-01",
                    "reason": "drift",
                }
            ],
        },
    )
    doc = diff_versions(a, b)
    training, rows = _rows(doc, "training data")
    assert (
        rows["window first_day"]["a"] == "2026-01-01"
        and rows["window first_day"]["b"] == "2026-01-15"
    )
    assert rows["rows: labelled_rows"]["changed"] and not rows["rows: rows"]["changed"]
    assert rows["training set sha256"]["b"] == "bbb"
    assert rows["raw snapshot partitions"]["a"] == 28 and rows["raw snapshot partitions"]["b"] == 17
    common = rows["raw snapshot in common"]
    assert common["detail"] == {
        "only_in_a": 14,
        "only_in_b": 3,
        "same_partition_other_content": ["2026-01-20"],
    }
    assert not rows["label snapshot in common"]["detail"]["same_partition_other_content"]
    features, rows = _rows(doc, "feature set")
    assert rows["feature set version"]["a"] == "1" and rows["feature set version"]["b"] == "2"
    added = [line for line in features["text_diff"] if line.startswith("+") and "long" in line]
    assert added == ['+    out["long"] = raw["message_length"] > 500']
    assert features["text_diff"][0].startswith("--- version 1 feature set v1")
    _, rows = _rows(doc, "model")
    assert rows["hyperparameter max_depth"]["changed"]
    assert not rows["hyperparameter n_estimators"]["changed"] and not rows["family"]["changed"]
    assert (rows["decision.threshold"]["a"], rows["decision.threshold"]["b"]) == ("0.5", "0.31")
    code, rows = _rows(doc, "code and packages")
    assert rows["code git_commit"]["b"] == "c2"
    assert (
        rows["package scikit-learn"]["a"] == "1.9.1"
        and rows["package scikit-learn"]["b"] == "1.9.2"
    )
    assert "package pandas" not in rows and "2 packages at the same version" in code["notes"]
    gate, rows = _rows(doc, "gate")
    assert rows["metric roc_auc"]["a"] == "0.8000 [0.7800, 0.8200]"
    assert rows["metric roc_auc"]["b"] == "0.8600 [0.8400, 0.8800]"
    assert rows["judged against champion"]["b"] == "1"
    assert rows["baseline roc_auc"]["b"] == "0.8600" and rows["baseline roc_auc"]["a"] is None
    assert "no baseline was recorded for version 1 as champion" in gate["notes"]
    slices, rows = _rows(doc, "slices")
    assert rows["slice enterprise"]["a"] is None and "0.9 vs 0.8" in rows["slice enterprise"]["b"]
    assert any("first model" in n for n in slices["notes"])
    _, rows = _rows(doc, "registration")
    assert rows["change summary"]["b"] == "PERFORMANCE: concept drift"
    assert "@challenger 4 -> 5 by sensor" in rows["alias moves"]["b"]
    text = "\n".join(render_diff(doc))
    assert "window first_day: 2026-01-01 -> 2026-01-15" in text
    assert "package scikit-learn: 1.9.1 -> 1.9.2" in text
    assert '+    out["long"]' in text


def test_a_version_registered_by_hand_says_per_section_what_it_lacks():
    a = side("1", lineage=_lineage(), tags={}, evaluation=_evaluation("1", None, 0.8))
    b = side(
        "3",
        lineage=None,
        tags={
            "registered_by": "data scientist",
            "feature_set.version": "1",
            "feature_set.hash": "h1",
        },
        evaluation=None,
    )
    doc = diff_versions(a, b)
    for name in ("training data", "feature set", "model", "code and packages"):
        section, _ = _rows(doc, name)
        assert any(
            "version 3 records no lineage (registered by hand by data scientist)" in n
            for n in section["notes"]
        ), (name, section["notes"])
    _, rows = _rows(doc, "feature set")
    # The tags still say which feature set it was trained on.
    assert rows["feature set version"]["b"] == "1" and not rows["feature set version"]["changed"]
    gate, _ = _rows(doc, "gate")
    assert "version 3 was never judged by the gate as a challenger" in gate["notes"]


def test_a_lineage_from_before_packages_were_recorded_says_so():
    old = _lineage()
    del old["packages"]
    doc = diff_versions(side("1", lineage=old), side("2", lineage=_lineage()))
    code, rows = _rows(doc, "code and packages")
    assert not any(f.startswith("package ") for f in rows)
    assert any("version 1's lineage records no installed packages" in n for n in code["notes"])


def test_slice_sentences_read_the_gates_reasons():
    evaluation = {"reasons": ["floor ok", "slice 'new customers' (n=40): not judged", "x"]}
    assert slice_sentences(evaluation) == {
        "new customers": "slice 'new customers' (n=40): not judged"
    }
    assert slice_sentences(None) == {}


@pytest.mark.bad_input
def test_a_side_not_built_with_side_is_refused_naming_what_it_lacks():
    good = side("1", lineage=_lineage())
    bad = copy.deepcopy(good)
    del bad["evaluation"]
    with pytest.raises(KeyError, match="lacks \\['evaluation'\\]"):
        diff_versions(good, bad)

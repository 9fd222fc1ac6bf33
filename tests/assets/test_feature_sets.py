"""Feature sets side by side: what the definitions hash sees, and the lock that pins it.

Each test writes small feature modules into tmp_path and imports them under a unique name,
because the hash is read from a module's source file, as a workflow's features.py would be.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pandas as pd
import pytest

from assets.feature_sets import FeatureSet, FeatureSetMissing, FeatureSetPin, FeatureSets

BASE = '''
import re

import numpy as np
import pandas as pd

_MONEY = r"\\b(?:refund|billing)\\b"
_FAILURE = re.compile(r"\\b(?:error|crash)\\b", re.IGNORECASE)
_SCALE = 10.0
_UNUSED = 1
columns = ("not", "the", "frame", "attribute")


def _subject_flags(subject):
    return subject.str.contains(_MONEY, regex=True).astype("float64")


def _failure(subject):
    return subject.str.contains(_FAILURE).astype("float64")


def _unrelated(x):
    return x + 1


def v1(raw):
    """Raw tickets -> keys and the v1 features."""
    subject = raw["subject"].str.lower()
    out = pd.DataFrame(
        {
            "ticket_id": raw["ticket_id"],
            "channel": raw["channel"].astype("str"),
            "money": _subject_flags(subject),
            "failure": _failure(subject),
            "length": np.log1p(raw["length"]) * _SCALE,
        }
    )
    return out[list(out.columns)]
'''

RAW = pd.DataFrame(
    {
        "ticket_id": ["t1", "t2"],
        "channel": ["email", "chat"],
        "subject": ["Refund please", "App crash"],
        "length": [10, 20],
    }
)


def edit(source: str, old: str, new: str) -> str:
    """Replace text that must be there, so a test never compares a module with itself."""
    assert old in source, old
    return source.replace(old, new)


@pytest.fixture
def load(tmp_path, monkeypatch):
    # A fresh file and module name per load: no stale bytecode, no cached module.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def _load(source: str):
        name = f"feature_module_{uuid.uuid4().hex}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    return _load


def feature_set(module, version: str = "1", function: str = "v1") -> FeatureSet:
    return FeatureSet(
        version,
        getattr(module, function),
        categorical=("channel",),
        numeric=("money", "failure", "length"),
    )


def hash_of(load, source: str, function: str = "v1") -> str:
    return feature_set(load(source), function=function).definitions_hash


# --- the definitions hash ------------------------------------------------------------------


def test_hash_is_a_sha256_and_the_same_source_hashes_the_same_in_another_module(load):
    first, second = hash_of(load, BASE), hash_of(load, BASE)
    assert first == second
    assert len(first) == 64 and int(first, 16) >= 0


def test_hash_ignores_comments_blank_lines_and_formatting(load):
    reformatted = edit(
        BASE,
        '"channel": raw["channel"].astype("str"),',
        "'channel': raw[\n'channel'  # the channel\n].astype('str'),",
    )
    reformatted = edit(reformatted, "def v1(raw):", "# v1: the first version\n\n\ndef v1( raw ):")
    reformatted = edit(
        reformatted, "    return subject.str", "    # helper comment\n\n    return subject.str"
    )
    assert hash_of(load, reformatted) == hash_of(load, BASE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("* _SCALE", "* _SCALE + 1", id="function-body"),
        pytest.param("keys and the v1 features", "keys and the v1 feature columns", id="docstring"),
        pytest.param("(?:refund|billing)", "(?:refund|invoice)", id="str-constant"),
        pytest.param("_SCALE = 10.0", "_SCALE = 10.5", id="float-constant"),
        pytest.param("re.IGNORECASE)", "re.MULTILINE)", id="regex-flags"),
        pytest.param("(?:error|crash)", "(?:error|crash|down)", id="regex-pattern"),
        pytest.param(
            '.astype("float64")\n\n\ndef _failure',
            '.astype("int64")\n\n\ndef _failure',
            id="helper-body",
        ),
    ],
)
def test_hash_changes_with_what_the_function_runs_on(load, old, new):
    assert hash_of(load, edit(BASE, old, new)) != hash_of(load, BASE)


HELPER_IN_NESTED_CODE = """
import pandas as pd

_STOP = ("the", "a")


def _norm(s):
    return s.strip().lower()


def _drop_stop(words):
    return [w for w in words if w not in _STOP]


def in_lambda(raw):
    return pd.DataFrame({"subject": raw["subject"].map(lambda s: _norm(s))})


def in_comprehension(raw):
    return pd.DataFrame({"subject": [_norm(s) for s in raw["subject"]]})


def through_a_helper(raw):
    return pd.DataFrame({"n": [len(_drop_stop(s.split())) for s in raw["subject"]]})
"""


@pytest.mark.parametrize(
    ("function", "old", "new"),
    [
        ("in_lambda", "s.strip().lower()", "s.strip().upper()"),
        ("in_comprehension", "s.strip().lower()", "s.strip().upper()"),
        # A constant reached only through a helper's comprehension still counts.
        ("through_a_helper", '_STOP = ("the", "a")', '_STOP = ("the", "an")'),
    ],
)
def test_hash_follows_helpers_inside_lambdas_comprehensions_and_other_helpers(
    load, function, old, new
):
    changed = edit(HELPER_IN_NESTED_CODE, old, new)
    assert hash_of(load, changed, function) != hash_of(load, HELPER_IN_NESTED_CODE, function)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("return x + 1", "return x + 2", id="unreferenced-function"),
        pytest.param("_UNUSED = 1", "_UNUSED = 2", id="unreferenced-constant"),
        # `out.columns` is an attribute, not the module's `columns`.
        pytest.param('"attribute")', '"attr")', id="global-shadowed-by-an-attribute-name"),
        pytest.param("import numpy as np", "import numpy as np  # noqa", id="import-comment"),
    ],
)
def test_hash_ignores_what_the_function_does_not_run_on(load, old, new):
    assert hash_of(load, edit(BASE, old, new)) == hash_of(load, BASE)


def test_hash_does_not_depend_on_the_hash_seed(tmp_path):
    """Set constants iterate in a seed-dependent order; the pin must not."""
    module = tmp_path / "seeded_features.py"
    module.write_text(
        "_WORDS = {" + ", ".join(f'"w{i}"' for i in range(40)) + "}\n\n"
        "def v1(raw):\n    return raw[[c for c in raw.columns if c in _WORDS]]\n"
    )
    # Load the engine module by path: the hash needs pandas, not Dagster.
    engine = Path(__file__).resolve().parents[2] / "assets" / "feature_sets.py"
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        def load(name, path):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        engine = load("feature_sets_under_test", {str(engine)!r})
        features = load("seeded_features", {str(module)!r})
        print(engine.FeatureSet("1", features.v1, (), ()).definitions_hash)
        """
    )
    hashes = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONDONTWRITEBYTECODE": "1"}
        run = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        hashes.add(run.stdout.strip())
    assert len(hashes) == 1 and len(hashes.pop()) == 64


def test_source_text_holds_the_function_its_helpers_and_constants_but_nothing_else(load):
    module = load(BASE)
    text = feature_set(module).source_text
    assert 'def v1(raw):\n    """Raw tickets -> keys and the v1 features."""' in text
    assert "def _subject_flags(subject):\n    return subject.str.contains(_MONEY" in text
    assert "def _failure(subject):" in text
    assert f"_MONEY = {module._MONEY!r}" in text
    assert f"_FAILURE = re.compile({module._FAILURE.pattern!r}, 34)" in text  # IGNORECASE|UNICODE
    assert "_SCALE = 10.0" in text
    assert "_unrelated" not in text and "_UNUSED" not in text
    assert "by name only: np, pd" in text
    # Stable order: helpers sorted by name after the function itself.
    assert text.index("def v1") < text.index("def _failure") < text.index("def _subject_flags")


def test_a_lambda_is_refused_as_compute():
    with pytest.raises(TypeError, match="defined with `def`"):
        FeatureSet("1", lambda raw: raw, categorical=(), numeric=())


# --- computing features --------------------------------------------------------------------


def test_features_computes_the_declared_columns(load):
    fs = feature_set(load(BASE))
    features = fs.features(RAW)
    assert fs.columns == ["channel", "money", "failure", "length"]
    assert features["money"].tolist() == [1.0, 0.0]
    assert features["failure"].tolist() == [0.0, 1.0]


def test_features_names_the_missing_columns_and_the_version(load):
    module = load(BASE)
    fs = FeatureSet("7", module.v1, categorical=("channel", "plan"), numeric=("money", "tenure"))
    with pytest.raises(KeyError, match=r"v7.*\['plan', 'tenure'\]"):
        fs.features(RAW)


def test_a_column_declared_twice_is_refused(load):
    with pytest.raises(ValueError, match="money"):
        FeatureSet("1", load(BASE).v1, categorical=("money",), numeric=("money",))


# --- several versions ----------------------------------------------------------------------

TWO_VERSIONS = (
    BASE
    + """

def v2(raw):
    out = v1(raw)
    out["length"] = out["length"] * 2
    return out
"""
)


def sets(module, tmp_path, versions=("1", "2"), current="2", lock="features.lock.json"):
    return FeatureSets(
        workflow="ticket_escalation",
        current=current,
        sets=[feature_set(module, v, f"v{v}") for v in versions],
        lock_file=tmp_path / lock,
    )


def test_versions_current_and_get(load, tmp_path):
    module = load(TWO_VERSIONS)
    fsets = sets(module, tmp_path)
    assert fsets.versions == ["1", "2"]
    assert fsets.current_set.version == "2" and fsets.current_set.compute is module.v2
    assert fsets.get("1").compute is module.v1
    # v2 calls v1: changing v1 changes v2's hash too, since v2 runs on it.
    assert fsets.get("1").definitions_hash != fsets.get("2").definitions_hash
    assert "def v1(raw):" in fsets.get("2").source_text


def test_versions_sort_naturally(load, tmp_path):
    module = load(BASE)
    fsets = FeatureSets(
        workflow="w",
        current="10",
        sets=[feature_set(module, v) for v in ("10", "2", "1")],
        lock_file=tmp_path / "lock.json",
    )
    assert fsets.versions == ["1", "2", "10"]


def test_a_duplicate_version_is_refused(load, tmp_path):
    with pytest.raises(ValueError, match="v1 twice"):
        sets(load(TWO_VERSIONS), tmp_path, versions=("1", "1"), current="1")


def test_an_unknown_current_is_refused(load, tmp_path):
    with pytest.raises(ValueError, match=r"current feature set v3 .*declared: 1, 2"):
        sets(load(TWO_VERSIONS), tmp_path, current="3")


def test_get_of_a_version_gone_from_the_code_says_so(load, tmp_path):
    fsets = sets(load(TWO_VERSIONS), tmp_path)
    with pytest.raises(FeatureSetMissing) as caught:
        fsets.get("3")
    assert isinstance(caught.value, LookupError)
    assert str(caught.value) == (
        "feature set v3 of workflow ticket_escalation is no longer in the code (known: 1, 2): "
        "a model trained on it cannot be served, promoted or rolled back to"
    )
    with pytest.raises(FeatureSetMissing):
        fsets.pin("3")


# --- the lock ------------------------------------------------------------------------------


def test_read_lock_of_a_missing_file_is_empty(load, tmp_path):
    assert sets(load(TWO_VERSIONS), tmp_path).read_lock() == {}


def test_pin_all_current_writes_every_version(load, tmp_path):
    fsets = sets(load(TWO_VERSIONS), tmp_path)
    pins = fsets.pin_all_current()
    expected = {v: fsets.get(v).definitions_hash for v in ("1", "2")}
    assert json.loads((tmp_path / "features.lock.json").read_text()) == expected
    assert fsets.read_lock() == expected
    assert [(p.version, p.ok) for p in pins] == [("1", True), ("2", True)]
    assert all(fsets.pin(v).ok for v in fsets.versions)


def test_a_new_version_is_added_and_the_old_pins_are_kept(load, tmp_path):
    sets(load(BASE), tmp_path, versions=("1",), current="1").pin_all_current()
    before = json.loads((tmp_path / "features.lock.json").read_text())
    lock = (tmp_path / "features.lock.json").read_text()
    fsets = sets(load(TWO_VERSIONS), tmp_path)
    assert not fsets.pin("2").ok
    fsets.pin_all_current()
    after = fsets.read_lock()
    assert after["1"] == before["1"] and after["2"] == fsets.get("2").definitions_hash
    assert lock != (tmp_path / "features.lock.json").read_text()
    # A version removed from the code keeps its pin, so it cannot come back as other code.
    sets(load(TWO_VERSIONS), tmp_path, versions=("2",), current="2").pin_all_current()
    assert set(json.loads((tmp_path / "features.lock.json").read_text())) == {"1", "2"}


def test_a_changed_pinned_version_is_refused_and_the_lock_is_left_alone(load, tmp_path):
    sets(load(TWO_VERSIONS), tmp_path).pin_all_current()
    lock_path = tmp_path / "features.lock.json"
    before = lock_path.read_bytes()
    changed = sets(load(edit(TWO_VERSIONS, "* _SCALE", "* _SCALE * 3")), tmp_path)
    old, new = json.loads(before)["1"], changed.get("1").definitions_hash
    assert old != new
    with pytest.raises(ValueError) as caught:
        changed.pin_all_current()
    message = str(caught.value)
    assert "v1 changed without a version bump" in message
    assert old[:12] in message and new[:12] in message
    assert lock_path.read_bytes() == before


def test_pin_sentences(load, tmp_path):
    fsets = sets(load(TWO_VERSIONS), tmp_path)
    not_pinned = fsets.pin("2")
    assert not not_pinned.ok and not_pinned.pinned_hash is None
    assert not_pinned.reason() == (
        "feature set v2 of ticket_escalation is not pinned in features.lock.json: "
        "run `afterlaunch feature-lock --workflow ticket_escalation`"
    )

    fsets.pin_all_current()
    pinned = fsets.pin("2")
    assert pinned.ok
    assert pinned.reason() == (
        f"feature set v2 of ticket_escalation matches its pinned hash "
        f"{pinned.definitions_hash[:12]}"
    )
    assert pinned.code_version == f"2-{pinned.definitions_hash[:12]}"

    changed = sets(load(edit(TWO_VERSIONS, "* _SCALE", "* _SCALE * 3")), tmp_path).pin("1")
    assert not changed.ok
    assert changed.reason().startswith(
        f"feature definitions of v1 changed without a version bump: pinned at "
        f"{changed.pinned_hash[:12]}, the code now hashes to {changed.definitions_hash[:12]}; "
        "add a new version (v3) beside it and run "
        "`afterlaunch feature-lock --workflow ticket_escalation`"
    )


def test_a_pin_suggests_the_next_version_only_when_versions_are_numbers():
    pin = FeatureSetPin("w", "1", "b" * 64, "a" * 64, next_version="2")
    assert "add a new version (v2) beside it" in pin.reason()
    bare = FeatureSetPin("w", "alpha", "b" * 64, "a" * 64)
    assert "add a new version beside it" in bare.reason()
    assert "pinned at aaaaaaaaaaaa, the code now hashes to bbbbbbbbbbbb" in bare.reason()

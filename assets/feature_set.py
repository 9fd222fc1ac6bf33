"""The feature set's identity: its version and the hash of its definitions, and the pin check."""

import ast
import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path

from assets import feature_definitions

LOCK_FILE = Path(__file__).with_name("feature_set.lock.json")


def definitions_hash(source: str | None = None) -> str:
    """SHA-256 of the feature module's syntax tree: comments and formatting do not count,
    any change to code, constants or docstrings does."""
    tree = ast.parse(source if source is not None else inspect.getsource(feature_definitions))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def read_lock(path: Path = LOCK_FILE) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class FeatureSetPin:
    version: str
    definitions_hash: str
    pinned_hash: str | None

    @property
    def ok(self) -> bool:
        return self.pinned_hash == self.definitions_hash

    @property
    def code_version(self) -> str:
        """What the Dagster UI compares to call materialized features stale."""
        return f"{self.version}-{self.definitions_hash[:12]}"

    def reason(self) -> str:
        if self.ok:
            return f"feature set v{self.version} matches its pinned hash {self.pinned_hash[:12]}"
        if self.pinned_hash is None:
            return (
                f"feature set v{self.version} is not pinned in {LOCK_FILE.name}: run "
                "`afterlaunch feature-lock` after bumping FEATURE_SET_VERSION"
            )
        return (
            f"feature definitions changed without a version bump: v{self.version} was pinned "
            f"at {self.pinned_hash[:12]}, the code now hashes to {self.definitions_hash[:12]}; "
            "bump FEATURE_SET_VERSION and run `afterlaunch feature-lock`"
        )


def current_pin(lock: dict[str, str] | None = None) -> FeatureSetPin:
    lock = read_lock() if lock is None else lock
    version = feature_definitions.FEATURE_SET_VERSION
    return FeatureSetPin(version, definitions_hash(), lock.get(version))


def pin_current_version(path: Path = LOCK_FILE) -> FeatureSetPin:
    """Record the current version's hash; a version already pinned to other code is refused."""
    lock = read_lock(path)
    pin = current_pin(lock)
    if pin.pinned_hash is not None and not pin.ok:
        raise ValueError(pin.reason())
    lock[pin.version] = pin.definitions_hash
    path.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")
    return current_pin(lock)

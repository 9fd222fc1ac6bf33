"""Feature sets versioned side by side, each pinned to the hash of its definitions.

A workflow declares its feature sets in its own `features.py`: one compute function per version
(raw rows -> entity keys plus feature columns). A model records the version and definitions
hash it was trained on, so serving, evaluation, promotion and rollback compute *that model's*
features; a version whose code changed without a bump, or that is gone from the code, is
caught with a sentence that says what to do.

The hash covers what the compute function actually runs on: its own syntax tree, the syntax
tree of every same-module function or class it reaches, and the value of every module-level
constant it reaches. Comments and formatting do not count; docstrings do. Anything else it
names (modules, library functions, objects from other modules) counts by name only.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import inspect
import json
import os
import re
import textwrap
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pandas as pd

_SHORT = 12  # hash characters shown in sentences and in Dagster code versions
_SCALARS = (str, bytes, int, float, bool, type(None))


class FeatureSetMissing(LookupError):
    """A model's feature-set version is no longer in the workflow's code."""

    def __init__(self, workflow: str, version: str, known: Sequence[str]):
        self.workflow, self.version, self.known = workflow, version, list(known)
        super().__init__(
            f"feature set v{version} of workflow {workflow} is no longer in the code "
            f"(known: {', '.join(self.known) or 'none'}): a model trained on it cannot be "
            "served, promoted or rolled back to"
        )


# --- what a definition reaches ------------------------------------------------------------


def _canonical(value: object, _seen: tuple[int, ...] = ()) -> str | None:
    """A stable text for a module-level constant, or None if the value is not one.

    Exact types only: a subclass (an enum, a named tuple) may carry behaviour a repr hides.
    Sets are sorted because their iteration order changes with PYTHONHASHSEED."""
    kind = type(value)
    if kind in _SCALARS:
        return repr(value)
    if kind is re.Pattern:
        # Not repr(): it truncates long patterns.
        return f"re.compile({value.pattern!r}, {value.flags})"
    if kind not in (tuple, list, dict, set, frozenset) or id(value) in _seen:
        return None
    seen = (*_seen, id(value))
    if kind is dict:
        items = [(_canonical(k, seen), _canonical(v, seen)) for k, v in value.items()]
        if any(k is None or v is None for k, v in items):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    parts = [_canonical(v, seen) for v in value]
    if any(p is None for p in parts):
        return None
    if kind is tuple:
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if kind is list:
        return "[" + ", ".join(parts) + "]"
    body = "{" + ", ".join(sorted(parts)) + "}" if parts else ""
    return f"{kind.__name__}({body})"


def _code_names(code: types.CodeType) -> set[str]:
    """Global and attribute names used by a code object and every code object nested in it
    (lambdas, comprehensions, inner functions)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _name_ids(nodes: Sequence[ast.AST | None]) -> set[str]:
    return {
        n.id
        for node in nodes
        if node is not None
        for n in ast.walk(node)
        if isinstance(n, ast.Name)
    }


@dataclass(frozen=True)
class _Definition:
    """One function or class: the source as written and its syntax tree without positions."""

    name: str
    source: str
    tree: ast.AST

    @property
    def dump(self) -> str:
        return ast.dump(self.tree, include_attributes=False)


def _parse(obj: object, name: str) -> _Definition:
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as error:
        raise TypeError(f"cannot read the source of {name}: {error}") from error
    try:
        tree = ast.parse(source).body[0]
    except (SyntaxError, IndexError) as error:
        # A lambda's source is the line around it, which need not parse on its own.
        raise TypeError(
            f"cannot read the definition of {name}: define it with `def` at module level"
        ) from error
    expected = ast.ClassDef if inspect.isclass(obj) else (ast.FunctionDef, ast.AsyncFunctionDef)
    is_lambda = getattr(obj, "__name__", "") == "<lambda>"
    if is_lambda and isinstance(tree, ast.Assign | ast.AnnAssign):
        return _Definition(name, source, tree)  # `_norm = lambda s: ...` at module level
    if not isinstance(tree, expected) or tree.name != obj.__name__:
        # The file on disk no longer holds what was imported (edited since): a hash of the
        # file would describe code that is not running.
        raise TypeError(
            f"the source file of {name} no longer matches the loaded code: reload the module"
        )
    return _Definition(name, source, tree)


def _references(obj: object, definition: _Definition) -> set[str]:
    """The global names a definition uses.

    For a function: names that appear both as bare names in its syntax tree and in its code
    objects (so an attribute such as `df.columns` does not pull in a global `columns`), plus
    names in its decorators, defaults and annotations, which are evaluated at module level.
    For a class: every bare name in its body."""
    tree = definition.tree
    if isinstance(tree, ast.FunctionDef | ast.AsyncFunctionDef):
        code = inspect.unwrap(obj).__code__
        header = [*tree.decorator_list, tree.returns, *tree.args.defaults, *tree.args.kw_defaults]
        every_arg = [*tree.args.posonlyargs, *tree.args.args, *tree.args.kwonlyargs]
        every_arg += [a for a in (tree.args.vararg, tree.args.kwarg) if a is not None]
        header += [a.annotation for a in every_arg]
        return (_name_ids([tree]) & _code_names(code)) | _name_ids(header)
    return _name_ids([tree])


@dataclass(frozen=True)
class _Reach:
    """Everything a compute function reaches, keyed by the global name it was reached by."""

    compute: _Definition
    definitions: dict[str, _Definition]
    constants: dict[str, str]
    by_name: list[str]


def _reach(compute: Callable) -> _Reach:
    if not inspect.isfunction(compute):
        raise TypeError(
            f"a feature set's compute must be a function defined with `def`, not {compute!r}"
        )
    module = compute.__module__
    name = compute.__qualname__
    if compute.__name__ == "<lambda>":
        raise TypeError(
            f"a feature set's compute must be a function defined with `def`, not a lambda "
            f"({module}): its definition could not be read back or diffed"
        )
    root = _parse(compute, name)
    namespace = compute.__globals__
    definitions: dict[str, _Definition] = {}
    constants: dict[str, str] = {}
    by_name: set[str] = set()
    seen_objects = {id(compute)}
    queue: list[tuple[object, _Definition]] = [(compute, root)]
    while queue:
        obj, definition = queue.pop()
        for ref in sorted(_references(obj, definition)):
            if ref in definitions or ref in constants or ref in by_name:
                continue
            if ref not in namespace:
                continue  # a builtin, a local, or an attribute name: already in the tree
            value = namespace[ref]
            same_module = getattr(value, "__module__", None) == module
            if same_module and (inspect.isfunction(value) or inspect.isclass(value)):
                if id(value) in seen_objects:
                    by_name.add(ref)  # a second name for a definition already hashed
                    continue
                try:
                    found = _parse(value, ref)
                except TypeError:
                    if inspect.isclass(value):
                        by_name.add(ref)  # a generated class (namedtuple): no source to read
                        continue
                    raise
                seen_objects.add(id(value))
                definitions[ref] = found
                queue.append((value, found))
                continue
            text = _canonical(value)
            if text is not None:
                constants[ref] = text
            elif value is not getattr(builtins, ref, object()):
                by_name.add(ref)
    return _Reach(root, definitions, constants, sorted(by_name))


def _hash(reach: _Reach) -> str:
    payload = {
        "compute": reach.compute.dump,
        "definitions": [[n, reach.definitions[n].dump] for n in sorted(reach.definitions)],
        "constants": [[n, reach.constants[n]] for n in sorted(reach.constants)],
        "by_name": reach.by_name,
    }
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()


def _source_text(reach: _Reach, version: str, module: str) -> str:
    parts = [f"# feature set v{version}, from {module}", reach.compute.source.rstrip()]
    parts += [reach.definitions[n].source.rstrip() for n in sorted(reach.definitions)]
    if reach.constants:
        parts.append("\n".join(f"{n} = {reach.constants[n]}" for n in sorted(reach.constants)))
    if reach.by_name:
        parts.append(f"# also named, by name only: {', '.join(reach.by_name)}")
    return "\n\n\n".join(parts) + "\n"


# --- one version ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureSet:
    """One version of a workflow's features: a compute function and the columns it promises."""

    version: str
    compute: Callable[[pd.DataFrame], pd.DataFrame]
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    contract: type | None = None
    description: str = ""

    def __post_init__(self):
        if (
            not isinstance(self.version, str)
            or not self.version
            or self.version != self.version.strip()
        ):
            raise TypeError(f"a feature set version is a non-empty string, got {self.version!r}")
        # Lists are accepted for convenience; stored as tuples so the set stays frozen.
        object.__setattr__(self, "categorical", tuple(self.categorical))
        object.__setattr__(self, "numeric", tuple(self.numeric))
        columns = self.columns
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise ValueError(f"feature set v{self.version} declares {duplicated} more than once")
        # Read the definitions now, at import, while the file on disk is the code that runs.
        self._reach  # noqa: B018

    @cached_property
    def _reach(self) -> _Reach:
        return _reach(self.compute)

    @property
    def columns(self) -> list[str]:
        return [*self.categorical, *self.numeric]

    @cached_property
    def definitions_hash(self) -> str:
        return _hash(self._reach)

    @cached_property
    def source_text(self) -> str:
        """The definitions as hashed, readable: stored with a model so two versions can be
        diffed after the code has moved on."""
        return _source_text(self._reach, self.version, self.compute.__module__)

    def features(self, raw: pd.DataFrame) -> pd.DataFrame:
        features = self.compute(raw)
        if not isinstance(features, pd.DataFrame):
            raise TypeError(
                f"feature set v{self.version} returned {type(features).__name__}, not a DataFrame"
            )
        missing = [c for c in self.columns if c not in features.columns]
        if missing:
            raise KeyError(
                f"feature set v{self.version} did not compute its declared columns {missing}"
            )
        return features


# --- the pin ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureSetPin:
    """A version's definitions hash in the code against the one recorded in the lock file."""

    workflow: str
    version: str
    definitions_hash: str
    pinned_hash: str | None
    lock_file: str = "features.lock.json"  # a name, for the sentence: homes move
    next_version: str | None = None  # what to call the version that carries a change

    @property
    def ok(self) -> bool:
        return self.pinned_hash == self.definitions_hash

    @property
    def code_version(self) -> str:
        """What Dagster compares to call materialized partitions stale."""
        return f"{self.version}-{self.definitions_hash[:_SHORT]}"

    def reason(self) -> str:
        lock_command = f"`afterlaunch feature-lock --workflow {self.workflow}`"
        if self.ok:
            return (
                f"feature set v{self.version} of {self.workflow} matches its pinned hash "
                f"{self.definitions_hash[:_SHORT]}"
            )
        if self.pinned_hash is None:
            return (
                f"feature set v{self.version} of {self.workflow} is not pinned in "
                f"{self.lock_file}: run {lock_command}"
            )
        new = f"a new version (v{self.next_version})" if self.next_version else "a new version"
        return (
            f"feature definitions of v{self.version} changed without a version bump: pinned at "
            f"{self.pinned_hash[:_SHORT]}, the code now hashes to "
            f"{self.definitions_hash[:_SHORT]}; add {new} beside it and run {lock_command} "
            f"(v{self.version} itself must go back to the code it was pinned with)"
        )


# --- all versions of a workflow -----------------------------------------------------------


def _version_key(version: str) -> list[tuple[int, int | str]]:
    # Natural order, so v10 sorts after v9.
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", version) if p]


class FeatureSets:
    """A workflow's feature sets, side by side, with the lock file that pins their hashes."""

    def __init__(self, *, workflow: str, current: str, sets: Sequence[FeatureSet], lock_file: Path):
        by_version: dict[str, FeatureSet] = {}
        for feature_set in sets:
            if feature_set.version in by_version:
                raise ValueError(
                    f"workflow {workflow} declares feature set v{feature_set.version} twice"
                )
            by_version[feature_set.version] = feature_set
        if current not in by_version:
            raise ValueError(
                f"workflow {workflow}'s current feature set v{current} is not among its sets "
                f"(declared: {', '.join(sorted(by_version, key=_version_key)) or 'none'})"
            )
        self.workflow = workflow
        self.current = current
        self.lock_file = Path(lock_file)
        self._sets = {v: by_version[v] for v in sorted(by_version, key=_version_key)}

    def __repr__(self) -> str:
        return (
            f"FeatureSets(workflow={self.workflow!r}, current={self.current!r}, "
            f"versions={self.versions!r})"
        )

    def __iter__(self) -> Iterator[FeatureSet]:
        return iter(self._sets.values())

    def __contains__(self, version: object) -> bool:
        return version in self._sets

    @property
    def current_set(self) -> FeatureSet:
        return self._sets[self.current]

    @property
    def versions(self) -> list[str]:
        return list(self._sets)

    def get(self, version: str) -> FeatureSet:
        try:
            return self._sets[version]
        except KeyError:
            raise FeatureSetMissing(self.workflow, version, self.versions) from None

    def read_lock(self) -> dict[str, str]:
        if not self.lock_file.exists():
            return {}
        try:
            lock = json.loads(self.lock_file.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{self.lock_file} is not valid JSON: {error}") from error
        if not isinstance(lock, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in lock.items()
        ):
            raise ValueError(f"{self.lock_file} must map feature set versions to hashes")
        return lock

    def _next_version(self, lock: dict[str, str]) -> str | None:
        known = [*self._sets, *lock]
        if not all(v.isdigit() for v in known):
            return None
        return str(max(int(v) for v in known) + 1)

    def _pin(self, version: str, lock: dict[str, str]) -> FeatureSetPin:
        return FeatureSetPin(
            workflow=self.workflow,
            version=version,
            definitions_hash=self.get(version).definitions_hash,
            pinned_hash=lock.get(version),
            lock_file=self.lock_file.name,
            next_version=self._next_version(lock),
        )

    def pin(self, version: str) -> FeatureSetPin:
        return self._pin(version, self.read_lock())

    def pin_all_current(self) -> list[FeatureSetPin]:
        """Pin every version in the code. A version pinned to other code is refused (all of
        them named, nothing written): its models were validated on that code."""
        lock = self.read_lock()
        pins = [self._pin(v, lock) for v in self.versions]
        changed = [p for p in pins if p.pinned_hash is not None and not p.ok]
        if changed:
            raise ValueError("; ".join(p.reason() for p in changed))
        # Versions gone from the code keep their pins: bringing one back with other code
        # must still be refused.
        merged = {**lock, **{p.version: p.definitions_hash for p in pins}}
        ordered = {v: merged[v] for v in sorted(merged, key=_version_key)}
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.lock_file.with_name(self.lock_file.name + ".tmp")
        partial.write_text(json.dumps(ordered, indent=2) + "\n")
        os.replace(partial, self.lock_file)  # a crash mid-write leaves the old lock whole
        return [self._pin(v, ordered) for v in self.versions]

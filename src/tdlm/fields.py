"""One parameter framework for both model families: a table of fields drives the YAML keys, the
command-line flags and their help, the validation, the JSON-schema fragments and the README tables.

A field knows its type, default, allowed values (as a predicate, as human-readable text and as JSON
schema keywords) and whether it changes the physics. Hand-written rather than pydantic: the tables are
short, the errors must name the field with its allowed values in the project's words, and dotted
keys (`data.source`) map onto nested YAML and flat flags alike.
"""

from __future__ import annotations

import argparse
import logging
import math
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("tdlm.fields")
NULLS = ("null", "none")
# netCDF attributes (every parameter is one, `param_<key>`) store integers as int64: a larger one is
# accepted by Python and the seeding functions but fails only when the file is written, after the MD
INT64_MAX = 2**63 - 1
TRUE = ("true", "yes", "1")
FALSE = ("false", "no", "0")


class ConfigError(ValueError):
    """Invalid parameters; the message names every bad field with its allowed values."""


@dataclass(frozen=True)
class Rule:
    """Allowed values of a field (or of a list's items): a predicate, its text, its JSON-schema keywords."""

    allowed: str
    ok: Callable[[Any], bool] = lambda v: True
    schema: dict[str, Any] = field(default_factory=dict)


ANY = Rule("any value")
FOLDER = Rule("a folder path")
FILE = Rule("a file path")


def one_of(*values: str) -> Rule:
    return Rule(", ".join(values), lambda v: v in values, {"enum": list(values)})


def at_least(n: float, integer: bool = True) -> Rule:
    return Rule(f"{'integers' if integer else 'numbers'} >= {n:g}", lambda v: v >= n, {"minimum": n})


def above(x: float) -> Rule:
    return Rule(f"numbers > {x:g}", lambda v: v > x, {"exclusiveMinimum": x})


def interval(low: float, high: float, closed: str = "[]", text: str | None = None) -> Rule:
    """low..high with each end closed ('[' or ']') or open ('(' or ')'); `text` replaces the default wording."""
    lo_closed, hi_closed = closed[0] == "[", closed[1] == "]"
    schema = {"minimum" if lo_closed else "exclusiveMinimum": low, "maximum" if hi_closed else "exclusiveMaximum": high}

    def ok(v: Any) -> bool:
        return (v >= low if lo_closed else v > low) and (v <= high if hi_closed else v < high)

    return Rule(text or f"numbers in {closed[0]}{low:g}, {high:g}{closed[1]}", ok, schema)


SCHEMA_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "array"}


@dataclass(frozen=True)
class Field:
    name: str  # dotted for nested YAML keys, e.g. "data.source"
    kind: type  # int, float, str, bool or list
    default: Any
    help: str
    rule: Rule = ANY  # of the value, or of every item of a list
    item: type | None = None  # element type of a list
    min_items: int = 0  # lists only
    unique: bool = False  # lists only: distinct items
    nullable: bool = False
    physics: bool = True  # False: does not change the trajectory (left out of the checkpoint key)
    rerun: bool = True  # False: changes neither the trajectory nor the file (a workflow does not rerun for it)
    # a modelling choice the paper leaves open: each allowed value's meaning, in the words every output file
    # records as the attribute named like the field (tdlm.md.params.SimParams.choices) and docs/model.md tabulates
    choice: Mapping[Any, str] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace(".", "-").replace("_", "-")

    @property
    def allowed(self) -> str:
        if self.kind is not list:
            text = self.rule.allowed
        else:
            size = {0: "a list", 1: "a non-empty list"}.get(self.min_items, f"a list of >= {self.min_items}")
            items = self.rule.allowed if self.rule is not ANY else f"{self.item.__name__} values"
            text = f"{'distinct ' if self.unique else ''}{items} ({size})"
        return f"{text}, or null" if self.nullable else text

    def check(self, value: Any) -> str | None:
        """Error text of a coerced value against the allowed values, or None. Beyond the field's own
        rule, every field refuses what no output format stores (`limit_problem`)."""
        if value is None:
            return None
        items = value if self.kind is list else (value,)
        problem = next(filter(None, map(limit_problem, items)), None)
        if problem:
            return f"got {_show(value)}: {problem}; allowed values: {self.allowed}"
        if self.kind is list:
            bad = len(value) < self.min_items or (self.unique and len(set(value)) != len(value))
            bad = bad or not all(self.rule.ok(v) for v in value)
        else:
            bad = not self.rule.ok(value)
        return f"got {_show(value)}; allowed values: {self.allowed}" if bad else None

    def schema(self) -> dict[str, Any]:
        """JSON-schema keywords of the field (as the workflow schema writes them)."""
        out: dict[str, Any] = {"type": SCHEMA_TYPES[self.kind]}
        if self.kind is list:
            out["items"] = {"type": SCHEMA_TYPES[self.item], **self.rule.schema}
            if self.min_items:
                out["minItems"] = self.min_items
            if self.unique:
                out["uniqueItems"] = True
        else:
            out.update(self.rule.schema)
        if self.nullable:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out


def limit_problem(value: Any) -> str | None:
    """What makes a value unusable whatever its field: a number that is not finite, an integer beyond the
    int64 that netCDF attributes store, an empty string; None for a usable value. The workflow applies the
    same to every key of its config (`tdlm.sweep.settings.check_config_values`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "not a finite number"
    if isinstance(value, int) and abs(value) > INT64_MAX:
        return f"beyond the int64 range that netCDF stores (|n| <= {INT64_MAX})"
    if isinstance(value, str) and not value.strip():
        return "an empty string"
    return None


def _show(value: Any) -> str:
    return repr(list(value) if isinstance(value, tuple) else value)


def _scalar(kind: type, value: Any) -> Any:
    """A YAML or command-line value as `kind`: numeric text is read (YAML 1.1 gives 1e-5 as text), an
    integer-valued number is an int (1e5), a bool is never a number."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in TRUE:
            return True
        if str(value).lower() in FALSE:
            return False
        raise ValueError(value)
    if isinstance(value, bool) and kind in (int, float):
        raise TypeError(value)
    if kind is int:
        as_float = float(value)
        if not as_float.is_integer():
            raise ValueError(value)
        return int(as_float)
    if kind is float:
        return float(value)
    if not isinstance(value, (str, int, float)):
        raise TypeError(value)
    return str(value)


def coerce(f: Field, value: Any) -> tuple[Any, str | None]:
    """(value as the field's type, None) or (None, error text)."""
    if value is None or (f.nullable and isinstance(value, str) and value.lower() in NULLS):
        return (None, None) if f.nullable else (None, f"must not be empty; allowed values: {f.allowed}")
    try:
        if f.kind is list:
            items = value if isinstance(value, (list, tuple)) else [value]
            return tuple(_scalar(f.item, x) for x in items), None
        return _scalar(f.kind, value), None
    except (TypeError, ValueError, OverflowError):
        want = f"a list of {f.item.__name__}" if f.kind is list else f.kind.__name__
        return None, f"got {value!r} ({type(value).__name__}); expected {want}, allowed values: {f.allowed}"


@dataclass(frozen=True)
class FieldSet:
    """The parameter table of one command."""

    what: str  # names the parameters in errors, e.g. "simulate"
    fields: tuple[Field, ...]
    # old name -> current name: accepted in YAML files, flags and workflow configs with a logged deprecation
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.fields)

    @property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def defaults(self) -> dict[str, Any]:
        return {f.name: f.default for f in self.fields}

    def under(self, prefix: str) -> tuple[Field, ...]:
        """The fields as keys of the section `prefix` of a larger config (`classify` -> `classify.threshold`)."""
        return tuple(replace(f, name=f"{prefix}.{f.name}") for f in self.fields)

    def parse(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Defaults updated by dotted `values`, coerced and range-checked: (clean values, error lines).
        Every bad key is reported, not only the first; lists come back as tuples."""
        by_name = self.by_name
        errors = [f"{k}: unknown key; allowed keys: {', '.join(by_name)}" for k in values if k not in by_name]
        clean: dict[str, Any] = {}
        for f in self.fields:
            value, err = coerce(f, values.get(f.name, f.default))
            err = err or f.check(value)
            if err:
                errors.append(f"{f.name}: {err}")
            clean[f.name] = value
        return clean, errors

    def error(self, errors: list[str]) -> ConfigError:
        return ConfigError(f"invalid {self.what} parameters:\n  " + "\n  ".join(errors))

    def flatten(self, mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        """Nested mapping -> dotted keys (nested only where a dotted field exists)."""
        out: dict[str, Any] = {}
        for key, value in mapping.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and any(f.name.startswith(name + ".") for f in self.fields):
                out.update(self.flatten(value, name + "."))
            else:
                out[name] = value
        return out

    def resolve(self, values: Mapping[str, Any], warn: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
        """Nested keys flattened (`data: {source: ...}`), old names (`aliases`) replaced by the current ones
        (a logged deprecation warning each): (values, {current name: old name used}). An old name given
        together with its current one is an error."""
        flat = self.flatten(values)
        out: dict[str, Any] = {}
        used: dict[str, str] = {}
        for key, value in flat.items():
            new = self.aliases.get(key)
            if new is None:
                out[key] = value
                continue
            if new in flat:
                raise self.error([f"{key}: given together with {new}; allowed: only {new} ({key} is its old name)"])
            if warn:
                log.warning("%s: parameter %r is deprecated, use %r (the same meaning)", self.what, key, new)
            out[new], used[new] = value, key
        return out, used

    @staticmethod
    def relabel(errors: list[str], used: Mapping[str, str]) -> list[str]:
        """Error lines that start with a current name re-labelled with the old name the caller gave
        (`resolve`'s `used`)."""
        out = []
        for line in errors:
            key, sep, rest = line.partition(": ")
            out.append(f"{used[key]}{sep}{rest}" if key in used else line)
        return out

    # ------------------------------------------------------------- command line

    def add_flags(self, parser: argparse.ArgumentParser) -> None:
        """One flag per field; an unset flag does not override the YAML file. A list takes its items as
        separate words, comma-separated, or both (`--t-w 10 100`, `--widths 20,15,10`); `null` clears a
        nullable field."""
        group = parser.add_argument_group("parameters (override the YAML file)")
        for f in self.fields:
            group.add_argument(
                f.flag,
                dest=f.name,
                type=_reader(f),
                nargs="+" if f.kind is list else None,
                action=_ListFlag if f.kind is list else "store",
                default=argparse.SUPPRESS,
                metavar=(f.item or f.kind).__name__.upper(),
                help=f"{f.help} (default: {_text(f.default)}; allowed: {f.allowed})",
            )

    def from_args(self, args: argparse.Namespace) -> dict[str, Any]:
        """The values of the flags given on the command line (dotted keys)."""
        return {f.name: getattr(args, f.name) for f in self.fields if hasattr(args, f.name)}

    def to_flags(self, values: Mapping[str, Any]) -> str:
        """Command-line flags that reproduce `values` (dotted keys), in one syntax for every command: list
        items as separate words, `null` where it differs from the default (a null default is left out)."""
        parts = []
        for key, value in values.items():
            f = self.by_name[key]
            if value is None and f.default is None:
                continue
            words = [str(v) for v in value] if isinstance(value, (list, tuple)) else ["null" if value is None else str(value)]
            parts.append(" ".join([f.flag, *map(shlex.quote, words)]))
        return " ".join(parts)

    # ------------------------------------------------------------- documentation

    def markdown(self) -> str:
        """The table of keys, defaults, allowed values and meanings that the READMEs show."""
        rows = ["| key | default | allowed values | meaning |", "| --- | --- | --- | --- |"]
        rows += [f"| `{f.name}` | {_default(f)} | {f.allowed} | {f.help} |" for f in self.fields]
        return "\n".join(rows)


def _default(f: Field) -> str:
    """A field's default as the README tables show it; a field without one (and not nullable) is required."""
    return "required" if f.default is None and not f.nullable else f"`{_text(f.default)}`"


def _text(value: Any) -> str:
    """A value as a flag or README writes it: null, true/false, lists as space-separated words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return " ".join(map(_text, value))
    return str(value)


class _ListFlag(argparse.Action):
    """Joins a list flag's words (each of which may hold comma-separated items); `null` alone clears it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None) -> None:
        items = None if list(values) == [None] else [x for word in values for x in (word if word is not None else [None])]
        setattr(namespace, self.dest, items)


def _reader(f: Field) -> Callable[[str], Any]:
    """argparse type of a field's flag: the text as the field's type (a list word may hold several
    comma-separated items); ranges are checked later, with the YAML values."""
    kind = f.item if f.kind is list else f.kind

    def read(text: str) -> Any:
        if f.nullable and text.lower() in NULLS:
            return None
        try:
            if f.kind is list:
                return [_scalar(kind, word) for word in text.split(",") if word]
            return _scalar(kind, text)
        except (TypeError, ValueError, OverflowError):
            raise argparse.ArgumentTypeError(
                f"{f.name}: cannot read {text!r} as {kind.__name__}; allowed values: {f.allowed}"
            ) from None

    read.__name__ = kind.__name__  # argparse names the type in its messages
    read.field = f  # type: ignore[attr-defined]  # what the flag holds: the fuzzer draws bad values from it
    return read


def flag_type(f: Field) -> Callable[[str], Any]:
    """argparse type of a stand-alone flag: the text as the field's type, checked against its allowed
    values at parse time (a usage error, exit 2, that names the flag and the allowed values)."""
    read = _reader(f)

    def read_and_check(text: str) -> Any:
        value = read(text)
        err = f.check(value)
        if err:
            raise argparse.ArgumentTypeError(f"{f.name}: {err}")
        return value

    read_and_check.__name__ = read.__name__
    read_and_check.field = f  # type: ignore[attr-defined]
    return read_and_check


def add_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, f: Field) -> None:
    """A command's own flag for one field (not an override of a YAML file): its value checked at parse
    time (`flag_type`), its default the field's; a list takes its items as words and/or comma-separated."""
    words = {"nargs": "+", "action": _ListFlag} if f.kind is list else {}
    parser.add_argument(f.flag, dest=f.name, type=flag_type(f), default=f.default, help=f.help, **words)


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last one silently,
    so `T: 1e-5` followed by `T: 1.0` would run a different sweep than the file seems to say)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; give each key once", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, where: str = "--config") -> Any:
    """The YAML document of a file through UniqueKeyLoader; a missing, unreadable, malformed or
    duplicate-key file is a ConfigError that names `where` and the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except OSError as err:
        raise ConfigError(f"{where}: cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where}: {path} is not a text file: {err.reason}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: {path} is not valid YAML: {err}") from None


def load_yaml(path: str | Path, where: str = "--config") -> dict[str, Any]:
    """A YAML mapping of parameters (not yet validated); a missing, unreadable or malformed file, or one
    that repeats a key, is a ConfigError that names it."""
    data = read_yaml(path, where)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: {path}: expected a mapping of parameter names to values, got {type(data).__name__}")
    return data


def schema_of(fields: Iterable[Field]) -> dict[str, Any]:
    """JSON-schema `properties` of fields, nested by their dotted names."""
    out: dict[str, Any] = {}
    for f in fields:
        *parents, leaf = f.name.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {"type": "object", "properties": {}})["properties"]
        node[leaf] = f.schema()
    return out

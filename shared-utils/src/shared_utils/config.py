"""Typed configuration: YAML (with ``_base_`` inheritance) and ``key=value`` overrides into nested dataclasses."""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
import pathlib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Union

import yaml

from .errors import InputError
from .io.atomic import atomic_write


class ConfigError(InputError):
    """An invalid configuration file, override or value."""


def _read_yaml(path: pathlib.Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file '{path}' not found")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file '{path}' is not valid YAML ({type(exc).__name__})") from exc
    if data is None:
        raise ConfigError(f"config file '{path}' is empty: write the keys to change, or '{{}}' for all defaults")
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping at the top level, not {type(data).__name__}")
    return data


def _deep_merge(base: dict, new: Mapping) -> dict:
    merged = dict(base)
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _dataclass_in(tp) -> type | None:
    """The dataclass type inside ``tp`` (itself, or a member of an Optional/Union), if any."""
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg):
                return arg
    return None


def _all_keys(cls, prefix: str = "") -> list[str]:
    keys = []
    for name, tp in typing.get_type_hints(cls).items():
        keys.append(prefix + name)
        sub = _dataclass_in(tp)
        if sub is not None:
            keys += _all_keys(sub, f"{prefix}{name}.")
    return keys


def _check_keys(cls, data: Mapping, origin: str, root, prefix: str = "") -> None:
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in hints:
            match = difflib.get_close_matches(full, _all_keys(root), n=1, cutoff=0.5)
            hint = f"; did you mean '{match[0]}'?" if match else ""
            raise ConfigError(f"unknown config key '{full}' in {origin}{hint}")
        sub = _dataclass_in(hints[key])
        if sub is not None and isinstance(value, Mapping):
            _check_keys(sub, value, origin, root, full + ".")


def _load_yaml_tree(path: pathlib.Path, cls, seen: tuple = ()) -> dict:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"config file '{path}' inherits from itself through _base_")
    data = _read_yaml(path)
    bases = data.pop("_base_", [])
    merged: dict = {}
    for base in [bases] if isinstance(bases, str) else bases:
        merged = _deep_merge(merged, _load_yaml_tree(path.parent / base, cls, seen + (path,)))
    _check_keys(cls, data, path.name, cls)
    return _deep_merge(merged, data)


def _parse_override(text: str) -> dict:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' is not of the form key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}' has a value that is not valid YAML") from exc
    nested: Any = value
    for part in reversed(key.strip().split(".")):
        nested = {part: nested}
    return nested


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _number(value, tp, key):
    if isinstance(value, str):
        try:
            value = float(value)  # YAML 1.1 reads "1e-3" as a string
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"config key '{key}' expects {tp.__name__}, got {value!r}")
    if tp is int:
        if float(value).is_integer():
            return int(value)
        raise ConfigError(f"config key '{key}' expects int, got {value!r}")
    return float(value)


def _convert(value, tp, key: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' expects a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, key + ".")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        # The arm of the value's own type goes first, so that 1.0 for `int | float` stays a float.
        for arg in sorted(args, key=lambda a: a is not type(value)):
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}' expects {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"config key '{key}' must be one of {list(args)}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}' expects bool (true/false), got {value!r}")
    if tp in (int, float):
        return _number(value, tp, key)
    if tp is str:
        if isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return str(value)
        raise ConfigError(f"config key '{key}' expects str, got {value!r}")
    if tp is pathlib.Path:
        if isinstance(value, (str, pathlib.Path)):
            return pathlib.Path(value)
        raise ConfigError(f"config key '{key}' expects a path, got {value!r}")
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' expects a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"config key '{key}' expects {len(args)} items, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        items = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if (origin or tp) is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' expects a mapping, got {value!r}")
        vtype = args[1] if args else Any
        return {k: _convert(v, vtype, f"{key}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"config key '{key}' expects {_type_name(tp)}, got {value!r}")


def _build(cls, data: Mapping, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        key = prefix + field.name
        if field.name in data:
            kwargs[field.name] = _convert(data[field.name], hints[field.name], key)
        elif dataclasses.is_dataclass(hints[field.name]) and field.default is dataclasses.MISSING and (
            field.default_factory is dataclasses.MISSING
        ):
            kwargs[field.name] = _build(hints[field.name], {}, key + ".")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"config key '{key}' is required but missing")
    return cls(**kwargs)


def load_config(cls, source=None, overrides: Iterable[str] = ()):
    """Build dataclass ``cls`` from defaults, then ``source`` (dict or YAML path), then ``key=value`` overrides."""
    if source is None:
        data: dict = {}
    elif isinstance(source, Mapping):
        data = dict(source)
        _check_keys(cls, data, "config", cls)
    else:
        data = _load_yaml_tree(pathlib.Path(source), cls)
    if isinstance(overrides, str):
        overrides = [overrides]
    for text in overrides:
        nested = _parse_override(text)
        _check_keys(cls, nested, f"override '{text}'", cls)
        data = _deep_merge(data, nested)
    # Start from the dataclass defaults so a partial nested mapping keeps the other fields' defaults.
    base = config_to_dict(_build(cls, {})) if not _has_required(cls) else {}
    return _build(cls, _deep_merge(base, data))


def _has_required(cls) -> bool:
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            if not dataclasses.is_dataclass(hints[field.name]) or _has_required(hints[field.name]):
                return True
    return False


def _plain(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def config_to_dict(obj) -> dict:
    return _plain(obj)


def save_config(obj, path) -> None:
    with atomic_write(path, "w") as f:
        yaml.safe_dump(config_to_dict(obj), f, sort_keys=False)


def list_packaged_configs(package: str) -> list[pathlib.Path]:
    folder = importlib.resources.files(package) / "configs"
    if not folder.is_dir():
        return []
    return sorted(pathlib.Path(str(p)) for p in folder.iterdir() if p.name.endswith((".yaml", ".yml")))


def packaged_config(package: str, name: str) -> pathlib.Path:
    """``name`` is an existing YAML path or the stem of a config shipped in ``package``'s ``configs/`` folder."""
    if pathlib.Path(name).is_file():
        return pathlib.Path(name)
    available = list_packaged_configs(package)
    for path in available:
        if name in (path.stem, path.name):
            return path
    names = ", ".join(p.stem for p in available) or "none"
    raise ConfigError(f"config '{name}' is neither a file nor a config shipped with {package} (available: {names})")

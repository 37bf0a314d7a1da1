"""Typed, strict configuration helpers.

Every hyperparameter lives in a ``@dataclass`` next to the code that uses it.
:func:`apply_overrides` sets fields from ``key=value`` strings or dicts; an
unknown key or a value of the wrong type is a :class:`UserError` that names the
closest valid key. A field's allowed range is declared on the field
(:func:`bounded`) and checked by :func:`check_fields`, which a config's
``validate`` runs (the :class:`Checked` mixin gives it one); ``validate`` itself is
written by hand only for rules between fields.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from selfsup.errors import UserError, closest


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` (often a string from the CLI) to type ``tp``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except UserError as e:
                errors.append(str(e))
        raise UserError(f"bad value {value!r} for '{key}': expected {tp}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            guess = closest(str(value), [str(a) for a in allowed])
            raise UserError(
                f"bad value {value!r} for '{key}': choose one of {', '.join(map(str, allowed))}",
                hint=f"did you mean '{guess}'?" if guess else None,
            )
        return value
    if origin in (tuple, list):
        args = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise UserError(f"bad value {value!r} for '{key}': expected a list")
        inner = args[0] if args else str
        out = [_coerce(v.strip() if isinstance(v, str) else v, inner, key) for v in value]
        return tuple(out) if origin is tuple else out
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise UserError(f"bad value {value!r} for '{key}': expected true/false")
    if tp is int:
        if isinstance(value, bool):
            raise UserError(f"bad value {value!r} for '{key}': expected an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            try:
                f = float(str(value))
            except ValueError:
                f = None
            if f is not None and f.is_integer():
                return int(f)
            raise UserError(f"bad value {value!r} for '{key}': expected an integer") from None
    if tp is float:
        if isinstance(value, bool):
            raise UserError(f"bad value {value!r} for '{key}': expected a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UserError(f"bad value {value!r} for '{key}': expected a number") from None
    if tp is str:
        if not isinstance(value, (str, int, float)):
            raise UserError(f"bad value {value!r} for '{key}': expected a string")
        return str(value)
    return value


# --------------------------------------------------------------------------- declared field ranges
@dataclasses.dataclass(frozen=True)
class Bounds:
    """An interval: ``ge``/``gt`` the lower end (inclusive/exclusive), ``le``/``lt`` the upper."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def holds(self, v: float) -> bool:
        return ((self.ge is None or v >= self.ge) and (self.gt is None or v > self.gt)
                and (self.le is None or v <= self.le) and (self.lt is None or v < self.lt))

    def __str__(self) -> str:
        low = f"{self.ge:g}" if self.ge is not None else f"{self.gt:g}" if self.gt is not None else None
        high = f"{self.le:g}" if self.le is not None else f"{self.lt:g}" if self.lt is not None else None
        if low is not None and high is not None:
            return f"in {'[' if self.ge is not None else '('}{low}, {high}{']' if self.le is not None else ')'}"
        if low is not None:
            return f"{'>=' if self.ge is not None else '>'} {low}"
        return f"{'<=' if self.le is not None else '<'} {high}"


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None) -> Any:
    """A dataclass field with ``default`` whose value must lie in the given bounds (None: unset, not checked).

    ``ge``/``le`` are inclusive, ``gt``/``lt`` exclusive: ``temperature: float = bounded(0.1, gt=0)``.
    """
    if ge is not None and gt is not None or le is not None and lt is not None:
        raise TypeError("bounded: give at most one lower (ge/gt) and one upper (le/lt) bound")
    return dataclasses.field(default=default, metadata={"bounds": Bounds(ge, gt, le, lt)})


def check_fields(cfg: Any) -> None:
    """Check every field of dataclass ``cfg`` against its declared bounds and ``Literal`` choices.

    Raises :class:`UserError` naming the field, its allowed values and the value it got.
    """
    types_ = _field_types(type(cfg))
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        bounds = f.metadata.get("bounds")
        if bounds is not None and v is not None and not bounds.holds(v):
            raise UserError(f"{f.name} must be {bounds}, got {v}")
        if typing.get_origin(types_[f.name]) is typing.Literal and v not in typing.get_args(types_[f.name]):
            choices = " or ".join(repr(a) for a in typing.get_args(types_[f.name]))
            raise UserError(f"{f.name} must be {choices}, got {v!r}")


class Checked:
    """Mixin of a config dataclass: ``validate()`` runs :func:`check_fields`.

    A config with rules between fields overrides ``validate``, calling ``super().validate()`` first.
    """

    def validate(self) -> None:
        check_fields(self)


def parse_set(pairs: list[str] | None) -> dict[str, str]:
    """Parse CLI ``key=value`` strings into a dict."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"bad --set '{pair}': expected key=value", hint="e.g. --set temperature=0.5")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def valid_keys(*configs: Any) -> list[str]:
    """All field names of the given dataclass instances or types."""
    return [f.name for cfg in configs for f in dataclasses.fields(cfg)]


def apply_overrides(cfg: Any, overrides: dict[str, Any], *, also_valid: list[str] | None = None) -> Any:
    """Return a copy of dataclass ``cfg`` with ``overrides`` applied strictly.

    Args:
        cfg: a dataclass instance.
        overrides: field name -> value (strings are converted to the field's type).
        also_valid: keys that belong to other configs (only used for the suggestion).
    """
    types_ = _field_types(type(cfg))
    changes = {}
    for key, value in overrides.items():
        if key not in types_:
            guess = closest(key, list(types_) + list(also_valid or []))
            raise UserError(
                f"unknown config key '{key}' for {type(cfg).__name__}",
                hint=f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(types_)}",
            )
        changes[key] = _coerce(value, types_[key], key)
    new = dataclasses.replace(cfg, **changes)
    check = getattr(new, "validate", None)
    if callable(check):
        check()
    return new


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON/YAML-friendly dict of a dataclass."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}


# --------------------------------------------------------------------------- the settings router
# the section names routers use; ``NAME.key`` for one of them that a run lacks is routed as ``key``
SECTION_NAMES = ("method", "augment", "optim", "train", "encoder", "text", "series", "video")


def route_keys(sections: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Send each key of ``overrides`` to the one section that owns it.

    ``sections`` maps a section name to a dataclass instance (or type), in priority order. The rule
    for a key two sections own: a plain key goes to the FIRST section that has it; ``section.key``
    (e.g. ``optim.momentum`` beside MoCo's EMA ``momentum``) goes to that section. A key no section
    owns is one :class:`UserError` that lists every valid key, by section, with a did-you-mean.
    """
    owned = {name: {f.name for f in dataclasses.fields(cfg)} for name, cfg in sections.items()}
    out: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for key, value in (overrides or {}).items():
        section, dot, name = key.partition(".")
        if dot and section in sections:
            if name not in owned[section]:
                raise _unknown(key, sections, owned)
            out[section][name] = value
            continue
        if dot and section in SECTION_NAMES:
            key = name  # a section this run does not have (a graph run's ``optim``): routed as the plain key
        for sec, keys in owned.items():
            if key in keys:
                out[sec][key] = value
                break
        else:
            raise _unknown(key, sections, owned)
    return out


def _unknown(key: str, sections: dict[str, Any], owned: dict[str, set[str]]) -> UserError:
    every = [k for name, cfg in sections.items() for k in valid_keys(cfg)]
    every += [f"{name}.{k}" for name, cfg in sections.items() for k in valid_keys(cfg)]
    guess = closest(key, every)
    listing = "; ".join(f"{name}: {', '.join(valid_keys(cfg))}" for name, cfg in sections.items())
    return UserError(f"unknown setting '{key}'",
                     hint=(f"did you mean '{guess}'? " if guess else "") + f"valid keys: {listing}")


def route_settings(sections: dict[str, Any], *layers: dict[str, Any] | None) -> dict[str, Any]:
    """Copies of the ``sections`` configs with ``layers`` applied in order, a later layer winning.

    The one place where settings meet their configs, for every modality: the layers are, in order,
    the modality's and method's defaults, the preset, the ``--config`` file, then ``--set`` (the CLI
    merges the last two, ``--set`` on top; the Python API passes ``**settings``). Each key goes to
    the one section that owns it (:func:`route_keys`: first owner wins, ``section.key`` picks one).
    Values are converted and checked strictly (:func:`apply_overrides`); each config's ``validate``
    runs once, on the final values.
    """
    merged: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for layer in layers:
        for name, part in route_keys(sections, layer).items():
            merged[name].update(part)
    return {name: apply_overrides(cfg if not isinstance(cfg, type) else cfg(), merged[name])
            for name, cfg in sections.items()}


def preset_of(spec: Any, preset: str | None) -> dict[str, Any]:
    """The settings of ``spec``'s preset ``preset`` ({} for none); an unknown name is a UserError."""
    if not preset:
        return {}
    if preset not in spec.presets:
        from selfsup.errors import unknown_name

        raise unknown_name(f"preset of {spec.name}", preset, spec.presets)
    return dict(spec.presets[preset])

"""One strict parser for every finops.toml section: a table -> its typed, frozen dataclass.

Every section (and every entry of an array of tables, `[[report.invoices]]`) is read here, so
every mistake reads the same way and names the file:
- an unknown key names the section and the valid keys, with a "did you mean";
- a value of the wrong type names the key, what was expected and what was found;
- a missing required key (a field without a default) says which keys the entry needs.
Checks of meaning (a range, a known mode, a rule's condition) belong to the section's own
`__post_init__`; the file (and for an entry of an array, which one) is added to the
ConfigError it raises. Pure: the caller reads the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from models.errors import ConfigError, did_you_mean

T = TypeVar("T")


def parse_section(
    cls: type[T],
    data: Any,
    section: str,
    origin: str = "finops.toml",
    item: int | None = None,
) -> T:
    """Strictly build dataclass `cls` from the table `data` of `[section]` in file `origin`.

    `item` numbers an entry of an array of tables (`[[section]] #item`). A value that is
    already a `cls` is returned as it is: Settings holds its sections parsed.
    """
    if isinstance(data, cls):
        return data
    label = section_label(section, item)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{label} must be a table", file=origin, expected="a table", found=repr(data)
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise unknown_key(key, fields, label, origin)
    required = [name for name, f in fields.items() if _is_required(f)]
    for name in required:
        if name not in data:
            raise ConfigError(
                f"{label} has no {name}",
                file=origin,
                expected=f"keys {required}",
                found=", ".join(sorted(data)) or "nothing",
            )
    hints = typing.get_type_hints(cls)
    kwargs = {
        key: _coerce(value, hints[key], f"{section}.{key}", f"{label} {key}", origin)
        for key, value in data.items()
    }
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a check of meaning in the section: say where it came from
        exc.file = exc.file or origin
        if item is not None and exc.location is None:
            exc.location = label
        raise


def section_label(section: str, item: int | None = None) -> str:
    """How a message names a section: `[report]`, or `[[report.invoices]] #2` for an entry."""
    return f"[[{section}]] #{item}" if item is not None else f"[{section}]"


def unknown_key(key: str, valid: typing.Iterable[str], label: str, origin: str) -> ConfigError:
    valid = sorted(valid)
    return ConfigError(
        f"unknown key {key!r} in {label}{did_you_mean(key, valid)}",
        file=origin,
        expected=f"one of {valid}",
        found=key,
    )


def _is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _coerce(value: Any, tp: Any, path: str, where: str, origin: str) -> Any:
    """`value` as type `tp`; `path` is the dotted key (`report.invoices`), `where` its label."""
    kind = typing.get_origin(tp)
    if kind in (typing.Union, types.UnionType):
        return _coerce_union(value, typing.get_args(tp), path, where, origin)
    if dataclasses.is_dataclass(tp):
        return parse_section(tp, value, path, origin)
    if kind in (list, tuple):
        return _coerce_list(value, tp, path, where, origin)
    if kind is dict:
        if not isinstance(value, dict):
            raise _type_error(where, origin, "a table", value)
        _, inner = typing.get_args(tp) or (str, Any)
        return {
            k: _coerce(v, inner, f"{path}.{k}", f"[{path}] {k}", origin) for k, v in value.items()
        }
    if tp is Any:
        return value
    if tp is Decimal:
        return _amount(value, where, origin)
    if tp not in _SCALARS:
        return value
    expected, ok = _SCALARS[tp]
    if not ok(value):
        raise _type_error(where, origin, expected, value)
    return float(value) if tp is float else value


def _coerce_union(value: Any, args: tuple, path: str, where: str, origin: str) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(value, arg, path, where, origin)
        except ConfigError as exc:
            errors.append(exc)
    if len(errors) > 1:  # str | int: say both
        errors[0].expected = " or ".join(e.expected or "" for e in errors)
    raise errors[0]


def _coerce_list(value: Any, tp: Any, path: str, where: str, origin: str) -> Any:
    (inner, *_) = typing.get_args(tp) or (Any,)
    if dataclasses.is_dataclass(inner):  # an array of tables: each entry is a section
        if not isinstance(value, list):
            raise _type_error(where, origin, f"an array of tables ([[{path}]] entries)", value)
        items = [parse_section(inner, v, path, origin, item=n) for n, v in enumerate(value, 1)]
    else:
        if not isinstance(value, list):
            raise _type_error(where, origin, "a list", value)
        items = [_coerce(v, inner, path, where, origin) for v in value]
    return items if typing.get_origin(tp) is list else tuple(items)


def _amount(value: Any, where: str, origin: str) -> Decimal:
    """Money: a decimal string (or a TOML number), kept exact; never a float's binary value."""
    expected = 'a decimal such as "1234.56"'
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(
            f"{where} must be an amount", file=origin, expected=expected, found=repr(value)
        )
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise ConfigError(
            f"{where} is not a number", file=origin, expected=expected, found=repr(value)
        )
    return amount


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_SCALARS: dict[Any, tuple[str, typing.Callable[[Any], bool]]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a number", _is_number),
    str: ("a string", lambda v: isinstance(v, str)),
}


def _type_error(where: str, origin: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(
        f"{where} has the wrong type", file=origin, expected=expected, found=repr(value)
    )

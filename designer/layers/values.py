"""Parameter values typed as text (the Properties form): read into what Keras takes, or refused with why.

Tuples are accepted however people write them (``28, 28, 1``, ``(28, 28, 1)``, ``[28, 28, 1]``,
``(5,)``, ``5``, ``28 28 1``) and stored as JSON lists; text that does not read as a tuple is refused
rather than handed to Keras as a string. ``ast.literal_eval`` reads Python literals and runs no code.
"""

from __future__ import annotations

import ast
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from designer.layers.catalog import ParamSpec

_SPACE_BETWEEN = re.compile(r"(?<=[\w)\]])\s+(?=[\w(\[-])")  # "28 28 1" → "28,28,1"


def parse_param(param: ParamSpec, text: str) -> Any:
    """The value ``text`` means for ``param``; ValueError names what is expected instead."""
    text = text.strip()
    if text in ("", "None"):
        return None
    if param.kind == "str":
        return text
    if param.kind in ("ints", "tuple"):
        return _whole_numbers(param, text)
    try:
        return _literal(text)
    except ValueError:
        if param.kind == "any":  # a name ("float32") or an equation ("ab,bc->ac")
            return text
        raise ValueError(f"not a valid {param.kind}") from None


def none_allowed(param: ParamSpec) -> bool:
    """Whether the tuple's items may be None (a dimension that varies), as Keras documents for shapes."""
    return bool(re.search(r"(integers|ints) or `?none`?", param.doc, re.IGNORECASE))


def _whole_numbers(param: ParamSpec, text: str) -> int | list[Any]:
    allow_none = none_allowed(param)
    expected = "expected whole numbers separated by commas, e.g. " + ("None, 28, 3" if allow_none else "3, 3")
    try:
        value = _literal(text)
    except ValueError:
        try:
            value = _literal(_SPACE_BETWEEN.sub(",", text))
        except ValueError:
            raise ValueError(expected) from None
    if not _all_whole(value, allow_none):
        raise ValueError(expected)
    if isinstance(value, list) and len(value) == 1 and param.kind == "ints":
        return value[0]  # "(3,)" for an int-or-tuple is 3
    return [value] if param.kind == "tuple" and not isinstance(value, list) else value


def _all_whole(value: Any, allow_none: bool) -> bool:
    if isinstance(value, list):  # nested pairs too: ((1, 1), (2, 2)) for a padding
        return all(_all_whole(v, allow_none) for v in value)
    return (isinstance(value, int) and not isinstance(value, bool)) or (value is None and allow_none)


def _literal(text: str) -> Any:
    """JSON (``true``, ``[1, 2]``) or a Python literal (``(1, 2)``, ``None``), as plain JSON values."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(text) from None
    try:  # tuples become lists; sets, bytes, complex numbers and NaN cannot be saved in a project
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise ValueError(text) from None

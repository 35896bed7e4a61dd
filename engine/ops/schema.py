"""Schemas in PyTorch's native_functions.yaml form, parsed for the op table:
``'pow.Tensor_Scalar(Tensor input, Scalar exponent) -> Tensor'`` gives the name, the
overload, each parameter (type, name, default, keyword-only) and the returns."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "Tensor", "Tensor?", "Tensor[]", "Scalar", "int", "int[]", "float", ...
    default: Any = inspect.Parameter.empty
    kwarg_only: bool = False

    @property
    def is_tensor(self) -> bool:
        return self.type.startswith("Tensor")

    @property
    def optional(self) -> bool:
        return self.type.endswith("?")


_PARAM_RE = re.compile(r"^(?P<type>[\w\[\]?]+)\s+(?P<name>\w+)(?:\s*=\s*(?P<default>.+))?$")


def _parse_default(text: str):
    text = text.strip()
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    if text.startswith("[") or text.startswith("("):
        inner = text[1:-1].strip()
        return tuple(_parse_default(t) for t in inner.split(",")) if inner else ()
    if text[0] in "'\"":
        return text[1:-1]
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_schema(schema: str):
    """'pow.Tensor_Scalar(Tensor input, Scalar exponent) -> Tensor' -> (name, overload,
    params, returns)."""
    m = re.match(r"^([\w.]+)\((.*)\)\s*->\s*(.+)$", schema.strip())
    if not m:
        raise ValueError(f"bad schema: {schema}")
    qualname, arglist, returns = m.groups()
    name, _, overload = qualname.partition(".")
    params, kwarg_only = [], False
    depth, current, pieces = 0, "", []
    for ch in arglist:  # split on top-level commas (defaults may hold lists)
        depth += ch in "[("
        depth -= ch in "])"
        if ch == "," and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        pieces.append(current)
    for piece in pieces:
        piece = piece.strip()
        if piece == "*":
            kwarg_only = True
            continue
        pm = _PARAM_RE.match(piece)
        if not pm:
            raise ValueError(f"bad parameter {piece!r} in {schema}")
        default = (_parse_default(pm["default"]) if pm["default"] is not None
                   else inspect.Parameter.empty)
        params.append(Param(pm["name"], pm["type"], default, kwarg_only))
    return name, overload, tuple(params), returns.strip()

"""Cells as class names and texts: the one normalisation every reader (CSV, TSV, JSONL, Parquet, lines, folders) uses.

A label becomes a class name by these rules, the same in every format:

- a string is kept as written, less leading and trailing whitespace (``" pos"`` and ``"pos "`` are ``"pos"``;
  ``"01"`` and ``"1.0"`` stay as they are: a string is never read as a number), in Unicode normalisation form NFC
  (``café`` written with one code point or as ``e`` plus a combining accent is one class); other invisible
  characters (zero-width spaces and joiners) are kept: ``pos\u200b`` is not ``pos``;
- a number is written in its shortest form, an integral value without a decimal point: ``1``, ``1.0`` and the
  string ``"1"`` are all the class ``"1"``; ``2.5`` is ``"2.5"``;
- ``true`` and ``false`` (JSON, a Parquet bool column) are ``"true"`` and ``"false"``;
- a missing label (JSON ``null``, a Parquet null or NaN, an empty or whitespace-only cell) is an error, and so are
  infinities, lists and objects (lists only in single-label data), and binary cells.

Every error is a one-line :class:`TextclfError` naming the file, the 1-based ``row`` (data row after the header)
or ``line`` (physical line of a JSONL or lines file), and the column.
"""

from __future__ import annotations

import logging
import math
import unicodedata
from decimal import Decimal
from pathlib import Path
from typing import Any

from textclf.errors import TextclfError

log = logging.getLogger(__name__)


def label_name(value: Any, path: Path | str, column: str, row: int, unit: str = "row") -> str:
    """The class name of one label cell (see the module rules).

    Raises:
        TextclfError: a missing, empty, non-finite, list, object or binary label, naming ``path``, ``unit`` ``row``
            and ``column``.
    """
    name = clean_name(_scalar(value, path, column, row, unit, "label"))
    if not name:
        raise TextclfError(f"{path}, {unit} {row}: column {column!r} is empty")
    return name


def clean_name(text: str) -> str:
    """A string as a class name: without leading and trailing whitespace, in Unicode NFC (may be empty)."""
    return unicodedata.normalize("NFC", text.strip())


def cell_text(value: Any, path: Path | str, column: str, row: int, unit: str = "row") -> str:
    """One text cell as a string, kept as written (whitespace and all); a number as :func:`label_name` writes it.

    Raises:
        TextclfError: a null or NaN cell, a list, object or binary cell, naming the file, row and column.
    """
    if isinstance(value, str):
        return value
    return _scalar(value, path, column, row, unit, "text")


def label_set(value: Any, delimiter: str, path: Path | str, column: str, row: int, unit: str = "row") -> list[str]:
    """The labels of one multi-label cell, each a :func:`label_name`, in order, once each.

    A list is taken as it is (a missing or empty member is an error); a string is split on ``delimiter`` and its
    blank pieces dropped; a missing cell, an empty list and an empty string are a text with no labels.

    Raises:
        TextclfError: an object cell, or a list member that is not a label.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, dict):
        raise TextclfError(f"{path}, {unit} {row}: column {column!r} holds an object; give a list of labels")
    if isinstance(value, list | tuple):
        items = [label_name(item, path, column, row, unit) for item in value]
    else:
        pieces = _scalar(value, path, column, row, unit, "label").split(delimiter)
        items = [clean_name(piece) for piece in pieces if piece.strip()]
    return list(dict.fromkeys(items))


def check_delimiter(labels: list[Any], delimiter: str, path: Path | str) -> None:
    """Warn when multi-label cells look split on another separator (``bug;account`` read as one label)."""
    names = {label for members in labels for label in members}
    for other in (",", ";", "|", "/", " "):
        joined = sorted(name for name in names if other != delimiter and other in name)
        if len(joined) >= 2:
            log.warning(
                "%s: labels such as %r contain %r: is label_delimiter %r (it is %r)?",
                path,
                joined[0],
                other,
                other,
                delimiter,
            )
            return


def _scalar(value: Any, path: Path | str, column: str, row: int, unit: str, what: str) -> str:
    where = f"{path}, {unit} {row}: column {column!r}"
    if isinstance(value, str):
        return value
    if value is None:
        raise TextclfError(f"{where} is empty")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if math.isnan(value):
            raise TextclfError(f"{where} is empty (NaN)")
        if math.isinf(value):
            raise TextclfError(f"{where} holds {value}, not a {what}")
        if value == int(value):
            return str(int(value))
        return repr(value) if isinstance(value, float) else str(value.normalize())
    if isinstance(value, list | tuple | dict):
        kind = "list" if isinstance(value, list | tuple) else "dict"
        hint = "; for several labels per text set multi_label: true" if kind == "list" and what == "label" else ""
        raise TextclfError(f"{where} holds a {kind}, not a {what}{hint}")
    if isinstance(value, bytes | bytearray):
        raise TextclfError(f"{where} holds binary data, not a {what}")
    return str(value)  # dates, times: their ISO form

"""Groups (conversations, documents) of a custom corpus: its group and order columns, its rows put in group order.

A sequential model (docs/sequential.md) classifies every text of an ordered group with the texts around it, so a
labelled file can name each row's group (``group_column``: a conversation or document id) and its place in the
group (``order_column``: a turn or sentence number). :func:`group_split` reads those columns (CSV, TSV, JSONL,
Parquet, with or without a header) and returns the split with meta ``{"group": [...], "order": [...]}`` and its
rows sorted into group order:

- group names follow :func:`~textclf.data.labels.label_name`'s rules (stripped; a number in its shortest form), so
  a CSV ``7`` and a JSON ``7`` are one group; an empty group cell is an error;
- groups come in order of first appearance in the file; within a group, rows are sorted by their order value (a
  number: ``3``, ``2.5``, ``"10"``; a stable sort, so equal values keep file order, with a warning, since two
  conversations that share an id look just like that), or keep file order without an order column;
- ``order`` holds each row's order value, or without an order column its row number in the file.

A file whose rows are already in group order keeps its texts on disk (:class:`~textclf.data.splits.TextStream`);
any other is read into memory to be sorted.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from textclf.data.columns import Table
from textclf.data.encoding import detect_file_encoding
from textclf.data.groups import order_rows
from textclf.data.jsonl import json_objects
from textclf.data.labels import label_name
from textclf.data.splits import LabelledSplit, TextStream
from textclf.data.tables import HEADER_FORMATS, load_table, table_columns
from textclf.errors import TextclfError
from textclf.wording import counted

log = logging.getLogger(__name__)

GROUP_FORMATS = ("csv", "tsv", "jsonl", "parquet")
Number = int | float


def group_split(
    split: LabelledSplit,
    path: Path,
    fmt: str,
    group_column: str,
    order_column: str | None = None,
    *,
    encoding: str = "auto",
    header: bool = True,
    scratch: Path | None = None,
) -> LabelledSplit:
    """``split`` (read from ``path``) with its group and order meta, its rows sorted into group order.

    Args:
        split: the file's labelled split, as :func:`~textclf.data.readers.read_labelled` read it (one row per text).
        path: the file.
        fmt: its format: ``csv``, ``tsv``, ``jsonl`` or ``parquet``.
        group_column: the column (JSONL key) naming each row's group; without ``header``, its position (``"3"``).
        order_column: the column holding each row's number within its group, or None for file order.
        encoding: the file's encoding (``auto`` detects it).
        header: whether a CSV/TSV file has a header row.
        scratch: where ``datasets`` may write a table's Arrow files (the caller deletes them), or None.

    Returns:
        The split in group order, its ``rows`` the rows of the file, with meta ``group`` and ``order``.

    Raises:
        TextclfError: another format, a missing group or order column, an empty group cell, or an order cell that is
            no finite number: one line naming the file, the row (JSONL: the line) and the column.
    """
    if fmt not in GROUP_FORMATS:
        raise TextclfError(f"{path}: group_column is for CSV, TSV, JSONL and Parquet files, not a {fmt} file")
    wanted = {group_column: "group"} if order_column is None else {group_column: "group", order_column: "order"}
    cells, unit, numbers = read_columns(path, fmt, wanted, encoding, header, scratch)
    groups = [label_name(value, path, group_column, n, unit) for value, n in zip(cells[0], numbers, strict=True)]
    if len(groups) != len(split.labels):  # the readers count rows alike: a mismatch is a bug, said in one line
        raise TextclfError(f"{path}: {counted(len(groups), 'group cell')} for {counted(len(split.labels), 'text')}")
    order: list[Number]
    if order_column is None:
        order = [split.row(i) for i in range(len(groups))]
    else:
        order = [order_number(value, path, order_column, n, unit) for value, n in zip(cells[1], numbers, strict=True)]
        _warn_ties(groups, order, path, order_column, numbers, unit)
    meta = {**split.meta, "group": groups, "order": order}
    grouped = LabelledSplit(split.texts, split.labels, split.source, split.rows, meta)
    count = counted(len(set(groups)), "group")
    log.info("%s: %s in %s (column %s)", path, counted(len(groups), "text"), count, group_column)
    permutation = order_rows(groups, None if order_column is None else order)  # (n,)
    if np.array_equal(permutation, np.arange(len(groups))):
        return grouped
    if isinstance(grouped.texts, TextStream):  # a stream is read in file order: sorting needs the texts in memory
        grouped = LabelledSplit(list(grouped.texts), grouped.labels, grouped.source, grouped.rows, grouped.meta)
    return grouped.subset(permutation, split.source)


def read_columns(
    path: Path, fmt: str, wanted: dict[str, str], encoding: str, header: bool, scratch: Path | None
) -> tuple[list[list[Any]], str, list[int]]:
    """The cells of the columns ``wanted`` (name -> what it is, for errors) and where each row is.

    Returns:
        One list of cells per column, the unit of the numbers (``row``; JSONL: ``line``) and each row's number.

    Raises:
        TextclfError: a column the file lacks (a JSONL record without the key), or any reader's error.
    """
    if fmt == "jsonl":
        return _json_columns(path, wanted, encoding)
    enc = detect_file_encoding(path) if encoding == "auto" and fmt in HEADER_FORMATS else encoding
    names = table_columns(path, fmt, enc, header)
    where = Table(path, fmt, enc, header)
    for column, what in wanted.items():
        where.require(names, column, what)
    table = load_table(path, fmt, enc, cache_dir=scratch, header=header)
    return [table[column] for column in wanted], "row", list(range(1, len(table) + 1))


def _json_columns(path: Path, wanted: dict[str, str], encoding: str) -> tuple[list[list[Any]], str, list[int]]:
    cells: list[list[Any]] = [[] for _ in wanted]
    numbers: list[int] = []
    unit = "line"
    for unit, number, record in json_objects(path, encoding):
        for values, (column, what) in zip(cells, wanted.items(), strict=True):
            if column not in record:
                if not numbers:
                    keys = ", ".join(record)
                    raise TextclfError(f"{path}: no {what} column {column!r} (columns: {keys}); set {what}_column")
                raise TextclfError(f"{path}, {unit} {number}: no key {column!r} (the {what} column)")
            values.append(record[column])
        numbers.append(number)
    return cells, unit, numbers


def order_number(value: Any, path: Path | str, column: str, row: int, unit: str = "row") -> Number:
    """One order cell as a number: an int (``3``, ``"3"``, ``3.0``) or a float (``2.5``, ``"1e3"``).

    Raises:
        TextclfError: an empty cell (null, NaN, blank), a bool, a string that is no number, an infinity, a list or
            an object, naming the file, the row (or line) and the column.
    """
    where = f"{path}, {unit} {row}: column {column!r}"
    number: Any = value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise TextclfError(f"{where} is empty; the order column needs a number in every row")
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise TextclfError(f"{where} holds {value[:40]!r}, not a number (the order within the group)") from None
    if number is None:
        raise TextclfError(f"{where} is empty; the order column needs a number in every row")
    if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
        raise TextclfError(f"{where} holds {number!r}, not a number (the order within the group)")
    if isinstance(number, int):
        return number
    if math.isnan(number):
        raise TextclfError(f"{where} is empty (NaN); the order column needs a number in every row")
    if math.isinf(number):
        raise TextclfError(f"{where} holds {number}, not a finite number (the order within the group)")
    return int(number) if number == int(number) else float(number)


def _warn_ties(groups: list[str], order: list[Number], path: Path, column: str, numbers: list[int], unit: str) -> None:
    """Log the rows that repeat an earlier row's (group, order) pair: they keep file order."""
    first: dict[tuple[str, Number], int] = {}
    ties: list[tuple[int, int]] = []
    for i, key in enumerate(zip(groups, order, strict=True)):
        earlier = first.setdefault(key, i)
        if earlier != i:
            ties.append((earlier, i))
    if ties:
        earlier, i = ties[0]
        log.warning(
            "%s: %s %s the group and %s of an earlier %s (e.g. %s %d repeats %s %d: group %r, %s %s); they keep file "
            "order; do two groups share a name?",
            path,
            counted(len(ties), unit),
            "repeats" if len(ties) == 1 else "repeat",
            column,
            unit,
            unit,
            numbers[i],
            unit,
            numbers[earlier],
            groups[i],
            column,
            order[i],
        )

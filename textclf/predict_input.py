r"""What ``textclf predict`` reads: records from CSV, TSV, JSONL, Parquet or plain-text files or stdin.

Tables and JSONL are read as training reads them (:mod:`textclf.data.records`); plain text and stdin by
:mod:`textclf.data.lines`, a record per line, where a line that cannot be decoded (or holds a NUL byte) is an
:class:`~textclf.predict_output.Unreadable` text, written as an error record in its place. For a model with a
context head, :func:`read_grouped` also gives each record's group and position (``--group-column``,
``--order-column``); a plain-text input is one group, in line order.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Iterator, Sequence
from pathlib import Path

from textclf.data.columns import check_header, column_key
from textclf.data.grouping import order_number
from textclf.data.labels import label_name
from textclf.data.lines import iter_text_lines
from textclf.data.readers import file_format
from textclf.data.records import iter_located_records
from textclf.errors import TextclfError
from textclf.predict_output import Record, Unreadable
from textclf.wording import counted

log = logging.getLogger("textclf.predict")

MAX_WARNINGS = 20  # unreadable lines logged one by one per input; the rest are counted
Grouped = tuple[
    Record, Hashable, int | float | None
]  # a record, its group, its position in the group (None: read order)


def read_records(
    source: str,
    text_column: str | int = "text",
    id_column: str | int | None = None,
    keep_columns: Sequence[str | int] = (),
    *,
    max_chars: int | None = None,
    header: bool = True,
) -> Iterator[Record]:
    """Stream ``(text, fields)`` from a CSV, TSV, JSONL, Parquet or plain text file, or ``-`` (stdin).

    Tables and JSONL are read as training reads them (:func:`textclf.data.records.iter_located_records`); plain text and
    stdin by :func:`textclf.data.lines.iter_text_lines`: a record per line, empty lines included (as the empty
    text), the id field holding the 1-based line number; a line that cannot be decoded or holds a NUL byte is an
    :class:`Unreadable` text (logged). With ``max_chars``, texts are cut to their first ``max_chars`` characters
    (plain text: bytes, less a character cut in two), logged once per input. With ``header`` false, a CSV/TSV
    file has no header row and its columns are 1-based positions (:mod:`textclf.data.columns`).

    Raises:
        TextclfError: a missing input, a folder, a missing column, ``keep_columns`` on plain text, a bad record, a
            plain-text file with a NUL byte in its first bytes (binary, or UTF-16/UTF-32 without a byte-order mark),
            ``header`` false for an input that is not CSV or TSV.
    """
    if source != "-" and file_format(Path(source)) != "lines":
        located = iter_located_records(source, text_column, id_column, keep_columns, header=header)
        records = ((text, values) for text, values, _, _ in located)
        yield from cut_texts(records, source, max_chars)
        return
    check_input(source)
    check_header(source, "lines", header)
    id_column = None if id_column is None else str(id_column)
    if keep_columns:
        raise TextclfError(f"{source}: --keep-columns needs CSV, TSV or JSONL input (or Parquet), not plain text")
    bad, cut = _Tally(), _Tally()
    for line in iter_text_lines(source, max_bytes=max_chars or 1 << 62):
        fields = {id_column: line.number} if id_column else {}
        if line.cut:
            cut.add(line.number)
        if line.text is not None:
            yield line.text, fields
            continue
        if bad.add(line.number) <= MAX_WARNINGS:
            log.warning("%s (written as an error record)", line.error)
        yield Unreadable(str(line.error)), fields
    if cut.count:
        log.warning("%s: %s longer than %s bytes, cut to their first %s", source, cut, *[f"{max_chars:,}"] * 2)
    if bad.count:
        log.warning("%s: %s could not be read, written as error records", source, bad)


class _Tally:
    """A count of line numbers and the first ``MAX_WARNINGS`` of them: ``3 lines (5, 9, 12)``."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[int] = []

    def add(self, number: int) -> int:
        self.count += 1
        if self.count <= MAX_WARNINGS:
            self.first.append(number)
        return self.count

    def __str__(self) -> str:
        shown = ", ".join(map(str, self.first)) + (", ..." if self.count > MAX_WARNINGS else "")
        return f"{counted(self.count, 'line')} ({shown})"


def cut_texts(records: Iterable[Record], source: str, max_chars: int | None) -> Iterator[Record]:
    """``records`` with each text cut to its first ``max_chars`` characters (the count logged once)."""
    cut = 0
    for text, fields in records:
        if max_chars is not None and isinstance(text, str) and len(text) > max_chars:
            cut += 1
            text = text[:max_chars]
        yield text, fields
    if cut:
        log.warning("%s: %s longer than %s characters were cut", source, counted(cut, "text"), f"{max_chars:,}")


def check_input(source: str) -> None:
    """Refuse an input that is no file (missing, a folder); ``-`` is stdin.

    Raises:
        TextclfError: naming the input.
    """
    path = Path(source)
    if source != "-" and not path.is_file():
        raise TextclfError(
            f"{path} is a folder: give the files in it" if path.is_dir() else f"input file not found: {path}"
        )


def read_grouped(
    source: str,
    text_column: str | int = "text",
    group_column: str | int | None = None,
    order_column: str | int | None = None,
    id_column: str | int | None = None,
    keep_columns: Sequence[str | int] = (),
    *,
    max_chars: int | None = None,
    header: bool = True,
) -> Iterator[Grouped]:
    """Stream ``((text, fields), group, position)`` for a model with a context head, lazily.

    A plain-text input (or stdin) is one group, named by ``source``, in line order (``group_column`` must then be
    None; its unreadable lines are :class:`Unreadable` texts as in :func:`read_records`). A table or JSONL input
    needs ``group_column``: each record's group is its cell, named as training names groups (a label's rule,
    :func:`textclf.data.labels.label_name`: stripped, a number in its shortest form), and its position the
    ``order_column`` cell (:func:`textclf.data.grouping.order_number`), or None without one. The group and order
    columns are copied into the fields only when they are the id column or among ``keep_columns``.

    Raises:
        TextclfError: what :func:`read_records` raises; a table or JSONL input without ``group_column``, or
            ``group_column`` for plain text; a record with an empty group cell, or an order cell that is no number
            (naming the file, the row or line, and the column).
    """
    if source == "-" or file_format(Path(source)) == "lines":
        if group_column is not None:
            raise TextclfError(
                f"{source}: --group-column needs CSV, TSV, JSONL or Parquet input; plain text is one group"
            )
        records = read_records(source, text_column, id_column, keep_columns, max_chars=max_chars, header=header)
        yield from ((record, source, None) for record in records)
        return
    if group_column is None:
        raise TextclfError(f"{source}: give --group-column, the column naming each text's group")
    group = column_key(group_column, header, "group_column")
    order = None if order_column is None else column_key(order_column, header, "order_column")
    own = {column_key(name, header, "keep_columns") for name in keep_columns}
    own |= set() if id_column is None else {column_key(id_column, header, "id_column")}
    extra = [name for name in (group, order) if name is not None]
    located = iter_located_records(source, text_column, id_column, [*keep_columns, *extra], header=header)
    cut = 0
    for text, fields, unit, number in located:
        key = label_name(fields[group], source, group, number, unit)
        position = None if order is None else order_number(fields[order], source, order, number, unit)
        for name in extra:
            if name not in own:
                fields.pop(name, None)
        if max_chars is not None and len(text) > max_chars:
            cut, text = cut + 1, text[:max_chars]
        yield (text, fields), key, position
    if cut:
        log.warning("%s: %s longer than %s characters were cut", source, counted(cut, "text"), f"{max_chars:,}")

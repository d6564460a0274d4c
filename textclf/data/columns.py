"""Which column a column option means: a header's names, or (``header: false``) 1-based positions.

A CSV or TSV file either starts with a header row (the default, ``header: true``), whose cells name the columns,
or holds data from its first row on (``header: false``, AG News' ``text<TAB>label``), whose columns are then
known by position. Positions count from 1, as ``cut``, ``awk``, csvkit and every row, line and column number in
textclf's messages do: ``text_column: 1`` is the first column. A headerless file's columns are named ``"1"``,
``"2"``... inside textclf (the names errors and ``textclf predict``'s kept fields show).

With a header every value is a name, even one that looks like a number (``label_column: 2`` means the column
whose header cell is ``2``); without one every value must be a position. So a value never means both.

Also here: the sniff that tells a likely headerless file in the error for a missing column, and the one-line
errors for a row with the wrong number of cells (the file read again by the ``csv`` module, with the quoting
rules of :mod:`textclf.data.tables`, only once an error has been found).
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textclf.data.encoding import detect_file_encoding
from textclf.errors import TextclfError
from textclf.wording import counted

HEADER_FORMATS = ("csv", "tsv")
SNIFF_ROWS = 200  # rows read to tell a likely headerless file (only once a column is missing)
DATA_HINT = (
    "pass header: false and text_column/label_column positions (textclf evaluate: --no-header --text-column N "
    "--label-column M; see docs/custom-corpora.md)"
)
PREDICT_HINT = "pass --no-header (header: false) and a --text-column position (see docs/custom-corpora.md)"
_SHOWN = 40  # characters of a header cell shown in an error


def positional_names(count: int) -> list[str]:
    """The names of a headerless file's ``count`` columns: ``["1", "2", ...]``."""
    return [str(number) for number in range(1, count + 1)]


def column_key(value: str | int, header: bool, option: str) -> str:
    """The column name that the option ``option`` (``text_column``...) with ``value`` means.

    With ``header`` the value is a name, as written (``2`` is the column named ``"2"``); without, it must be a
    1-based position (an int, or a string of digits), returned as its positional name (``"2"``).

    Raises:
        TextclfError: ``header`` is false and ``value`` is no position >= 1 (``text``, ``0``, ``-1``, ``true``).
    """
    if header:
        return str(value)
    text = str(value).strip() if not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise TextclfError(
            f"{option} is {value!r}: with header: false a column is given by its position (1 = the first column)"
        )
    return str(int(text))


def check_header(path: Path | str, fmt: str, header: bool) -> None:
    """Refuse ``header: false`` for a format without a header row (JSONL, Parquet, lines, folders).

    Raises:
        TextclfError: naming the file and its format.
    """
    if not header and fmt not in HEADER_FORMATS:
        why = {"jsonl": "its keys are names", "parquet": "its schema names the columns"}.get(fmt, "it has no columns")
        raise TextclfError(f"{path}: header: false is for CSV and TSV files; a {fmt} file has no header row ({why})")


def missing_column(
    path: Path, fmt: str, encoding: str, columns: list[str], name: str, what: str, header: bool, fix: str, hint: str
) -> TextclfError:
    """The one-line error for a column ``name`` (``what``: text, label, group, order, id, kept) that the table lacks.

    Without a header the position is out of range: the error names the first row and its number of cells.
    With one, the columns are listed (long cells cut), and when the first row looks like data
    (:func:`looks_headerless`) the error says so and gives ``hint`` instead of ``fix``.
    """
    if not header:
        return TextclfError(
            f"{path}, row 1: no column {name} for the {what} column: the row has {counted(len(columns), 'column')} "
            "(header: false: columns are numbered from 1)"
        )
    shown = ", ".join(cell if len(cell) <= _SHOWN else cell[: _SHOWN - 3] + "..." for cell in columns)
    message = f"{path}: no {what} column {name!r} (columns: {shown})"
    if fmt in HEADER_FORMATS and looks_headerless(path, fmt, encoding):
        return TextclfError(f"{message}; it looks like it has no header row; {hint}")
    return TextclfError(f"{message}{fix}")


def looks_headerless(path: Path, fmt: str, encoding: str) -> bool:
    """Whether the first row of a CSV/TSV file looks like data rather than column names.

    Read from the first :data:`SNIFF_ROWS` rows: a first-row cell recurs in its column further down (a label
    such as ``World``), or it is a text of several words where the column's other cells are too, or it has six
    words or more, or it is a number where the column holds only numbers. A file that cannot be read says no.
    """
    import pandas as pd

    try:
        enc = encoding if encoding != "auto" else detect_file_encoding(path)
        options = {**csv_options(fmt), "header": None, "nrows": SNIFF_ROWS, "dtype": str, "keep_default_na": False}
        rows = pd.read_csv(path, encoding=enc, on_bad_lines="skip", **options).values.tolist()
    except (ValueError, OSError, pd.errors.ParserError, TextclfError):
        return False
    if not rows:
        return False
    first, rest = rows[0], rows[1:]
    for column, cell in enumerate(first):
        cell = str(cell).strip()
        later = [str(row[column]).strip() for row in rest]
        words = len(cell.split())
        if not cell:
            continue
        if cell in later or words >= 6:
            return True
        if later and words >= 3 and statistics.median(len(value.split()) for value in later) >= 3:
            return True
        if later and _number(cell) and all(_number(value) for value in later):
            return True
    return False


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def width_error(path: Path, fmt: str, encoding: str, header: bool, row: int | None = None) -> TextclfError | None:
    """The error for a row whose number of cells differs from the first row's (the header's), or None.

    ``row`` None: the first such row of the file (after the parser found one too long); else that row (1-based,
    after any header, blank lines not counted, as every reader counts them), when it is too short.
    """
    enc = encoding if encoding != "auto" else detect_file_encoding(path)
    first = "the header" if header else "the first row"
    fix = "quote cells that hold a comma" if fmt == "csv" else "a TSV cell cannot hold a tab"
    expected: int | None = None
    for index, line, width in _row_widths(path, fmt, enc):
        if expected is None:
            expected = width
        number = index if header else index + 1
        if number < 1:
            continue
        cells = counted(width, "cell")
        if row is None and width > expected:
            return TextclfError(f"{path}, row {number}, line {line}: {cells} where {first} has {expected}; {fix}")
        if row is not None and number == row:
            if width >= expected:
                return None
            return TextclfError(f"{path}, row {number}, line {line}: {cells} where {first} has {expected}")
    return None


def _row_widths(path: Path, fmt: str, encoding: str) -> Iterator[tuple[int, int, int]]:
    """``(index, line, cells)`` of each non-blank row: its 0-based index among them, the line where it starts."""
    options: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # a long cell is no error here (pandas reads it)
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as handle:
            reader = csv.reader(handle, **options)
            start, index = 1, 0
            for cells in reader:
                line, start = start, reader.line_num + 1
                if cells:
                    yield index, line, len(cells)
                    index += 1
    except csv.Error:
        return
    finally:
        csv.field_size_limit(limit)


@dataclass(frozen=True)
class Table:
    """A CSV/TSV/Parquet file being read, for two of its errors: a missing column, a short row."""

    path: Path
    fmt: str
    encoding: str
    header: bool

    def require(self, columns: list[str], name: str, what: str = "text", hint: str = DATA_HINT) -> None:
        """Refuse a column ``name`` not among ``columns`` (:func:`missing_column`'s error)."""
        if name not in columns:
            fix = f"; set {what}_column" if what in ("text", "label", "group", "order") else ""
            raise missing_column(self.path, self.fmt, self.encoding, columns, name, what, self.header, fix, hint)

    def short_row(self, error: TextclfError, row: int) -> TextclfError:
        """``error`` (an empty label cell), or the error of a CSV/TSV row with fewer cells than the first."""
        if self.fmt not in HEADER_FORMATS:
            return error
        return width_error(self.path, self.fmt, self.encoding, self.header, row) or error


def csv_options(fmt: str) -> dict[str, Any]:
    """TSV is read without quote processing (as GLUE and most TSV corpora are written); CSV follows RFC 4180.

    ``index_col=False``: a first row with one field more than the header is an error, not pandas' guess that the
    first column is an index (which would shift every column by one: the labels read as the texts).
    """
    options: dict[str, Any] = {"index_col": False}
    return {**options, "sep": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else options

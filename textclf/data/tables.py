r"""Tables (CSV, TSV, Parquet) through ``datasets``/Arrow.

The one path by which training (:mod:`textclf.data.readers`) and prediction read tables, so quoting, cell types
and encodings are the same for both (JSONL: :mod:`textclf.data.jsonl`; cells: :mod:`textclf.data.labels`).
Rows end at ``\n`` or ``\r\n``, or at ``\r`` in a file without any ``\n`` (classic Mac OS). A lone ``\r``
elsewhere would end a row in the middle of a line (pandas and the ``csv`` module both split there) and shift the
rows after it, so it is an error naming the line, unless it is inside a quoted CSV cell (part of the text).
A CSV or TSV file without a header row (``header=False``) has columns named by position, ``"1"``, ``"2"``...
(:mod:`textclf.data.columns`); a row with more cells than the first one is an error naming it.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from textclf.data.columns import HEADER_FORMATS, check_header, csv_options, positional_names, width_error
from textclf.data.encoding import detect_file_encoding
from textclf.errors import TextclfError

log = logging.getLogger(__name__)

_LONE_CR = re.compile("\r(?!\n)")
_CHUNK = 1 << 20


def table_columns(path: Path, fmt: str, encoding: str = "auto", header: bool = True) -> list[str]:
    """The column names of a CSV, TSV or Parquet file, from its header alone (as :func:`read_table` names them).

    Without a ``header`` (CSV, TSV): ``"1"``... ``"N"``, N the number of cells of the first row.

    Raises:
        TextclfError: the header (schema) names a column twice (pandas would silently read the first as
            ``label`` and the second as ``label.1``), naming the file, the name and both 1-based column positions;
            ``header`` false for Parquet.
    """
    check_header(path, fmt, header)
    with _reading(path, fmt):
        if not header:
            import pandas as pd

            enc = encoding if encoding != "auto" else detect_file_encoding(path)
            first = pd.read_csv(path, nrows=1, header=None, dtype=str, encoding=enc, **csv_options(fmt))
            return positional_names(first.shape[1])
        if fmt == "parquet":
            import pyarrow.parquet as pq

            names = list(pq.read_schema(path).names)
            _check_unique(path, names, "schema")
            return names
        import pandas as pd

        enc = encoding if encoding != "auto" else detect_file_encoding(path)
        options = csv_options(fmt)
        names = [str(name) for name in pd.read_csv(path, nrows=0, encoding=enc, **options).columns]
        cells = pd.read_csv(path, nrows=1, header=None, dtype=str, keep_default_na=False, encoding=enc, **options)
        _check_unique(path, [str(name) for name in cells.iloc[0]] if len(cells) else [], "header")
        return names


def _check_unique(path: Path, header: list[str], what: str) -> None:
    """Refuse a header (a Parquet schema) that names a column twice: which one a column option means is unknown."""
    first: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name in first and name.strip():  # empty names are pandas' distinct "Unnamed: N"
            raise TextclfError(
                f"{path}: the {what} names column {name!r} twice (columns {first[name]} and {number}); "
                "give each column its own name"
            )
        first.setdefault(name, number)


def load_table(path: Path, fmt: str, encoding: str, cache_dir: Path | None = None, header: bool = True) -> Any:
    """A ``datasets.Dataset`` of the file: in memory, or memory-mapped from Arrow files under ``cache_dir``.

    Raises:
        TextclfError: any reading error, in one line naming the file (a row with more cells than the header, or
            than the first row without ``header``: naming the row and its line).
    """
    import datasets

    datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its "Failed to read file" would precede our error
    where: dict[str, Any] = {"keep_in_memory": True} if cache_dir is None else {"cache_dir": str(cache_dir)}
    try:
        check_header(path, fmt, header)
        enc = encoding if encoding != "auto" or fmt not in HEADER_FORMATS else detect_file_encoding(path)
        with _reading(path, fmt, enc, header):
            if fmt in HEADER_FORMATS:
                check_carriage_returns(path, fmt, enc)
                # Every column is read as a string: ``datasets`` takes column types from ``features`` (pandas would
                # turn "007" into 7, and fail when a later 10,000-row chunk of a numeric-looking column has a
                # word). The names come from pandas itself, so they match ("Unnamed: 0", de-duplicated names).
                names = table_columns(path, fmt, enc, header)
                features = datasets.Features({name: datasets.Value("string") for name in names})
                options = csv_options(fmt) if header else {**csv_options(fmt), "header": None, "column_names": names}
                table = datasets.Dataset.from_csv(
                    str(path), encoding=enc, keep_default_na=False, features=features, **where, **options
                )
                if not header:  # without a header the first row sets the width: a shorter row is read as ""
                    check_short_rows(path, fmt, enc, table.data.column(names[-1]))
                return table
            if fmt == "parquet":
                table_columns(path, fmt)  # a repeated name, named before Arrow's "Multiple matches for FieldRef"
                return datasets.Dataset.from_parquet(str(path), **where)
            raise TextclfError(f"{path}: unknown table format {fmt!r}")
    finally:
        datasets.logging.set_verbosity(verbosity)


@contextmanager
def _reading(path: Path, fmt: str, encoding: str = "auto", header: bool = True) -> Iterator[None]:
    """Any error of the libraries below becomes a one-line :class:`TextclfError` naming the file."""
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # pandas would drop the extra fields
            yield
    except TextclfError:
        raise
    except Exception as e:
        cause = _root_cause(e)
        if "corresponds to no data" in cause or "No columns to parse" in cause:  # a file without rows
            raise TextclfError(f"{path}: no rows to read ({'only a header, or ' if header else ''}empty)") from None
        if "Expected" in cause and "fields in line" in cause and fmt in HEADER_FORMATS:  # pandas: a row too long
            error = width_error(path, fmt, encoding, header)
            if error is not None:
                raise error from None
        if "Length of header or names does not match" in cause:  # the ParserWarning, raised through datasets
            raise TextclfError(
                f"{path}: the first row after the header has more fields than the header; quote fields that hold "
                "the delimiter"
            ) from None
        raise TextclfError(f"{path}: could not read as {fmt.upper()}: {cause}") from None


def check_short_rows(path: Path, fmt: str, encoding: str, last: Any) -> None:
    """Refuse a headerless file whose first row is wider than a later one.

    A stray tab or comma in row 1 made a third column, and a class such as ``tab``. ``last``: the Arrow column of
    the file's last cells; only a file with an empty one is read again, with the ``csv`` module.

    Raises:
        TextclfError: naming the first row with an empty last cell when that row is short.
    """
    import pyarrow.compute as pc

    empty = pc.equal(last, "")
    if not pc.any(empty).as_py():
        return
    row = pc.index(empty, True).as_py() + 1
    error = width_error(path, fmt, encoding, False, row)
    if error is not None:
        raise TextclfError(f"{error}; or is the first row the odd one (a stray {'tab' if fmt == 'tsv' else 'comma'})?")


def arrow_batches(files: list[Path], columns: Sequence[str]) -> Iterator[list[list[Any]]]:
    """The cells of ``columns`` (one list per column), batch by batch, from Arrow stream files.

    ``datasets`` writes such files under its ``cache_dir``; plain reads, so no memory map fills up.
    """
    import pyarrow as pa

    for file in files:
        with pa.OSFile(str(file)) as handle:
            for batch in pa.ipc.open_stream(handle):
                yield [batch.column(column).to_pylist() for column in columns]


def check_carriage_returns(path: Path, fmt: str, encoding: str) -> None:
    r"""Refuse a ``\r`` that would split a row: not before ``\n``, not in a quoted CSV cell, in a file with ``\n``.

    One pass over the decoded file; the rare file with a lone ``\r`` is read again with the ``csv`` module to tell
    quoted from unquoted ones (TSV has no quoting: every lone ``\r`` is refused).

    Raises:
        TextclfError: naming the file and the 1-based line of the first such ``\r``.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    lone = newline = False
    carry = ""
    with path.open("rb") as handle:
        for chunk in iter(partial(handle.read, _CHUNK), b""):
            text = carry + decoder.decode(chunk)
            carry, text = ("\r", text[:-1]) if text.endswith("\r") else ("", text)
            newline = newline or "\n" in text
            lone = lone or _LONE_CR.search(text) is not None
    if not (lone and newline):
        return
    with path.open(encoding=encoding, errors="replace", newline="\n") as lines:
        number = _first_lone_cr(lines, fmt)
    if number is not None:
        fix = "quote the field or remove the \\r" if fmt == "csv" else "remove it (TSV has no quoting)"
        where = "an unquoted field" if fmt == "csv" else "a field"
        raise TextclfError(f"{path}, line {number}: a carriage return (\\r) in {where} would end the row there; {fix}")


def _first_lone_cr(lines: io.TextIOBase, fmt: str) -> int | None:
    if fmt != "csv":
        return next(
            (n for n, line in enumerate(lines, 1) if _LONE_CR.search(line.removesuffix("\n").removesuffix("\r"))), None
        )
    reader, limit = csv.reader(lines), csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # a long cell is no error here (pandas reads it)
    try:
        for _ in reader:
            pass
    except csv.Error as e:
        return reader.line_num if "new-line" in str(e) else None
    finally:
        csv.field_size_limit(limit)
    return None


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

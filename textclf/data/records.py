"""Texts to classify (``textclf predict``): records streamed from a file or stdin, with the fields to copy.

The formats and encodings are training's (:mod:`textclf.data.readers`, :mod:`textclf.data.tables`); CSV and TSV
files without a header row give their columns by 1-based position (:mod:`textclf.data.columns`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from textclf.data.columns import HEADER_FORMATS, PREDICT_HINT, Table, check_header, column_key
from textclf.data.encoding import detect_file_encoding, iter_lines, require_regular_file
from textclf.data.jsonl import json_objects
from textclf.data.labels import cell_text
from textclf.data.readers import file_format
from textclf.data.tables import arrow_batches, load_table, table_columns
from textclf.errors import TextclfError

Record = tuple[str, dict[str, Any]]  # (text, {field: value}): the fields copied from the input
Located = tuple[str, dict[str, Any], str, int]  # a Record and where it is: unit ("row", "line", "item"), number


def iter_located_records(
    source: str,
    text_column: str | int = "text",
    id_column: str | int | None = None,
    fields: Sequence[str | int] = (),
    *,
    fmt: str = "auto",
    encoding: str = "auto",
    header: bool = True,
) -> Iterator[Located]:
    r"""Stream ``(text, {field: value}, unit, number)`` from a file, or ``-`` for stdin, lazily (constant memory).

    ``unit`` and ``number`` say where each record is, as the readers' messages name it: ``row`` (1-based data row
    of a table, after any header), ``line`` (physical line of a JSONL or plain-text file) or ``item`` (of a JSON
    array).

    The formats (``auto``: by suffix, as :func:`file_format`) and encodings are training's: CSV and TSV go through
    the same Arrow path as :func:`read_table` (same quoting, every cell a string, same encoding detection), as
    does Parquet; JSONL is read line by line (values keep their JSON types); ``lines`` (any other suffix, and
    stdin) is plain text, a text per line (lines end at ``\n`` only). A table's Arrow copy is written to a
    temporary folder that goes when the iterator ends or is closed.

    Args:
        source: the file, or ``-`` (plain text from stdin).
        text_column: the column (JSON key) of the texts.
        id_column: a column (key) every record must have, copied into its fields; for plain text, the field of
            that name holds the 1-based line number.
        fields: more columns (keys) to copy; a JSONL record without one gets None; plain text has none.
        fmt: ``auto``, ``csv``, ``tsv``, ``jsonl``, ``parquet`` or ``lines``.
        encoding: a text encoding, or ``auto`` (UTF-8, else Windows-1252, else latin-1, logged).
        header: false: a CSV/TSV file without a header row, whose ``text_column``, ``id_column`` and ``fields``
            are 1-based positions, copied into the record's fields under their position (``"2"``).

    Raises:
        TextclfError: a missing input or column, ``header`` false for another format, a bad record.
    """
    path = Path(source)
    if source != "-" and not path.is_file():
        if path.is_dir():
            raise TextclfError(f"{path} is a folder: give the files in it")
        if not path.exists():
            raise TextclfError(f"input file not found: {path}")
        require_regular_file(path)
    fmt = "lines" if source == "-" else file_format(path) if fmt == "auto" else fmt
    check_header(source, fmt, header)
    if fmt in HEADER_FORMATS:
        yield from _table_records(path, fmt, text_column, id_column, fields, encoding, header)
        return
    key, id_key, kept = str(text_column), None if id_column is None else str(id_column), [str(k) for k in fields]
    if fmt == "lines":
        if kept:
            raise TextclfError(f"{source}: --keep-columns needs CSV, TSV or JSONL input (or Parquet), not plain text")
        for number, line in enumerate(iter_lines(source, encoding), start=1):
            yield line, ({id_key: number} if id_key else {}), "line", number
    elif fmt == "jsonl":
        for unit, number, record in json_objects(path, encoding):
            yield (*_json_record(record, path, unit, number, key, id_key, kept), unit, number)
    elif fmt == "parquet":
        yield from _table_records(path, fmt, text_column, id_column, fields, encoding, header)
    else:
        raise TextclfError(f"{source}: unknown input format {fmt!r} (csv, tsv, jsonl, parquet or lines)")


def table_record_columns(
    path: Path,
    fmt: str,
    text_column: str | int,
    id_column: str | int | None,
    fields: Sequence[str | int],
    encoding: str,
    header: bool = True,
) -> tuple[str, str | None, list[str]]:
    """The names of the text, id and kept columns of a table, each checked against its header (first row).

    Raises:
        TextclfError: a column the table lacks, or a position out of range (saying when the file looks
            headerless), or a column option that is no position without a header.
    """
    text = column_key(text_column, header, "text_column")
    key = None if id_column is None else column_key(id_column, header, "id_column")
    kept = [column_key(name, header, "keep_columns") for name in fields]
    columns = table_columns(path, fmt, encoding, header)  # checked before the whole file is read
    where = Table(path, fmt, encoding, header)
    for name, what in ((text, "text"), (key, "id"), *((k, "kept") for k in kept)):
        if name is not None:
            where.require(columns, name, what, PREDICT_HINT)
    return text, key, kept


def _table_records(
    path: Path,
    fmt: str,
    text_column: str | int,
    id_column: str | int | None,
    fields: Sequence[str | int],
    encoding: str,
    header: bool,
) -> Iterator[Located]:
    if fmt != "parquet" and encoding == "auto":
        encoding = detect_file_encoding(path)
    text_column, id_column, fields = table_record_columns(path, fmt, text_column, id_column, fields, encoding, header)
    wanted = list(dict.fromkeys([*([id_column] if id_column else []), *fields]))
    with tempfile.TemporaryDirectory(prefix="textclf-records-") as scratch:
        table = load_table(path, fmt, encoding, cache_dir=Path(scratch), header=header)
        files = [Path(f["filename"]) for f in table.cache_files]
        del table
        row = 0
        for texts, *values in arrow_batches(files, [text_column, *wanted]):
            for i, text in enumerate(texts):
                row += 1
                text = text if isinstance(text, str) else cell_text(text, path, text_column, row)
                yield text, {name: cells[i] for name, cells in zip(wanted, values, strict=True)}, "row", row


def _json_record(
    record: dict[str, Any], path: Path, unit: str, number: int, key: str, id_key: str | None, keep: Sequence[str]
) -> Record:
    if key not in record:
        raise TextclfError(f"{path}, {unit} {number}: no key {key!r}")
    if id_key is not None and id_key not in record:
        raise TextclfError(f"{path}, {unit} {number}: no id key {id_key!r}")
    fields = {id_key: record[id_key]} if id_key is not None else {}
    fields.update((name, record.get(name)) for name in keep)
    return cell_text(record[key], path, key, number, unit), fields

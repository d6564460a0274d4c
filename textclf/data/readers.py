"""Readers of text files: CSV, TSV, JSONL, Parquet, label-first lines, one folder per label, plain text.

Labelled files (training, evaluation): :func:`read_labelled`, or the readers below it, which return plain lists
``(texts, labels)`` (labels as strings, None when the file has no labels), except :func:`stream_table`, whose
texts stay on disk (a :class:`TextStream`) for corpora larger than memory. Texts to classify (``textclf
predict``): :func:`iter_records`, which streams them. Both read every format and encoding the same way (the
encodings: :mod:`textclf.data.encoding`; tables: :mod:`textclf.data.tables`). Every problem a user can cause
becomes a one-line :class:`TextclfError` naming the file, column, row or line.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

from textclf.data.encoding import decode, detect_file_encoding, iter_lines, require_regular_file
from textclf.data.jsonl import json_objects, read_jsonl
from textclf.data.labels import cell_text, check_delimiter, clean_name, label_name, label_set
from textclf.data.splits import LabelledSplit, TextStream
from textclf.data.tables import arrow_batches, load_table, table_columns
from textclf.errors import TextclfError

log = logging.getLogger(__name__)

FileFormat = Literal["auto", "csv", "tsv", "jsonl", "parquet", "lines", "folder"]
DEFAULT_LINE_PATTERN = r"^(?:__label__)?(?P<label>\S+)\s+(?P<text>.*)$"
MULTI_LABEL_LINE_PATTERN = r"^(?P<label>(?:__label__\S+\s+)*)(?P<text>.*)$"  # fastText: __label__a __label__b text
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}

Texts = list[str]
Labels = list[Any] | None  # a str per text; for multi-label data, a list of str per text


def file_format(path: Path) -> str:
    """The file format from the path: a directory is ``folder``; known suffixes; anything else is ``lines``."""
    if path.is_dir():
        return "folder"
    return _SUFFIX_FORMATS.get(path.suffix.lower(), "lines")


def read_labelled(
    path: Path,
    *,
    fmt: str = "auto",
    text_column: str = "text",
    label_column: str = "label",
    line_pattern: str = DEFAULT_LINE_PATTERN,
    encoding: str = "auto",
    label_delimiter: str | None = None,
    multi_label: bool = False,
    scratch: Path | None = None,
) -> LabelledSplit:
    """One labelled file (or folder) in any format, with :class:`~textclf.data.files.FileDataModule`'s options.

    With ``multi_label`` the labels are lists: fastText's ``__label__A __label__B text`` lines (default pattern),
    cells split on ``label_delimiter`` (default ``,``), or list cells (JSONL, Parquet). With ``scratch`` (a folder
    the caller deletes), the texts of a table stay on disk there (a :class:`TextStream`), for corpora larger than
    memory.

    Raises:
        TextclfError: ``path`` (not a folder) is no regular file (``/dev/zero``, a FIFO), or any reader's error.
    """
    fmt = file_format(path) if fmt == "auto" else fmt
    if fmt != "folder":
        require_regular_file(path)  # /dev/zero, a FIFO: refused before a reader would block or fill memory
    delimiter = (label_delimiter if label_delimiter is not None else ",") if multi_label else None
    texts: list[str] | TextStream
    if fmt == "folder":
        if multi_label:
            raise TextclfError(f"{path}: a folder corpus has one label per text; multi_label needs a file")
        texts, labels = read_folder(path, encoding)
    elif fmt == "lines":
        fasttext = multi_label and line_pattern == DEFAULT_LINE_PATTERN
        texts, groups, numbers = _read_lines(path, MULTI_LABEL_LINE_PATTERN if fasttext else line_pattern, encoding)
        if groups is None:
            raise TextclfError(f"the line pattern {line_pattern!r} needs a named group (?P<label>...)")
        if fasttext:
            delimiter = " "
            groups = [" ".join(item.removeprefix("__label__") for item in group.split()) for group in groups]
        if delimiter is not None:
            labels = [label_set(g, delimiter, path, "label", n, "line") for g, n in zip(groups, numbers, strict=True)]
        else:
            labels = [label_name(g, path, "label", n, "line") for g, n in zip(groups, numbers, strict=True)]
    elif fmt == "jsonl":
        texts, labels = read_jsonl(path, text_column, label_column, encoding, delimiter, scratch)
    elif scratch is not None:
        texts, labels = stream_table(path, fmt, text_column, label_column, encoding, delimiter, scratch=scratch)
    else:
        texts, labels = read_table(path, fmt, text_column, label_column, encoding, delimiter)
    labels = require_labels(path, labels, label_column)
    if delimiter is not None and fmt != "lines":
        check_delimiter(labels, delimiter, path)
    return LabelledSplit(texts, labels, str(path))


def read_lines(path: Path, pattern: str = DEFAULT_LINE_PATTERN, encoding: str = "auto") -> tuple[Texts, Labels]:
    """Label-first lines (``LABEL text``, fastText's ``__label__LABEL text``, TREC's ``COARSE:fine text``...).

    ``pattern`` is a regular expression with a named group ``text`` and, for labelled files, ``label``.
    Blank lines are skipped; a line that does not match is an error naming the line.
    """
    texts, groups, numbers = _read_lines(path, pattern, encoding)
    if groups is None:
        return texts, None
    return texts, [label_name(group, path, "label", n, "line") for group, n in zip(groups, numbers, strict=True)]


def _read_lines(path: Path, pattern: str, encoding: str) -> tuple[Texts, list[str] | None, list[int]]:
    """Texts, label groups as matched (None without a ``label`` group) and the 1-based line of each."""
    regex = _compile(pattern)
    labelled = "label" in regex.groupindex
    texts: list[str] = []
    labels: list[str] = []
    numbers: list[int] = []
    for number, line in enumerate(decode(path, encoding).split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        match = regex.match(line)
        if match is None:
            raise TextclfError(f"{path}, line {number}: does not match the line pattern {pattern!r}: {line[:80]!r}")
        texts.append(match["text"])
        numbers.append(number)
        if labelled:
            labels.append(match["label"] or "")
    return texts, (labels if labelled else None), numbers


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise TextclfError(f"invalid line pattern {pattern!r}: {e}") from None
    if "text" not in regex.groupindex:
        raise TextclfError(f"the line pattern {pattern!r} needs a named group (?P<text>...)")
    return regex


def read_folder(path: Path, encoding: str = "auto") -> tuple[Texts, Labels]:
    """One sub-folder per label, one text per file (``root/<label>/<any name>``), read in sorted order."""
    texts: list[str] = []
    labels: list[str] = []
    for label_dir in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = clean_name(label_dir.name)  # as every label (macOS writes names decomposed, NFD)
        if not label:
            raise TextclfError(f"{label_dir}: a folder name of only whitespace is not a label")
        for file in sorted(f for f in label_dir.iterdir() if f.is_file() and not f.name.startswith(".")):
            texts.append(decode(file, encoding))
            labels.append(label)
    if not texts:
        raise TextclfError(f"{path}: no texts found; a folder corpus holds one sub-folder per label with text files")
    return texts, labels


def read_table(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str | None,
    encoding: str = "auto",
    label_delimiter: str | None = None,
) -> tuple[Texts, Labels]:
    """CSV, TSV, Parquet (through ``datasets``) or JSONL; ``label_column`` None (or absent) reads texts only.

    TSV is read without quote processing (as GLUE and most TSV corpora are written); CSV follows RFC 4180 quoting.
    With ``label_delimiter`` the labels are multi-label sets: a list cell (JSONL, Parquet) is taken as it is, a
    string cell is split on the delimiter; an empty cell or list is a text with no labels.
    """
    if fmt == "jsonl":
        texts, labels = read_jsonl(path, text_column, label_column, encoding, label_delimiter)
        return list(texts), labels
    table = load_table(path, fmt, encoding)
    _require_column(path, table.column_names, text_column)
    texts = [cell_text(value, path, text_column, row) for row, value in enumerate(table[text_column], start=1)]
    has_labels = label_column is not None and label_column in table.column_names
    cells = table[label_column] if has_labels else []
    return texts, _labels(path, table.column_names, label_column, cells, label_delimiter)


def stream_table(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str | None,
    encoding: str = "auto",
    label_delimiter: str | None = None,
    *,
    scratch: Path,
) -> tuple[TextStream, Labels]:
    """:func:`read_table` for files larger than memory: only the labels are read into memory.

    ``datasets`` writes the table as Arrow files under ``scratch`` (deleting them is the caller's job); the texts
    are a :class:`TextStream` that reads them back batch by batch (plain reads: no memory map fills up).
    """
    table = load_table(path, fmt, encoding, cache_dir=scratch)
    files, columns, size = [Path(f["filename"]) for f in table.cache_files], table.column_names, len(table)
    del table
    _require_column(path, columns, text_column)
    texts = TextStream(partial(_text_batches, files, text_column, path), size)
    cells: Iterable[Any] = ()
    if label_column is not None and label_column in columns:
        cells = (cell for (batch,) in arrow_batches(files, [label_column]) for cell in batch)
    return texts, _labels(path, columns, label_column, cells, label_delimiter)


def _require_column(path: Path, columns: list[str], text_column: str) -> None:
    if text_column not in columns:
        raise TextclfError(f"{path}: no text column {text_column!r} (columns: {', '.join(columns)}); set text_column")


def _labels(
    path: Path, columns: list[str], label_column: str | None, cells: Iterable[Any], label_delimiter: str | None
) -> Labels:
    """The labels of a table from the cells of ``label_column``, or None when the table has no such column."""
    if label_column is None or label_column not in columns:
        if label_column is not None:
            log.debug("%s has no column %r: reading texts only", path, label_column)
        return None
    if label_delimiter is not None:
        return [label_set(value, label_delimiter, path, label_column, row) for row, value in enumerate(cells, 1)]
    return [label_name(value, path, label_column, row) for row, value in enumerate(cells, start=1)]


def _text_batches(files: list[Path], column: str, path: Path) -> Iterator[list[str]]:
    row = 1
    for (cells,) in arrow_batches(files, [column]):
        yield [
            cell if isinstance(cell, str) else cell_text(cell, path, column, row + i) for i, cell in enumerate(cells)
        ]
        row += len(cells)


def require_labels(path: Path, labels: Labels, label_column: str) -> list[str]:
    """Labels of a training/evaluation file, or an error saying which column was expected."""
    if labels is None:
        raise TextclfError(f"{path}: no label column {label_column!r}; set label_column")
    return labels


# ---- texts to classify: predict and evaluate -----------------------------------------------------------------

Record = tuple[str, dict[str, Any]]  # (text, {field: value}): the fields copied from the input


def iter_records(
    source: str,
    text_column: str = "text",
    id_column: str | None = None,
    fields: Sequence[str] = (),
    *,
    fmt: str = "auto",
    encoding: str = "auto",
) -> Iterator[Record]:
    r"""Stream ``(text, {field: value})`` from a file, or ``-`` for stdin, lazily: memory stays constant.

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
    """
    path = Path(source)
    if source != "-" and not path.is_file():
        if path.is_dir():
            raise TextclfError(f"{path} is a folder: give the files in it")
        if not path.exists():
            raise TextclfError(f"input file not found: {path}")
        require_regular_file(path)
    fmt = "lines" if source == "-" else file_format(path) if fmt == "auto" else fmt
    if fmt == "lines":
        if fields:
            raise TextclfError(f"{source}: --keep-columns needs CSV, TSV or JSONL input (or Parquet), not plain text")
        for number, line in enumerate(iter_lines(source, encoding), start=1):
            yield line, ({id_column: number} if id_column else {})
    elif fmt == "jsonl":
        for unit, number, record in json_objects(path, encoding):
            yield _json_record(record, path, unit, number, text_column, id_column, fields)
    elif fmt in ("csv", "tsv", "parquet"):
        yield from _table_records(path, fmt, text_column, id_column, fields, encoding)
    else:
        raise TextclfError(f"{source}: unknown input format {fmt!r} (csv, tsv, jsonl, parquet or lines)")


def _table_records(
    path: Path, fmt: str, text_column: str, id_column: str | None, fields: Sequence[str], encoding: str
) -> Iterator[Record]:
    if fmt != "parquet" and encoding == "auto":
        encoding = detect_file_encoding(path)
    columns = table_columns(path, fmt, encoding)  # checked before the whole file is read
    for name, what in ((text_column, "text"), (id_column, "id"), *((k, "kept") for k in fields)):
        if name is not None and name not in columns:
            raise TextclfError(f"{path}: no {what} column {name!r} (columns: {', '.join(columns)})")
    wanted = list(dict.fromkeys([*([id_column] if id_column else []), *fields]))
    with tempfile.TemporaryDirectory(prefix="textclf-records-") as scratch:
        table = load_table(path, fmt, encoding, cache_dir=Path(scratch))
        files = [Path(f["filename"]) for f in table.cache_files]
        del table
        row = 0
        for texts, *values in arrow_batches(files, [text_column, *wanted]):
            for i, text in enumerate(texts):
                row += 1
                text = text if isinstance(text, str) else cell_text(text, path, text_column, row)
                yield text, {name: cells[i] for name, cells in zip(wanted, values, strict=True)}


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

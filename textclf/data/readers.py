"""Readers of text files: CSV, TSV, JSONL, Parquet, label-first lines, one folder per label, plain text.

Labelled files (training, evaluation): :func:`read_labelled`, or the readers below it, which return plain lists
``(texts, labels)`` (labels as strings, None when the file has no labels), except :func:`stream_table`, whose
texts stay on disk (a :class:`TextStream`) for corpora larger than memory. Texts to classify (``textclf
predict``): :func:`textclf.data.records.iter_located_records`, which streams them. Both read every format and encoding
the same way (the encodings: :mod:`textclf.data.encoding`; tables: :mod:`textclf.data.tables`; tables without
a header row: :mod:`textclf.data.columns`). Every problem a user can cause becomes a one-line
:class:`TextclfError` naming the file, column, row or line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal

from textclf.data.columns import DATA_HINT, Table, check_header, column_key, looks_headerless, missing_column
from textclf.data.encoding import decode, detect_file_encoding, require_regular_file
from textclf.data.jsonl import read_jsonl
from textclf.data.labels import cell_text, check_delimiter, clean_name, label_name, label_set
from textclf.data.splits import LabelledSplit, TextStream
from textclf.data.tables import HEADER_FORMATS, arrow_batches, load_table, table_columns
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
    text_column: str | int = "text",
    label_column: str | int = "label",
    line_pattern: str = DEFAULT_LINE_PATTERN,
    encoding: str = "auto",
    label_delimiter: str | None = None,
    multi_label: bool = False,
    scratch: Path | None = None,
    header: bool = True,
) -> LabelledSplit:
    """One labelled file (or folder) in any format, with :class:`~textclf.data.files.FileDataModule`'s options.

    With ``multi_label`` the labels are lists: fastText's ``__label__A __label__B text`` lines (default pattern),
    cells split on ``label_delimiter`` (default ``,``), or list cells (JSONL, Parquet). With ``scratch`` (a folder
    the caller deletes), the texts of a table stay on disk there (a :class:`TextStream`), for corpora larger than
    memory. With ``header`` false (CSV, TSV), the file has no header row and ``text_column``/``label_column`` are
    1-based positions (:mod:`textclf.data.columns`).

    Raises:
        TextclfError: ``path`` (not a folder) is no regular file (``/dev/zero``, a FIFO), ``header`` false for
            another format, a column option that is no position without a header, the same column for the texts
            and the labels, or any reader's error.
    """
    fmt = file_format(path) if fmt == "auto" else fmt
    check_header(path, fmt, header)
    text_column = column_key(text_column, header, "text_column")
    label_column = column_key(label_column, header, "label_column")
    if text_column == label_column and fmt not in ("folder", "lines"):  # every text would be its own label
        raise TextclfError(f"{path}: text_column and label_column are the same column ({text_column})")
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
        texts, labels = stream_table(
            path, fmt, text_column, label_column, encoding, delimiter, scratch=scratch, header=header
        )
    else:
        texts, labels = read_table(path, fmt, text_column, label_column, encoding, delimiter, header=header)
    if labels is None and fmt in HEADER_FORMATS and (not header or looks_headerless(path, fmt, encoding)):
        columns = table_columns(path, fmt, encoding, header)  # a position out of range, or a headerless file
        raise missing_column(path, fmt, encoding, columns, label_column, "label", header, "", DATA_HINT)
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
    *,
    header: bool = True,
) -> tuple[Texts, Labels]:
    """CSV, TSV, Parquet (through ``datasets``) or JSONL; ``label_column`` None (or absent) reads texts only.

    TSV is read without quote processing (as GLUE and most TSV corpora are written); CSV follows RFC 4180 quoting.
    With ``label_delimiter`` the labels are multi-label sets: a list cell (JSONL, Parquet) is taken as it is, a
    string cell is split on the delimiter; an empty cell or list is a text with no labels. Without ``header``
    (CSV, TSV) the columns are named ``"1"``, ``"2"``... (see :func:`textclf.data.columns.column_key`).
    """
    if fmt == "jsonl":
        texts, labels = read_jsonl(path, text_column, label_column, encoding, label_delimiter)
        return list(texts), labels
    encoding = _resolved(path, fmt, encoding)
    where = Table(path, fmt, encoding, header)
    where.require(table_columns(path, fmt, encoding, header), text_column)  # from the first row, before the rest
    table = load_table(path, fmt, encoding, header=header)
    texts = [cell_text(value, path, text_column, row) for row, value in enumerate(table[text_column], start=1)]
    has_labels = label_column is not None and label_column in table.column_names
    cells = table[label_column] if has_labels else []
    return texts, _labels(where, table.column_names, label_column, cells, label_delimiter)


def stream_table(
    path: Path,
    fmt: str,
    text_column: str,
    label_column: str | None,
    encoding: str = "auto",
    label_delimiter: str | None = None,
    *,
    scratch: Path,
    header: bool = True,
) -> tuple[TextStream, Labels]:
    """:func:`read_table` for files larger than memory: only the labels are read into memory.

    ``datasets`` writes the table as Arrow files under ``scratch`` (deleting them is the caller's job); the texts
    are a :class:`TextStream` that reads them back batch by batch (plain reads: no memory map fills up).
    """
    encoding = _resolved(path, fmt, encoding)
    where = Table(path, fmt, encoding, header)
    where.require(table_columns(path, fmt, encoding, header), text_column)  # from the first row, before the rest
    table = load_table(path, fmt, encoding, cache_dir=scratch, header=header)
    files, columns, size = [Path(f["filename"]) for f in table.cache_files], table.column_names, len(table)
    del table
    texts = TextStream(partial(_text_batches, files, text_column, path), size)
    cells: Iterable[Any] = ()
    if label_column is not None and label_column in columns:
        cells = (cell for (batch,) in arrow_batches(files, [label_column]) for cell in batch)
    return texts, _labels(where, columns, label_column, cells, label_delimiter)


def _resolved(path: Path, fmt: str, encoding: str) -> str:
    """``encoding``, or for ``auto`` and a CSV/TSV file the detected one: the file is scanned once, not per step."""
    return detect_file_encoding(path) if encoding == "auto" and fmt in HEADER_FORMATS else encoding


def _labels(
    where: Table, columns: list[str], label_column: str | None, cells: Iterable[Any], label_delimiter: str | None
) -> Labels:
    """The labels of a table from the cells of ``label_column``, or None when the table has no such column."""
    path = where.path
    if label_column is None or label_column not in columns:
        if label_column is not None:
            log.debug("%s has no column %r: reading texts only", path, label_column)
        return None
    if label_delimiter is not None:
        return [label_set(value, label_delimiter, path, label_column, row) for row, value in enumerate(cells, 1)]
    labels = []
    for row, value in enumerate(cells, start=1):
        try:
            labels.append(label_name(value, path, label_column, row))
        except TextclfError as e:
            raise where.short_row(e, row) from None
    return labels


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

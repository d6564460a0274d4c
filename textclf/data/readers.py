"""Readers for labelled text files: CSV, TSV, JSONL, Parquet, label-first lines, one folder per label.

Every reader returns plain lists ``(texts, labels)`` (labels as strings, None when the file has no labels),
and every problem a user can cause becomes a one-line :class:`TextclfError` naming the file, column or row.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any, Literal

from textclf.errors import TextclfError

log = logging.getLogger(__name__)

FileFormat = Literal["auto", "csv", "tsv", "jsonl", "parquet", "lines", "folder"]
DEFAULT_LINE_PATTERN = r"^(?:__label__)?(?P<label>\S+)\s+(?P<text>.*)$"
MULTI_LABEL_LINE_PATTERN = r"^(?P<label>(?:__label__\S+\s+)*)(?P<text>.*)$"  # fastText: __label__a __label__b text
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}

Texts = list[str]
Labels = list[Any] | None  # a str per text; for multi-label data, a list of str per text


def detect_format(path: Path) -> str:
    """The file format from the path: a directory is ``folder``; known suffixes; anything else is ``lines``."""
    if path.is_dir():
        return "folder"
    return _SUFFIX_FORMATS.get(path.suffix.lower(), "lines")


def decode(path: Path, encoding: str = "auto") -> str:
    r"""Read a text file. ``auto`` tries UTF-8, then Windows-1252, then latin-1, and logs the fallback.

    Old corpora (TREC, MR, Subj) are latin-1 or Windows-1252; MR even holds NEL (0x85) bytes, which is why
    callers split the result on ``\\n`` only (``str.splitlines`` would break lines at U+0085).
    """
    data = path.read_bytes()
    if encoding == "auto":
        encoding = detect_encoding(data, path)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise TextclfError(
            f"{path}: byte {e.start} (line {line}) is not valid {encoding}; set encoding (e.g. latin-1) or use auto"
        ) from None
    except LookupError:
        raise TextclfError(f"{path}: unknown encoding {encoding!r}") from None


def detect_encoding(data: bytes, path: Path) -> str:
    """``utf-8-sig`` when ``data`` is UTF-8 (a BOM is dropped), else ``cp1252``, else ``latin-1`` (logged)."""
    try:
        data.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        try:
            data.decode("cp1252")
            fallback = "cp1252"
        except UnicodeDecodeError:
            fallback = "latin-1"
        log.warning("%s is not UTF-8 (byte %d, line %d): reading it as %s", path, e.start, line, fallback)
        return fallback


def read_lines(path: Path, pattern: str = DEFAULT_LINE_PATTERN, encoding: str = "auto") -> tuple[Texts, Labels]:
    """Label-first lines (``LABEL text``, fastText's ``__label__LABEL text``, TREC's ``COARSE:fine text``...).

    ``pattern`` is a regular expression with a named group ``text`` and, for labelled files, ``label``.
    Blank lines are skipped; a line that does not match is an error naming the line.
    """
    regex = _compile(pattern)
    labelled = "label" in regex.groupindex
    texts: list[str] = []
    labels: list[str] = []
    for number, line in enumerate(decode(path, encoding).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        match = regex.match(line)
        if match is None:
            raise TextclfError(f"{path}, line {number}: does not match the line pattern {pattern!r}: {line[:80]!r}")
        texts.append(match["text"])
        if labelled:
            labels.append(match["label"])
    return texts, (labels if labelled else None)


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
        for file in sorted(f for f in label_dir.iterdir() if f.is_file() and not f.name.startswith(".")):
            texts.append(decode(file, encoding))
            labels.append(label_dir.name)
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
    """CSV, TSV, JSONL or Parquet through ``datasets``; ``label_column`` None (or absent) reads texts only.

    TSV is read without quote processing (as GLUE and most TSV corpora are written); CSV follows RFC 4180 quoting.
    With ``label_delimiter`` the labels are multi-label sets: a list cell (JSONL, Parquet) is taken as it is, a
    string cell is split on the delimiter; an empty cell or list is a text with no labels.
    """
    import datasets

    datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its "Failed to read file" would precede our error
    try:
        if fmt in ("csv", "tsv"):
            enc = encoding if encoding != "auto" else detect_encoding(path.read_bytes(), path)
            options: dict[str, Any] = {"sep": "\t"} if fmt == "tsv" else {}
            if fmt == "tsv":
                options["quoting"] = csv.QUOTE_NONE
            # Every column is read as a string: ``datasets`` takes column types from ``features`` (pandas would
            # turn "007" into 7, and fail when a later 10,000-row chunk of a numeric-looking column has a word).
            # The names come from pandas itself, so they match ("Unnamed: 0", de-duplicated names).
            import pandas as pd

            header = pd.read_csv(path, nrows=0, encoding=enc, **options).columns
            features = datasets.Features({str(name): datasets.Value("string") for name in header})
            table = datasets.Dataset.from_csv(
                str(path), encoding=enc, keep_default_na=False, features=features, keep_in_memory=True, **options
            )
        elif fmt == "jsonl":
            table = datasets.Dataset.from_json(str(path), keep_in_memory=True)
        elif fmt == "parquet":
            table = datasets.Dataset.from_parquet(str(path), keep_in_memory=True)
        else:
            raise TextclfError(f"{path}: unknown table format {fmt!r}")
    except TextclfError:
        raise
    except Exception as e:
        raise TextclfError(f"{path}: could not read as {fmt.upper()}: {_root_cause(e)}") from None
    finally:
        datasets.logging.set_verbosity(verbosity)
    columns = table.column_names
    if text_column not in columns:
        raise TextclfError(f"{path}: no text column {text_column!r} (columns: {', '.join(columns)}); set text_column")
    texts = [_cell(value, path, text_column, row) for row, value in enumerate(table[text_column], start=1)]
    if label_column is None or label_column not in columns:
        if label_column is not None:
            log.debug("%s has no column %r: reading texts only", path, label_column)
        return texts, None
    if label_delimiter is not None:
        cells = enumerate(table[label_column], start=1)
        return texts, [label_set(value, label_delimiter, path, label_column, row) for row, value in cells]
    labels = [_cell(value, path, label_column, row) for row, value in enumerate(table[label_column], start=1)]
    blank = next((row for row, label in enumerate(labels, start=1) if not label.strip()), None)
    if blank is not None:  # a missing CSV cell reads as "", which would otherwise become a class of its own
        raise TextclfError(f"{path}, row {blank}: column {label_column!r} is empty")
    return texts, labels


def require_labels(path: Path, labels: Labels, label_column: str) -> list[str]:
    """Labels of a training/evaluation file, or an error saying which column was expected."""
    if labels is None:
        raise TextclfError(f"{path}: no label column {label_column!r}; set label_column")
    return labels


def label_set(value: Any, delimiter: str, path: Path, column: str, row: int) -> list[str]:
    """The labels of one multi-label cell: a list as it is, a string split on ``delimiter``; blanks dropped."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = [_cell(item, path, column, row) for item in value]
    elif isinstance(value, dict):
        raise TextclfError(f"{path}, row {row}: column {column!r} holds an object; give a list of labels")
    else:
        items = _cell(value, path, column, row).split(delimiter)
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))  # in order, once each


def _cell(value: Any, path: Path, column: str, row: int) -> str:
    if value is None:
        raise TextclfError(f"{path}, row {row}: column {column!r} is empty")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else str(value)


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

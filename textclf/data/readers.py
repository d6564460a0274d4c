"""Readers for labelled text files: CSV, TSV, JSONL, Parquet, label-first lines, one folder per label.

Every reader returns plain lists ``(texts, labels)`` (labels as strings, None when the file has no labels),
except :func:`stream_table`, whose texts stay on disk (a :class:`TextStream`) for corpora larger than memory.
Every problem a user can cause becomes a one-line :class:`TextclfError` naming the file, column or row.
"""

from __future__ import annotations

import codecs
import csv
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal

from textclf.data.splits import TextStream
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
    return _detect(lambda: iter((data,)), path)


def detect_file_encoding(path: Path) -> str:
    """:func:`detect_encoding` of a file, read in 1 MiB chunks (never whole)."""
    return _detect(partial(_chunks, path), path)


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(partial(handle.read, size), b"")


def _detect(chunks: Callable[[], Iterator[bytes]], path: Path) -> str:
    error = _first_undecodable(chunks(), "utf-8")
    if error is None:
        return "utf-8-sig"
    fallback = "cp1252" if _first_undecodable(chunks(), "cp1252") is None else "latin-1"
    line = 1 + sum(chunk[: max(error - start, 0)].count(b"\n") for start, chunk in _offsets(chunks()))
    log.warning("%s is not UTF-8 (byte %d, line %d): reading it as %s", path, error, line, fallback)
    return fallback


def _offsets(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    start = 0
    for chunk in chunks:
        yield start, chunk
        start += len(chunk)


def _first_undecodable(chunks: Iterable[bytes], encoding: str) -> int | None:
    """The offset of the first byte that is not valid ``encoding``, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    end = 0
    for start, chunk in _offsets(chunks):
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous chunk
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as e:
            return start - pending + e.start
        end = start + len(chunk)
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:  # the file ends inside a character
        return end - pending + e.start
    return None


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
    table = _load_table(path, fmt, encoding)
    _require_column(path, table.column_names, text_column)
    texts = [_cell(value, path, text_column, row) for row, value in enumerate(table[text_column], start=1)]
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
    table = _load_table(path, fmt, encoding, cache_dir=scratch)
    files, columns, size = [Path(f["filename"]) for f in table.cache_files], table.column_names, len(table)
    del table
    _require_column(path, columns, text_column)
    texts = TextStream(partial(_text_batches, files, text_column, path), size)
    cells: Iterable[Any] = ()
    if label_column is not None and label_column in columns:
        cells = (cell for batch in _arrow_batches(files, label_column) for cell in batch)
    return texts, _labels(path, columns, label_column, cells, label_delimiter)


def _load_table(path: Path, fmt: str, encoding: str, cache_dir: Path | None = None) -> Any:
    """A ``datasets.Dataset`` of the file: in memory, or memory-mapped from Arrow files under ``cache_dir``."""
    import datasets

    datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its "Failed to read file" would precede our error
    where: dict[str, Any] = {"keep_in_memory": True} if cache_dir is None else {"cache_dir": str(cache_dir)}
    try:
        if fmt in ("csv", "tsv"):
            enc = encoding if encoding != "auto" else detect_file_encoding(path)
            options: dict[str, Any] = {"sep": "\t"} if fmt == "tsv" else {}
            if fmt == "tsv":
                options["quoting"] = csv.QUOTE_NONE
            # Every column is read as a string: ``datasets`` takes column types from ``features`` (pandas would
            # turn "007" into 7, and fail when a later 10,000-row chunk of a numeric-looking column has a word).
            # The names come from pandas itself, so they match ("Unnamed: 0", de-duplicated names).
            import pandas as pd

            header = pd.read_csv(path, nrows=0, encoding=enc, **options).columns
            features = datasets.Features({str(name): datasets.Value("string") for name in header})
            return datasets.Dataset.from_csv(
                str(path), encoding=enc, keep_default_na=False, features=features, **where, **options
            )
        if fmt == "jsonl":
            return datasets.Dataset.from_json(str(path), **where)
        if fmt == "parquet":
            return datasets.Dataset.from_parquet(str(path), **where)
        raise TextclfError(f"{path}: unknown table format {fmt!r}")
    except TextclfError:
        raise
    except Exception as e:
        raise TextclfError(f"{path}: could not read as {fmt.upper()}: {_root_cause(e)}") from None
    finally:
        datasets.logging.set_verbosity(verbosity)


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
    labels = [_cell(value, path, label_column, row) for row, value in enumerate(cells, start=1)]
    blank = next((row for row, label in enumerate(labels, start=1) if not label.strip()), None)
    if blank is not None:  # a missing CSV cell reads as "", which would otherwise become a class of its own
        raise TextclfError(f"{path}, row {blank}: column {label_column!r} is empty")
    return labels


def _arrow_batches(files: list[Path], column: str) -> Iterator[list[Any]]:
    """The cells of ``column``, batch by batch, from Arrow stream files (as ``datasets`` writes them)."""
    import pyarrow as pa

    for file in files:
        with pa.OSFile(str(file)) as handle:
            for batch in pa.ipc.open_stream(handle):
                yield batch.column(column).to_pylist()


def _text_batches(files: list[Path], column: str, path: Path) -> Iterator[list[str]]:
    row = 1
    for cells in _arrow_batches(files, column):
        yield [cell if isinstance(cell, str) else _cell(cell, path, column, row + i) for i, cell in enumerate(cells)]
        row += len(cells)


def check_delimiter(labels: list[Any], delimiter: str, path: Path) -> None:
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
    if isinstance(value, list | tuple | dict):
        hint = "; for several labels per text set multi_label: true" if isinstance(value, list | tuple) else ""
        raise TextclfError(f"{path}, row {row}: column {column!r} holds a {type(value).__name__}, not a value{hint}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else str(value)


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

"""Tables (CSV, TSV, JSONL, Parquet) through ``datasets``/Arrow, and their cells.

The one path by which training (:mod:`textclf.data.readers`) and prediction read tables, so quoting, cell types
and encodings are the same for both.
"""

from __future__ import annotations

import csv
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from textclf.data.encoding import detect_file_encoding
from textclf.errors import TextclfError

log = logging.getLogger(__name__)


def table_columns(path: Path, fmt: str, encoding: str = "auto") -> list[str]:
    """The column names of a CSV, TSV or Parquet file, from its header alone (as :func:`read_table` names them)."""
    with _reading(path, fmt):
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        import pandas as pd

        enc = encoding if encoding != "auto" else detect_file_encoding(path)
        return [str(name) for name in pd.read_csv(path, nrows=0, encoding=enc, **_csv_options(fmt)).columns]


def load_table(path: Path, fmt: str, encoding: str, cache_dir: Path | None = None) -> Any:
    """A ``datasets.Dataset`` of the file: in memory, or memory-mapped from Arrow files under ``cache_dir``."""
    import datasets

    datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its "Failed to read file" would precede our error
    where: dict[str, Any] = {"keep_in_memory": True} if cache_dir is None else {"cache_dir": str(cache_dir)}
    try:
        with _reading(path, fmt):
            if fmt in ("csv", "tsv"):
                enc = encoding if encoding != "auto" else detect_file_encoding(path)
                # Every column is read as a string: ``datasets`` takes column types from ``features`` (pandas would
                # turn "007" into 7, and fail when a later 10,000-row chunk of a numeric-looking column has a
                # word). The names come from pandas itself, so they match ("Unnamed: 0", de-duplicated names).
                features = datasets.Features({name: datasets.Value("string") for name in table_columns(path, fmt, enc)})
                options = _csv_options(fmt)
                return datasets.Dataset.from_csv(
                    str(path), encoding=enc, keep_default_na=False, features=features, **where, **options
                )
            if fmt == "jsonl":
                return datasets.Dataset.from_json(str(path), **where)
            if fmt == "parquet":
                return datasets.Dataset.from_parquet(str(path), **where)
            raise TextclfError(f"{path}: unknown table format {fmt!r}")
    finally:
        datasets.logging.set_verbosity(verbosity)


def _csv_options(fmt: str) -> dict[str, Any]:
    """TSV is read without quote processing (as GLUE and most TSV corpora are written); CSV follows RFC 4180.

    ``index_col=False``: a first row with one field more than the header is an error, not pandas' guess that the
    first column is an index (which would shift every column by one: the labels read as the texts).
    """
    options: dict[str, Any] = {"index_col": False}
    return {**options, "sep": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else options


@contextmanager
def _reading(path: Path, fmt: str) -> Iterator[None]:
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
        if "corresponds to no data" in cause:  # datasets' words for a file without rows
            raise TextclfError(f"{path}: no rows to read (only a header, or empty)") from None
        if "Length of header or names does not match" in cause:  # the ParserWarning, raised through datasets
            raise TextclfError(
                f"{path}: the first row after the header has more fields than the header; quote fields that hold "
                "the delimiter"
            ) from None
        raise TextclfError(f"{path}: could not read as {fmt.upper()}: {cause}") from None


def arrow_batches(files: list[Path], columns: Sequence[str]) -> Iterator[list[list[Any]]]:
    """The cells of ``columns`` (one list per column), batch by batch, from Arrow stream files.

    ``datasets`` writes such files under its ``cache_dir``; plain reads, so no memory map fills up.
    """
    import pyarrow as pa

    for file in files:
        with pa.OSFile(str(file)) as handle:
            for batch in pa.ipc.open_stream(handle):
                yield [batch.column(column).to_pylist() for column in columns]


def cell_text(value: Any, path: Path, column: str, row: int, unit: str = "row") -> str:
    """One cell as a string (``3.0`` is ``"3"``); an empty (null) cell or a list or object is an error."""
    if value is None:
        raise TextclfError(f"{path}, {unit} {row}: column {column!r} is empty")
    if isinstance(value, list | tuple | dict):
        hint = "; for several labels per text set multi_label: true" if isinstance(value, list | tuple) else ""
        where = f"{path}, {unit} {row}: column {column!r}"
        raise TextclfError(f"{where} holds a {type(value).__name__}, not a value{hint}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else str(value)


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


def label_set(value: Any, delimiter: str, path: Path, column: str, row: int) -> list[str]:
    """The labels of one multi-label cell: a list as it is, a string split on ``delimiter``; blanks dropped."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        items = [cell_text(item, path, column, row) for item in value]
    elif isinstance(value, dict):
        raise TextclfError(f"{path}, row {row}: column {column!r} holds an object; give a list of labels")
    else:
        items = cell_text(value, path, column, row).split(delimiter)
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))  # in order, once each


def _root_cause(error: BaseException) -> str:
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

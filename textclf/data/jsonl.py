r"""JSONL (one JSON object per line) read line by line with :func:`json.loads`, for training and prediction alike.

Reading the lines ourselves (rather than through ``datasets``, whose type inference turns a label column that
mixes ``1``, ``1.0`` and ``"neg"`` into the strings ``1.0`` and ``'"neg"'``) keeps every value's JSON type for
:mod:`textclf.data.labels` and names the line of every problem. Lines end at ``\n`` only (a ``\r\n`` ending is
fine); blank lines are skipped; a file whose first character is ``[`` is read as one JSON array of objects (errors
then name the ``item``). Decoding is every text file's (:func:`textclf.data.encoding.iter_lines`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from textclf.data.encoding import decode, detect_file_encoding, iter_lines
from textclf.data.labels import cell_text, label_name, label_set
from textclf.data.splits import TextStream
from textclf.errors import TextclfError

_SURROGATE = re.compile("[\ud800-\udfff]")  # "\ud800" in a JSON string: not a character, cannot be stored as UTF-8
_BATCH = 10_000
_TOO_DEEP = "nested too deeply (lists or objects inside each other beyond Python's recursion limit)"


def json_objects(path: Path, encoding: str = "auto") -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(unit, number, object)`` for every record: unit ``line`` (1-based line) or ``item`` (a JSON array's).

    Raises:
        TextclfError: invalid JSON (naming the line and the column), JSON nested too deeply for Python's parser
            (about 1000 levels), a record that is not an object, a string holding an unpaired surrogate
            (``\ud800``), undecodable bytes (see :func:`iter_lines`).
    """
    encoding = detect_file_encoding(path) if encoding == "auto" else encoding
    if _starts_with_bracket(path, encoding):
        try:
            items = json.loads(decode(path, encoding))
        except json.JSONDecodeError as e:
            raise TextclfError(f"{path}, line {e.lineno}: invalid JSON at column {e.colno}: {_reason(e)}") from None
        except RecursionError:
            raise TextclfError(f"{path}: the JSON array is {_TOO_DEEP}") from None
        if not isinstance(items, list):
            raise TextclfError(f"{path}: a JSON file holds one object per line, or one array of objects")
        for number, item in enumerate(items, start=1):
            yield "item", number, _object(item, path, "item", number)
        return
    for number, line in enumerate(iter_lines(path, encoding), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise TextclfError(f"{path}, line {number}: invalid JSON at column {e.colno}: {_reason(e)}") from None
        except RecursionError:
            raise TextclfError(f"{path}, line {number}: {_TOO_DEEP}") from None
        yield "line", number, _object(record, path, "line", number)


def read_jsonl(
    path: Path,
    text_column: str,
    label_column: str | None,
    encoding: str = "auto",
    label_delimiter: str | None = None,
    scratch: Path | None = None,
) -> tuple[list[str] | TextStream, list[Any] | None]:
    """Texts and labels (None when no record has ``label_column``) of a JSONL file.

    With ``scratch`` (a folder the caller deletes) the texts are written there as an Arrow stream and returned as
    a :class:`TextStream`: only the labels stay in memory. Labels are :func:`label_name` (or :func:`label_set`
    with ``label_delimiter``).

    Raises:
        TextclfError: no record has ``text_column``, a record lacks it (or lacks ``label_column`` when others have
            it), a bad cell (see :mod:`textclf.data.labels`), or any error of :func:`json_objects`.
    """
    texts: list[str] = []
    labels: list[Any] = []
    missing: tuple[str, int] | None = None  # the first record without a label, if another has one
    writer = _Batches(scratch) if scratch is not None else None
    count = 0
    for unit, number, record in json_objects(path, encoding):
        if text_column not in record:
            if count == 0:
                keys = ", ".join(record)
                raise TextclfError(f"{path}: no text column {text_column!r} (columns: {keys}); set text_column")
            raise TextclfError(f"{path}, {unit} {number}: no key {text_column!r}")
        texts.append(cell_text(record[text_column], path, text_column, number, unit))
        count += 1
        if writer is not None and len(texts) >= _BATCH:
            writer.write(texts)
            texts = []
        if label_column is None:
            continue
        if label_column not in record:
            missing = missing or (unit, number)
            labels.append(None)
        elif label_delimiter is not None:
            labels.append(label_set(record[label_column], label_delimiter, path, label_column, number, unit))
        else:
            labels.append(label_name(record[label_column], path, label_column, number, unit))
    if count == 0:
        raise TextclfError(f"{path}: no rows to read (empty)")
    found = label_column is not None and any(label is not None for label in labels)
    if found and missing is not None:
        raise TextclfError(f"{path}, {missing[0]} {missing[1]}: no key {label_column!r}")
    result: list[str] | TextStream = texts
    if writer is not None:
        result = writer.close(texts, count)
    return result, (labels if found else None)


class _Batches:
    """Text batches written to one Arrow stream file, read back (as :func:`textclf.data.tables.arrow_batches`)."""

    def __init__(self, scratch: Path) -> None:
        import pyarrow as pa

        scratch.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="jsonl-texts-", suffix=".arrow", dir=scratch)  # one per file read
        os.close(handle)
        self.file = Path(name)
        self.schema = pa.schema([("text", pa.string())])
        self.sink = pa.OSFile(name, "wb")
        self.writer = pa.ipc.new_stream(self.sink, self.schema)

    def write(self, texts: list[str]) -> None:
        import pyarrow as pa

        self.writer.write_batch(pa.record_batch([pa.array(texts, pa.string())], schema=self.schema))

    def close(self, rest: list[str], count: int) -> TextStream:
        if rest:
            self.write(rest)
        self.writer.close()
        self.sink.close()
        from textclf.data.tables import arrow_batches

        file = self.file
        return TextStream(lambda: (batch for (batch,) in arrow_batches([file], ["text"])), count)


def _object(record: Any, path: Path, unit: str, number: int) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise TextclfError(f"{path}, {unit} {number}: not a JSON object ({type(record).__name__})")
    for key, value in record.items():
        if isinstance(value, str) and _SURROGATE.search(value):
            raise TextclfError(f"{path}, {unit} {number}: key {key!r} holds an unpaired surrogate (\\u escape)")
    return record


def _reason(error: json.JSONDecodeError) -> str:
    return error.msg.removesuffix(" at")  # "Invalid control character at"


def _starts_with_bracket(path: Path, encoding: str) -> bool:
    with closing(iter_lines(path, encoding)) as lines:
        return next((line.lstrip().startswith("[") for line in lines if line.strip()), False)

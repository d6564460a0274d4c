"""Custom corpora from files: CSV, TSV, JSONL, Parquet, label-first lines, or one folder per label."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textclf.data.base import TextDataModule
from textclf.data.cache import path_fingerprint
from textclf.data.columns import HEADER_FORMATS, column_key
from textclf.data.grouping import GROUP_FORMATS, group_split
from textclf.data.readers import DEFAULT_LINE_PATTERN, FileFormat, file_format, read_labelled
from textclf.data.splits import LabelledSplit
from textclf.errors import TextclfError


class FileDataModule(TextDataModule):
    """A labelled corpus in your own files.

    Give a training file and, when you have them, validation and test files; a missing split is held out of
    the training file (stratified, seeded; with a ``group_column``, by whole groups). Relative paths are resolved
    against ``data_dir``, which defaults to the ``TEXTCLF_DATA`` environment variable, else the working directory.

    Args:
        train: training file (or folder, for the ``folder`` format).
        val: validation file, optional.
        test: test file, optional.
        format: ``auto`` picks by suffix: ``.csv``, ``.tsv``, ``.jsonl``/``.json``, ``.parquet``, a directory is
            ``folder``, anything else ``lines``.
        text_column: column (or JSON key) holding the text; with ``header`` false, its 1-based position.
        label_column: column holding the label (a string or an integer); with ``header`` false, its position.
        group_column: column naming each text's group (a conversation, a document), for sequential models
            (docs/sequential.md); with ``header`` false, its position. CSV, TSV, JSONL and Parquet files only. Every
            split then carries meta ``group`` and ``order`` (:meth:`split_meta`), its rows sorted into group order,
            and a missing val/test split is carved by whole groups (:mod:`textclf.data.grouping`).
        order_column: with ``group_column``: column holding each text's number within its group (a turn, a
            sentence number); rows are sorted by it (ties keep file order). Without it, groups keep file order.
        header: false: the CSV/TSV files have no header row, and ``text_column``/``label_column`` are 1-based
            column positions (``text_column: 1``, ``label_column: 2`` for AG News' ``text<TAB>label``). With a
            header (the default) every column is a name, even ``2``. Refused for other formats.
        line_pattern: for ``lines`` files: a regular expression with named groups ``label`` and ``text``. The
            default reads ``LABEL text`` and fastText's ``__label__LABEL text``; with ``multi_label``, fastText's
            ``__label__A __label__B text`` (any number of labels, none included).
        encoding: text encoding; ``auto`` reads UTF-8 and falls back to Windows-1252 / latin-1 with a warning.
        labels: class names in a fixed order (other labels are an error); default: the sorted training labels.
        label_delimiter: with ``multi_label``: the separator of the labels in a CSV/TSV cell (``"sports,politics"``);
            JSONL and Parquet cells may hold lists instead (``["sports", "politics"]``).
        data_dir: root for relative paths.
        **kwargs: tokenizer, vocabulary, vectors, batching and split options of :class:`TextDataModule`.
    """

    def __init__(
        self,
        train: str,
        val: str | None = None,
        test: str | None = None,
        *,
        format: FileFormat = "auto",
        text_column: str | int = "text",
        label_column: str | int = "label",
        group_column: int | str | None = None,  # int first, as Lightning's loggers type their version: jsonargparse
        order_column: int | str | None = None,  # caches one Union for both orders, and Lightning's "0" must stay 0
        header: bool = True,
        line_pattern: str = DEFAULT_LINE_PATTERN,
        encoding: str = "auto",
        labels: list[str] | None = None,
        label_delimiter: str = ",",
        data_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir or os.environ.get("TEXTCLF_DATA") or ".").expanduser()
        self.paths = {name: path for name, path in (("train", train), ("val", val), ("test", test)) if path}
        self.format = format
        if not isinstance(header, bool):
            raise TextclfError(f"data.header is {header!r}, not true or false")
        self.header = header
        # without a header, the positions are checked now, not when the files are read (and kept as ints)
        self.text_column = str(text_column) if header else int(column_key(text_column, header, "data.text_column"))
        self.label_column = str(label_column) if header else int(column_key(label_column, header, "data.label_column"))
        self.group_column, self.order_column = self._group_options(group_column, order_column, header, format)
        if not header and format not in ("auto", *HEADER_FORMATS):
            raise TextclfError(f"data.header is false, but data.format is {format}: header: false is for CSV and TSV")
        self.line_pattern = line_pattern
        self.encoding = encoding
        self.label_names = labels
        if not label_delimiter:
            raise TextclfError("label_delimiter must not be empty")
        self.label_delimiter = label_delimiter

    def _group_options(
        self, group: str | int | None, order: str | int | None, header: bool, format: str
    ) -> tuple[str | int | None, str | int | None]:
        """``group_column`` and ``order_column`` as ``text_column`` is kept (names, or positions without a header).

        Raises:
            TextclfError: ``order_column`` without ``group_column``, a format without columns, a column that is not a
                position without a header, or two of the text, label, group and order columns the same.
        """
        if group is None:
            if order is not None:
                raise TextclfError(
                    f"data.order_column is {order!r} but data.group_column is not set: the order is within a group"
                )
            return None, None
        if format not in ("auto", *GROUP_FORMATS):
            raise TextclfError(f"data.group_column is for CSV, TSV, JSONL and Parquet files; data.format is {format}")
        options = {"text_column": self.text_column, "label_column": self.label_column}
        for name, value in (("group_column", group), ("order_column", order)):
            if value is None:
                continue
            value = str(value) if header else int(column_key(value, header, f"data.{name}"))
            same = next((other for other, known in options.items() if str(known) == str(value)), None)
            if same is not None:
                raise TextclfError(f"data.{name} and data.{same} are the same column ({value})")
            options[name] = value
        return options["group_column"], options.get("order_column")

    def resolve(self, path: str) -> Path:
        """An absolute path, or ``data_dir / path``; a missing file is a one-line error."""
        candidate = Path(path).expanduser()
        resolved = candidate if candidate.is_absolute() else self.data_dir / candidate
        if not resolved.exists():
            hint = (
                ""
                if candidate.is_absolute()
                else f" (relative to data_dir {self.data_dir}; set data_dir or TEXTCLF_DATA)"
            )
            raise TextclfError(f"file not found: {resolved}{hint}")
        return resolved

    def read_splits(self) -> dict[str, LabelledSplit]:
        """Read every given file."""
        return {name: self._read(self.resolve(path)) for name, path in self.paths.items()}

    def _read(self, path: Path) -> LabelledSplit:
        split = read_labelled(
            path,
            fmt=self.format,
            text_column=self.text_column,
            label_column=self.label_column,
            line_pattern=self.line_pattern,
            encoding=self.encoding,
            label_delimiter=self.label_delimiter,
            multi_label=self.multi_label,
            header=self.header,
            scratch=self.scratch_dir,  # preparing the cache: a table's texts stay on disk (larger than memory)
        )
        if self.group_column is None:
            return split
        fmt = file_format(path) if self.format == "auto" else self.format
        order = None if self.order_column is None else str(self.order_column)
        return group_split(split, path, fmt, str(self.group_column), order, encoding=self.encoding,
                           header=self.header, scratch=self.scratch_dir)  # fmt: skip

    def fingerprint(self) -> dict[str, Any]:
        """Paths, sizes and modification times of the files, and the reader options.

        ``header: false`` adds ``{"header": false}`` (positions are ints, names strings), so a file read with and
        without a header never shares an entry, and the entries of files with a header keep their keys. A
        ``group_column`` adds ``{"group_column": ..., "order_column": ...}`` the same way.
        """
        files = {name: path_fingerprint(self.resolve(path)) for name, path in self.paths.items()}
        options: list[Any] = [self.format, self.text_column, self.label_column, self.line_pattern, self.encoding]
        if self.multi_label:
            options.append(self.label_delimiter)
        if not self.header:
            options.append({"header": False})
        if self.group_column is not None:  # only then, so that other entries keep their keys
            options.append({"group_column": self.group_column, "order_column": self.order_column})
        return {"files": files, "options": options}

    def fixed_labels(self) -> list[str] | None:
        """The ``labels`` argument."""
        return self.label_names

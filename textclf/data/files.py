"""Custom corpora from files: CSV, TSV, JSONL, Parquet, label-first lines, or one folder per label."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textclf.data.base import TextDataModule
from textclf.data.cache import path_fingerprint
from textclf.data.columns import HEADER_FORMATS, column_key
from textclf.data.readers import DEFAULT_LINE_PATTERN, FileFormat, read_labelled
from textclf.data.splits import LabelledSplit
from textclf.errors import TextclfError


class FileDataModule(TextDataModule):
    """A labelled corpus in your own files.

    Give a training file and, when you have them, validation and test files; a missing split is held out of
    the training file (stratified, seeded). Relative paths are resolved against ``data_dir``, which defaults to
    the ``TEXTCLF_DATA`` environment variable, else the working directory.

    Args:
        train: training file (or folder, for the ``folder`` format).
        val: validation file, optional.
        test: test file, optional.
        format: ``auto`` picks by suffix: ``.csv``, ``.tsv``, ``.jsonl``/``.json``, ``.parquet``, a directory is
            ``folder``, anything else ``lines``.
        text_column: column (or JSON key) holding the text; with ``header`` false, its 1-based position.
        label_column: column holding the label (a string or an integer); with ``header`` false, its position.
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
        if not header and format not in ("auto", *HEADER_FORMATS):
            raise TextclfError(f"data.header is false, but data.format is {format}: header: false is for CSV and TSV")
        self.line_pattern = line_pattern
        self.encoding = encoding
        self.label_names = labels
        if not label_delimiter:
            raise TextclfError("label_delimiter must not be empty")
        self.label_delimiter = label_delimiter

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
        return read_labelled(
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

    def fingerprint(self) -> dict[str, Any]:
        """Paths, sizes and modification times of the files, and the reader options.

        ``header: false`` adds ``{"header": false}`` (positions are ints, names strings), so a file read with and
        without a header never shares an entry, and the entries of files with a header keep their keys.
        """
        files = {name: path_fingerprint(self.resolve(path)) for name, path in self.paths.items()}
        options: list[Any] = [self.format, self.text_column, self.label_column, self.line_pattern, self.encoding]
        if self.multi_label:
            options.append(self.label_delimiter)
        if not self.header:
            options.append({"header": False})
        return {"files": files, "options": options}

    def fixed_labels(self) -> list[str] | None:
        """The ``labels`` argument."""
        return self.label_names

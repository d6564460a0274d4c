"""The document corpora's original files, streamed (tar archives, the CSVs of Zhang et al. 2015), and their bases.

Nothing is unpacked to disk: a tar archive is read once, member by member, front to back, and a CSV
file row by row. Every problem with the input becomes one :class:`TextclfError` naming the file and what was
expected there.
"""

from __future__ import annotations

import csv
import logging
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

from textclf.data.encoding import FALLBACKS, decode_bytes
from textclf.data.public import PublicCorpus
from textclf.data.splits import LabelledSplit, TextStream
from textclf.errors import TextclfError
from textclf.wording import counted

log = logging.getLogger(__name__)

_FIELD_SIZE = 1 << 24


def iter_tar(path: Path, pattern: str | re.Pattern[str], layout: str) -> Iterator[tuple[re.Match[str], bytes]]:
    """The regular files of a tar archive whose names fully match ``pattern``, as ``(match, bytes)``, in archive order.

    The archive (gzip, bzip2, xz or plain) is read once, front to back, and checked to its end (CRC); a leading
    ``./`` in member names is ignored.

    Args:
        path: the archive.
        pattern: a regular expression for the member names to read (the others are skipped).
        layout: the expected layout, for error messages (``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``).

    Raises:
        TextclfError: the archive cannot be read (truncated, corrupt, not a tar archive).
    """
    regex = re.compile(pattern)
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for member in archive:  # one forward pass: each member is read right after its header
                if not member.isfile():
                    continue
                match = regex.fullmatch(member.name.removeprefix("./"))
                if match is None:
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    yield match, handle.read()
            # tarfile ends quietly at a damaged header: read on to the end, where gzip/bz2/xz check their CRC
            while archive.fileobj is not None and archive.fileobj.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        detail = str(e).strip().split("\n")[0].rstrip(":")  # tarfile lists every method it tried on more lines
        reason = f"{type(e).__name__}: {detail}" if detail else type(e).__name__
        raise TextclfError(
            f"{path}: cannot read the archive ({reason}); expected an intact tar archive holding {layout}. "
            "The file may be truncated or corrupt: download it again"
        ) from None


def read_class_csv(path: Path, fields: Sequence[str], label_names: Sequence[str], clean: bool = True) -> LabelledSplit:
    r"""A ``train.csv``/``test.csv`` of Zhang et al. (2015): ``class index (1..K), field, ...`` rows, no header.

    RFC 4180 quoting (``""`` inside quoted fields); the text fields are joined with a space (empty ones skipped) and,
    with ``clean``, the release's literal ``\n`` escapes become newlines. The file is UTF-8, else (logged)
    Windows-1252, else latin-1. Only the labels are kept in memory: the texts are a :class:`TextStream` that reads
    the file again, row by row, whenever they are needed (Amazon's and Yahoo's training files are gigabytes).

    Args:
        path: the CSV file.
        fields: the names of the text columns after the class index (``title``, ``description``), for messages.
        label_names: the class names; class index ``k`` is ``label_names[k - 1]``.
        clean: turn the literal ``\n`` escapes into newlines.

    Raises:
        TextclfError: the file is missing or malformed (column count, class index, CSV quoting).
    """
    if not path.is_file():
        raise TextclfError(f"{path}: no such file (expected a CSV of rows: class index, {', '.join(fields)})")
    for number, encoding in enumerate(FALLBACKS):  # one pass over the file unless it is not UTF-8
        try:
            labels = [label for label, _ in _read_rows(path, encoding, fields, label_names, clean)]
        except UnicodeDecodeError as e:
            log.warning("%s is not %s (%s): reading it as %s", path, encoding, e.reason, FALLBACKS[number + 1])
            continue
        if not labels:
            raise TextclfError(f"{path}: no rows (expected rows: class index, {', '.join(fields)})")
        rows = partial(_read_rows, path, encoding, fields, label_names, clean)
        return LabelledSplit(TextStream(partial(_text_batches, rows), len(labels)), labels, str(path))
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _text_batches(rows: Callable[[], Iterator[tuple[str, str]]], size: int = 1000) -> Iterator[list[str]]:
    iterator = (text for _, text in rows())
    while batch := list(islice(iterator, size)):
        yield batch


def _read_rows(
    path: Path, encoding: str, fields: Sequence[str], label_names: Sequence[str], clean: bool
) -> Iterator[tuple[str, str]]:
    """``(label, text)`` of every row, checked (a one-line TextclfError names the line of a malformed row)."""
    columns = 1 + len(fields)
    index_of = {str(k): name for k, name in enumerate(label_names, start=1)}
    expected = f"class index (1..{len(label_names)}), {', '.join(fields)}"
    if csv.field_size_limit() < _FIELD_SIZE:
        csv.field_size_limit(_FIELD_SIZE)  # the default (128 KiB) is below some Yahoo answers
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.reader(handle, strict=True)
        try:
            for row in reader:
                if not row:
                    continue  # a blank line
                if len(row) != columns:
                    raise TextclfError(
                        f"{path}, line {reader.line_num}: {counted(len(row), 'column')}, expected {columns}: {expected}"
                    )
                label = index_of.get(row[0].strip())
                if label is None:
                    raise TextclfError(
                        f"{path}, line {reader.line_num}: class index {row[0][:20]!r} is not one of "
                        f"1..{len(label_names)} (expected rows: {expected})"
                    )
                text = " ".join(part for part in row[1:] if part)
                yield label, (text.replace("\\n", "\n") if clean else text)
        except csv.Error as e:
            message = f"{path}, line {reader.line_num}: malformed CSV ({e}); expected rows: {expected}"
            raise TextclfError(message) from None


def check_classes_file(path: Path, label_names: Sequence[str]) -> None:
    """When the release's ``classes.txt`` (one class name per line, in index order) exists, it must match."""
    if not path.is_file():
        return
    listed = [line.strip() for line in decode_bytes(path.read_bytes()).split("\n") if line.strip()]
    if listed != list(label_names):
        raise TextclfError(
            f"{path}: lists the classes {listed}, expected {list(label_names)} (in this order); is this the "
            "right corpus folder?"
        )


MESSAGE_PARTS = ("headers", "footers", "quotes")
_QUOTE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


def strip_message(text: str, remove: Sequence[str]) -> str:
    """A Usenet message without the ``remove`` parts, as scikit-learn's ``fetch_20newsgroups(remove=...)`` does.

    ``headers``: everything up to the first blank line; ``footers``: everything after the last blank or ``--``
    line (the signature); ``quotes``: quoted lines (``>``, ``|``) and attribution lines ("... writes:").
    """
    if "headers" in remove:
        text = text.partition("\n\n")[2]
    if "footers" in remove:
        lines = text.strip().split("\n")
        cut = next((i for i in range(len(lines) - 1, -1, -1) if not lines[i].strip().strip("-")), 0)
        text = "\n".join(lines[:cut]) if cut > 0 else text
    if "quotes" in remove:
        text = "\n".join(line for line in text.split("\n") if not _QUOTE.search(line))
    return text


# ---- shared bases of the document corpora ------------------------------------------------------------------


class DocumentCorpus(PublicCorpus):
    """A public corpus whose texts get the same clean-up from the original files and from the Hub."""

    def clean_text(self, text: str) -> str:
        """One text as the model sees it (the default keeps it as it is)."""
        return text

    def read_hub(self) -> dict[str, LabelledSplit]:
        """The Hub splits, cleaned like the original files; a clear message where no Hub copy is known."""
        if not self.hub_id:
            raise TextclfError(
                f"{type(self).__name__}: {self.files_problem()}, and no Hub dataset is known for this corpus; "
                f"{self.files_fix()}, or give hub_id: a Hub dataset with the columns "
                f"{', '.join((*self.hub_text, self.hub_label))}"
            )
        splits = super().read_hub()
        return {name: replace(split, texts=[self.clean_text(t) for t in split.texts]) for name, split in splits.items()}

    def require_files(self) -> Path:
        """The directory of the original files, or the error :meth:`read_splits` gives when some are missing."""
        if self.missing_files():
            raise TextclfError(f"{type(self).__name__}: {self.files_problem()}; {self.files_fix()}, or source: hub")
        return self.directory


class ZhangCorpus(DocumentCorpus):
    r"""A text classification set of Zhang, Zhao & LeCun (2015), "Character-level convolutional networks".

    Original files: ``train.csv`` and ``test.csv`` (rows ``"class index","field",...``, no header, RFC 4180
    quoting, literal ``\n`` for newlines) and, in some releases, ``classes.txt`` (checked against the label names
    when present). The text fields are joined with a space. On the Hub, label ``k - 1`` is class index ``k``.
    """

    files = ("train.csv", "test.csv")
    fields: ClassVar[tuple[str, ...]]

    def clean_text(self, text: str) -> str:
        r"""The literal ``\n`` escapes become newlines."""
        return text.replace("\\n", "\n")

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """``train.csv`` and ``test.csv``, row by row."""
        check_classes_file(directory / "classes.txt", self.label_names)
        names = self.label_names
        return {split: read_class_csv(directory / f"{split}.csv", self.fields, names) for split in ("train", "test")}

    def label_name(self, value: Any, names: list[str] | None, where: str) -> str:
        """Hub label ``k`` is ``label_names[k]`` (class index ``k + 1`` of the CSVs), whatever its ClassLabel says."""
        if isinstance(value, int) and 0 <= value < len(self.label_names):
            return self.label_names[value]
        return super().label_name(value, names, where)

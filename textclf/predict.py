r"""``textclf predict``: classify texts from files or stdin with a checkpoint, in bounded memory.

Memory stays bounded whatever the input: records are read lazily, at most ``CHUNK`` texts (and ``CHUNK_CHARS``
characters) at a time are predicted and written out before the next chunk is read; each text is cut to
``BYTES_PER_TOKEN`` bytes (characters) per token of the token limit (at most ``MAX_TOKENS``, whatever the
checkpoint says) before it is tokenised and to the token limit after; a forward pass holds at most
``BATCH_TOKENS`` padded tokens. Plain-text lines are read by :mod:`textclf.data.lines` (split at ``\n`` only,
bounded per line); a line that cannot be decoded, or holds a NUL byte, becomes an error record in its place,
so output records keep the input order and ids. ``--id-column`` and ``--keep-columns`` copy input fields into
them. The output file is written under a temporary name and renamed at the end: a failed run leaves no output,
and an existing file stays as it was.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from textclf.data.columns import check_header
from textclf.data.lines import iter_text_lines
from textclf.data.readers import file_format
from textclf.data.records import iter_records, table_record_columns
from textclf.errors import TextclfError
from textclf.predict_output import OutputFormat, Record, Unreadable
from textclf.wording import counted

__all__ = ["OutputFormat", "Record", "Unreadable", "predict_files", "read_records"]

log = logging.getLogger("textclf.predict")

CHUNK = 8192  # records predicted at a time
CHUNK_CHARS = 16 << 20  # ... and at most this many characters of text (a chunk closes once it reaches it)
DEFAULT_MAX_LENGTH = 10_000  # tokens kept per text when the checkpoint's tokenizer has no max_length
MAX_TOKENS = 100_000  # tokens kept per text at most, whatever the checkpoint's max_length (bounds bytes per line)
BYTES_PER_TOKEN = 64  # a text is cut to max_length * BYTES_PER_TOKEN bytes (characters) before tokenising
BATCH_TOKENS = 1 << 17  # padded tokens per forward pass at most (256 texts of 512 tokens)
MAX_WARNINGS = 20  # unreadable lines logged one by one per input; the rest are counted
PROGRESS_SECONDS = 10.0


def read_records(
    source: str,
    text_column: str | int = "text",
    id_column: str | int | None = None,
    keep_columns: Sequence[str | int] = (),
    *,
    max_chars: int | None = None,
    header: bool = True,
) -> Iterator[Record]:
    """Stream ``(text, fields)`` from a CSV, TSV, JSONL, Parquet or plain text file, or ``-`` (stdin).

    Tables and JSONL are read as training reads them (:func:`textclf.data.readers.iter_records`); plain text and
    stdin by :func:`textclf.data.lines.iter_text_lines`: a record per line, empty lines included (as the empty
    text), the id field holding the 1-based line number; a line that cannot be decoded or holds a NUL byte is an
    :class:`Unreadable` text (logged). With ``max_chars``, texts are cut to their first ``max_chars`` characters
    (plain text: bytes, less a character cut in two), logged once per input. With ``header`` false, a CSV/TSV
    file has no header row and its columns are 1-based positions (:mod:`textclf.data.columns`).

    Raises:
        TextclfError: a missing input, a folder, a missing column, ``keep_columns`` on plain text, a bad record, a
            plain-text file with a NUL byte in its first bytes (binary, or UTF-16/UTF-32 without a byte-order mark),
            ``header`` false for an input that is not CSV or TSV.
    """
    if source != "-" and file_format(Path(source)) != "lines":
        records = iter_records(source, text_column, id_column, keep_columns, header=header)
        yield from _cut_texts(records, source, max_chars)
        return
    _check_input(source)
    check_header(source, "lines", header)
    id_column = None if id_column is None else str(id_column)
    if keep_columns:
        raise TextclfError(f"{source}: --keep-columns needs CSV, TSV or JSONL input (or Parquet), not plain text")
    bad, cut = _Tally(), _Tally()
    for line in iter_text_lines(source, max_bytes=max_chars or 1 << 62):
        fields = {id_column: line.number} if id_column else {}
        if line.cut:
            cut.add(line.number)
        if line.text is not None:
            yield line.text, fields
            continue
        if bad.add(line.number) <= MAX_WARNINGS:
            log.warning("%s (written as an error record)", line.error)
        yield Unreadable(str(line.error)), fields
    if cut.count:
        log.warning("%s: %s longer than %s bytes, cut to their first %s", source, cut, *[f"{max_chars:,}"] * 2)
    if bad.count:
        log.warning("%s: %s could not be read, written as error records", source, bad)


class _Tally:
    """A count of line numbers and the first ``MAX_WARNINGS`` of them: ``3 lines (5, 9, 12)``."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[int] = []

    def add(self, number: int) -> int:
        self.count += 1
        if self.count <= MAX_WARNINGS:
            self.first.append(number)
        return self.count

    def __str__(self) -> str:
        shown = ", ".join(map(str, self.first)) + (", ..." if self.count > MAX_WARNINGS else "")
        return f"{counted(self.count, 'line')} ({shown})"


def _cut_texts(records: Iterable[Record], source: str, max_chars: int | None) -> Iterator[Record]:
    cut = 0
    for text, fields in records:
        if max_chars is not None and isinstance(text, str) and len(text) > max_chars:
            cut += 1
            text = text[:max_chars]
        yield text, fields
    if cut:
        log.warning("%s: %s longer than %s characters were cut", source, counted(cut, "text"), f"{max_chars:,}")


def _check_input(source: str) -> None:
    path = Path(source)
    if source != "-" and not path.is_file():
        raise TextclfError(
            f"{path} is a folder: give the files in it" if path.is_dir() else f"input file not found: {path}"
        )


class Progress:
    """Texts done and texts/s on stderr.

    A tqdm counter on a terminal (when tqdm is installed), else a log line every ``PROGRESS_SECONDS``; always a
    summary line at the end.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.count, self.bar = enabled, 0, None
        self.start = self.last = time.perf_counter()
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(unit=" texts", file=sys.stderr, smoothing=0.1, dynamic_ncols=True)
            except ImportError:
                pass

    def update(self, n: int) -> None:
        """Count ``n`` more texts."""
        self.count += n
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled and now - self.last >= PROGRESS_SECONDS:
            rate = f"{self.count / (now - self.start):,.0f}"
            log.info("predicted %s (%s texts/s)", counted(self.count, "text"), rate)
            self.last = now

    def close(self, summary: bool = True) -> None:
        """Close the bar and log the summary (not after a failed run: ``summary=False``)."""
        if self.bar is not None:
            self.bar.close()
        if self.enabled and summary:
            elapsed = max(time.perf_counter() - self.start, 1e-9)
            rate = f"{self.count / elapsed:,.0f}"
            log.info("predicted %s in %.1f s (%s texts/s)", counted(self.count, "text"), elapsed, rate)


def predict_files(
    checkpoint: str,
    inputs: Sequence[str] = ("-",),
    output: str = "-",
    *,
    format: str | None = None,
    text_column: str | int = "text",
    id_column: str | int | None = None,
    keep_columns: Sequence[str | int] = (),
    header: bool = True,
    top_k: int | None = None,
    threshold: float | None = None,
    max_length: int | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = True,
) -> None:
    r"""Classify the texts of ``inputs`` with ``checkpoint`` and write one record per text to ``output``.

    This is ``textclf predict`` (its options are spelled ``--text-column`` etc. there).

    Args:
        checkpoint: a .ckpt written by ``textclf fit``.
        inputs: .csv/.tsv (``text_column``), .jsonl (the key), plain text files (a text a line, split at ``\n``
            only; empty lines are empty texts) or ``-`` (stdin); written one after the other.
        output: a .jsonl or .csv file, or ``-`` for stdout. A file is written under a temporary name in its
            folder and renamed when the run succeeds, replacing any file of that name; a failed run leaves none.
        format: ``jsonl`` or ``csv``; default: ``csv`` when ``output`` ends in .csv, else ``jsonl``.
        text_column: CSV column / JSON key holding the text.
        id_column: CSV column / JSON key of each record's id, copied into its output record; for plain text the
            output field of that name holds the 1-based line number.
        keep_columns: CSV columns / JSON keys copied into the output records.
        header: false: the CSV/TSV inputs have no header row; ``text_column``, ``id_column`` and ``keep_columns``
            are then 1-based column positions (the copied fields are named by them: ``"2"``). Other inputs are
            refused.
        top_k: write the K most probable labels and their probabilities instead of every class's probability.
        threshold: ``labels``: every label with probability >= P; ``label``: the best one, or null when none
            reaches P. Multi-label models always write ``labels``, with the checkpoint's per-label thresholds
            unless ``threshold`` replaces them.
        max_length: tokens kept per text (the first ones); default: the checkpoint's tokenizer ``max_length``,
            else :data:`DEFAULT_MAX_LENGTH`; never more than the checkpoint's, nor than :data:`MAX_TOKENS` (a
            larger checkpoint ``max_length`` is lowered to it, logged). A text is first cut to
            ``max_length * BYTES_PER_TOKEN`` bytes (plain text) or characters (tables, JSONL).
        batch_size: texts per forward pass (fewer when they would exceed :data:`BATCH_TOKENS` padded tokens).
        device: torch device, e.g. ``cpu`` or ``cuda``.
        progress: texts done and texts/s on stderr.

    Raises:
        TextclfError: an invalid option, a missing or unreadable checkpoint or input, an unwritable output, a bad
            record in a table or JSONL input, a plain-text file with a NUL byte in its first bytes (an undecodable
            plain-text line, or a later one holding a NUL byte, is an error record instead).
    """
    fmt = format or ("csv" if output.lower().endswith(".csv") else "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise TextclfError(f"--format must be jsonl or csv, got {fmt!r}")
    keep = list(keep_columns)
    for name, value in (("--top-k", top_k), ("--max-length", max_length), ("--batch-size", batch_size)):
        if value is not None and value < 1:
            raise TextclfError(f"{name} must be at least 1, got {value}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise TextclfError(f"--threshold must be a probability in [0, 1], got {threshold}")
    _check_paths(inputs, output)
    _check_columns(inputs, text_column, id_column, keep, header)  # a missing column: before the model is loaded

    from textclf.inference import encode_texts, predict_proba
    from textclf.model import TextClassifier

    model = TextClassifier.load_from_checkpoint(checkpoint, map_location=device).to(device)
    trained = model.tokenizer.max_length
    limit = min(max_length or trained or DEFAULT_MAX_LENGTH, trained or DEFAULT_MAX_LENGTH)
    if limit > MAX_TOKENS:  # a checkpoint's max_length has no upper bound; the byte bound per line must have one
        log.warning(
            "%s: max_length %s is above predict's ceiling: %s tokens a text kept",
            checkpoint,
            *[f"{n:,}" for n in (limit, MAX_TOKENS)],
        )
        limit = MAX_TOKENS
    k = None if top_k is None else min(top_k, len(model.labels))
    fields = [str(name) for name in [*([id_column] if id_column is not None else []), *keep]]
    limits = threshold if threshold is not None else model.label_thresholds()
    writer = OutputFormat(model.labels, fmt, fields, k, limits)
    counter = Progress(progress)
    done = False
    try:
        with _output_file(output) as out:
            if fmt == "csv":
                csv.writer(out).writerow(writer.header())
            for source in inputs:
                records = read_records(
                    source, text_column, id_column, keep, max_chars=limit * BYTES_PER_TOKEN, header=header
                )
                for chunk in _chunks(records):
                    probs = np.zeros((len(chunk), len(model.labels)), dtype=np.float32)
                    good = [i for i, (text, _) in enumerate(chunk) if isinstance(text, str)]
                    if good:
                        dataset = encode_texts(model, [str(chunk[i][0]) for i in good], limit)
                        probs[good] = predict_proba(model, dataset, batch_size, max_tokens=BATCH_TOKENS)
                    writer.write(out, chunk, probs)
                    counter.update(len(chunk))
        done = True
    finally:
        counter.close(summary=done)


def _chunks(records: Iterable[Record]) -> Iterator[list[Record]]:
    """Lists of at most ``CHUNK`` records; a list closes once its texts reach ``CHUNK_CHARS`` characters."""
    chunk: list[Record] = []
    chars = 0
    for record in records:
        chunk.append(record)
        chars += len(record[0]) if isinstance(record[0], str) else 0
        if len(chunk) >= CHUNK or chars >= CHUNK_CHARS:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


def _check_columns(
    inputs: Sequence[str], text_column: str | int, id_column: str | int | None, keep: Sequence[str | int], header: bool
) -> None:
    """The header option and the columns of every table input, checked from their first rows alone."""
    for source in inputs:
        fmt = "lines" if source == "-" else file_format(Path(source))
        check_header(source, fmt, header)
        if fmt in ("csv", "tsv", "parquet"):
            table_record_columns(Path(source), fmt, text_column, id_column, keep, "auto", header)


def _check_paths(inputs: Sequence[str], output: str) -> None:
    """Every input exists and none is the output (which the run would replace), before anything is loaded."""
    for source in inputs:
        _check_input(source)
        if output != "-" and source != "-" and Path(output).exists() and os.path.samefile(source, output):
            raise TextclfError(f"the output {output} is also an input: write the predictions to another file")
    if output != "-" and Path(output).is_dir():
        raise TextclfError(f"the output {output} is a folder: give a file name")


@contextmanager
def _output_file(output: str) -> Iterator[IO[str]]:
    """``output`` opened for writing, as a temporary file in its folder renamed to ``output`` on success.

    Any error deletes the temporary file, so a failed run leaves neither an empty or partial output nor a
    changed existing one. ``-`` is stdout, written as it goes.
    """
    if output == "-":
        yield sys.stdout
        return
    path = Path(output)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        handle = open(temporary, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as e:
        raise TextclfError(f"cannot write {output}: {e.strerror or e}") from None
    try:
        with handle:
            if path.is_file():
                shutil.copymode(path, temporary)  # a replaced file keeps its permissions
            yield handle
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

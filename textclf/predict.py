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

A model with a context head (``--group-column``, :mod:`textclf.predict_sequences`) classifies each text with the
texts of its group: its batch prediction holds each input's records in memory (a group can be anywhere in the
file); with ``--online`` it predicts and writes each record as it is read.
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
from dataclasses import replace
from pathlib import Path
from typing import IO

import numpy as np

from textclf.data.columns import check_header
from textclf.data.readers import file_format
from textclf.data.records import table_record_columns
from textclf.errors import TextclfError
from textclf.predict_input import check_input, read_grouped, read_records
from textclf.predict_output import OutputFormat, Record, Unreadable
from textclf.predict_sequences import check_group_options, check_model, write_batch, write_online
from textclf.wording import counted

__all__ = ["OutputFormat", "Record", "Unreadable", "predict_files", "read_records"]

log = logging.getLogger("textclf.predict")

CHUNK = 8192  # records predicted at a time
CHUNK_CHARS = 16 << 20  # ... and at most this many characters of text (a chunk closes once it reaches it)
DEFAULT_MAX_LENGTH = 10_000  # tokens kept per text when the checkpoint's tokenizer has no max_length
MAX_TOKENS = 100_000  # tokens kept per text at most, whatever the checkpoint's max_length (bounds bytes per line)
BYTES_PER_TOKEN = 64  # a text is cut to max_length * BYTES_PER_TOKEN bytes (characters) before tokenising
BATCH_TOKENS = 1 << 17  # padded tokens per forward pass at most (256 texts of 512 tokens)
PROGRESS_SECONDS = 10.0


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
    group_column: str | int | None = None,
    order_column: str | int | None = None,
    online: bool = False,
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
        group_column: for a model with a context head (and only for one): the CSV column / JSON key naming each
            text's group (conversation, document); each text is classified with the texts of its group around it.
            A group lives in one input. Required for table and JSONL inputs; a plain-text input (or stdin) is one
            group in line order. The records of each input are held in memory (a group may be anywhere in it).
        order_column: with ``group_column``: the column / key of each text's position in its group (numbers;
            default the input order; ties keep it).
        online: with a causal context head: predict and write (flush) each record as soon as it is read, with the
            texts of its group read before it (the input must be in order within each group; no ``order_column``).
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
            plain-text line, or a later one holding a NUL byte, is an error record instead); the group options
            refused for the model (see :func:`textclf.predict_sequences.check_model`), an empty group cell or an
            order cell that is no number (naming the file, row and column).
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
    check_group_options(inputs, group_column, order_column, online, header)

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
    grouped = check_model(model, checkpoint, inputs, group_column, online)
    if grouped:  # predict_groups and OnlinePredictor tokenise with the model's tokenizer: it keeps `limit` tokens
        model.tokenizer = replace(model.tokenizer, max_length=limit)
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
                if grouped:
                    columns = (text_column, group_column, order_column, id_column, keep)
                    rows = read_grouped(source, *columns, max_chars=limit * BYTES_PER_TOKEN, header=header)
                    if online:
                        write_online(model, rows, writer, out, counter.update)
                    else:
                        write_batch(model, rows, writer, out, batch_size, counter.update)
                    continue
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
        check_input(source)
        if output != "-" and source != "-" and Path(output).exists() and os.path.samefile(source, output):
            raise TextclfError(f"the output {output} is also an input: write the predictions to another file")
    if output != "-" and Path(output).is_dir():
        raise TextclfError(f"the output {output} is a folder: give a file name")


@contextmanager
def _output_file(output: str) -> Iterator[IO[str]]:
    """``output`` opened for writing, as a temporary file in its folder renamed to ``output`` on success.

    Any error deletes the temporary file, so a failed run leaves neither an empty or partial output nor a
    changed existing one. ``-`` is stdout, written as it goes; so is an existing device or named pipe
    (``/dev/null``, a FIFO), which a rename would replace with a regular file.
    """
    if output == "-":
        yield sys.stdout
        return
    path = Path(output)
    if path.exists() and not path.is_file() and not path.is_dir():  # a device or a FIFO: written in place
        with open(path, "w", encoding="utf-8", newline="") as stream:
            yield stream
        return
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

"""``textclf predict``: classify texts from files or stdin with a checkpoint, streaming in chunks.

Memory stays constant whatever the input size: records are read lazily, ``CHUNK`` texts at a time are
predicted (in batches of ``--batch-size``) and written out before the next chunk is read. Output records keep
the input order; ``--id-column`` and ``--keep-columns`` copy input fields into them.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

import numpy as np

from textclf.data.readers import iter_records
from textclf.errors import TextclfError

log = logging.getLogger("textclf.predict")

CHUNK = 8192
PROGRESS_SECONDS = 10.0
Record = tuple[str, dict[str, Any]]  # (text, fields copied from the input: the id and the kept columns)


def read_records(
    source: str, text_column: str = "text", id_column: str | None = None, keep_columns: Sequence[str] = ()
) -> Iterator[Record]:
    """Stream ``(text, fields)`` from a CSV, TSV, JSONL, Parquet or plain text file, or ``-`` (stdin).

    Read as training reads its files: see :func:`textclf.data.readers.iter_records`.
    """
    return iter_records(source, text_column, id_column, keep_columns)


@dataclass
class OutputFormat:
    """What each output record holds (see :func:`predict_files` for the options)."""

    labels: list[str]
    fmt: str = "jsonl"
    input_fields: Sequence[str] = ()
    top_k: int | None = None
    threshold: float | np.ndarray | None = None  # one for all labels, or (num_labels,) (multi-label models)

    def __post_init__(self) -> None:
        reserved = {"text", "label", "labels", "probs", "top_k"}
        reserved |= {f"prob_{name}" for name in self.labels} if self.top_k is None else set()
        reserved |= {f"top{i}_{s}" for i in range(1, (self.top_k or 0) + 1) for s in ("label", "prob")}
        # an input field named like an output field (e.g. a gold "label" column) is written as input_<name>
        self.renamed = {name: f"input_{name}" if name in reserved else name for name in self.input_fields}

    def header(self) -> list[str]:
        """The CSV header."""
        header = [*self.renamed.values(), "text", "label"]
        if self.threshold is not None:
            header.append("labels")
        if self.top_k is not None:
            return header + [f"top{i}_{s}" for i in range(1, self.top_k + 1) for s in ("label", "prob")]
        return header + [f"prob_{name}" for name in self.labels]

    def write(self, out: IO[str], records: list[Record], probs: np.ndarray) -> None:
        """Write one output record per input record, in order."""
        best = probs.argmax(axis=1)
        order = np.argsort(-probs, axis=1, kind="stable")
        writer = csv.writer(out) if self.fmt == "csv" else None
        lines = []
        limits = None if self.threshold is None else np.broadcast_to(self.threshold, (len(self.labels),))
        for (text, fields), row, top, ranked in zip(records, probs, best, order, strict=True):
            label: str | None = self.labels[top]
            record: dict[str, Any] = {self.renamed[name]: value for name, value in fields.items()}
            record["text"] = text
            if limits is not None:
                above = [self.labels[i] for i in ranked if row[i] >= limits[i]]
                label = above[0] if above else None  # the most probable label that passes its threshold
                record["label"], record["labels"] = label, above
            else:
                record["label"] = label
            if self.top_k is not None:
                record["top_k"] = [
                    {"label": self.labels[i], "prob": round(float(row[i]), 6)} for i in ranked[: self.top_k]
                ]
            else:
                record["probs"] = {name: round(float(p), 6) for name, p in zip(self.labels, row, strict=True)}
            if writer is None:
                lines.append(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                writer.writerow(self._csv_row(record))
        out.writelines(lines)

    def _csv_row(self, record: dict[str, Any]) -> list[Any]:
        row = [*(record[name] for name in self.renamed.values()), record["text"], record["label"] or ""]
        if self.threshold is not None:
            row.append("|".join(record["labels"]))
        if self.top_k is not None:
            return row + [v for pair in record["top_k"] for v in (pair["label"], f"{pair['prob']:.6f}")]
        return row + [f"{p:.6f}" for p in record["probs"].values()]


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
            log.info("predicted %s texts (%s texts/s)", f"{self.count:,}", f"{self.count / (now - self.start):,.0f}")
            self.last = now

    def close(self) -> None:
        """Close the bar and log the summary."""
        if self.bar is not None:
            self.bar.close()
        if self.enabled:
            elapsed = max(time.perf_counter() - self.start, 1e-9)
            rate = f"{self.count / elapsed:,.0f}"
            log.info("predicted %s texts in %.1f s (%s texts/s)", f"{self.count:,}", elapsed, rate)


def predict_files(
    checkpoint: str,
    inputs: Sequence[str] = ("-",),
    output: str = "-",
    *,
    format: str | None = None,
    text_column: str = "text",
    id_column: str | None = None,
    keep_columns: Sequence[str] = (),
    top_k: int | None = None,
    threshold: float | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = True,
) -> None:
    """Classify the texts of ``inputs`` with ``checkpoint`` and write one record per text to ``output``.

    This is ``textclf predict`` (its options are spelled ``--text-column`` etc. there).

    Args:
        checkpoint: a .ckpt written by ``textclf fit``.
        inputs: .csv/.tsv (``text_column``), .jsonl (the key), plain text files (a text a line) or ``-`` (stdin);
            written one after the other.
        output: a .jsonl or .csv file, or ``-`` for stdout.
        format: ``jsonl`` or ``csv``; default: ``csv`` when ``output`` ends in .csv, else ``jsonl``.
        text_column: CSV column / JSON key holding the text.
        id_column: CSV column / JSON key of each record's id, copied into its output record; for plain text the
            output field of that name holds the 1-based line number.
        keep_columns: CSV columns / JSON keys copied into the output records.
        top_k: write the K most probable labels and their probabilities instead of every class's probability.
        threshold: ``labels``: every label with probability >= P; ``label``: the best one, or null when none
            reaches P. Multi-label models always write ``labels``, with the checkpoint's per-label thresholds
            unless ``threshold`` replaces them.
        batch_size: texts per forward pass.
        device: torch device, e.g. ``cpu`` or ``cuda``.
        progress: texts done and texts/s on stderr.

    Raises:
        TextclfError: an invalid option, a missing or unreadable checkpoint or input.
    """
    fmt = format or ("csv" if output.lower().endswith(".csv") else "jsonl")
    if fmt not in ("jsonl", "csv"):
        raise TextclfError(f"--format must be jsonl or csv, got {fmt!r}")
    keep = list(keep_columns)
    if top_k is not None and top_k < 1:
        raise TextclfError(f"--top-k must be at least 1, got {top_k}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise TextclfError(f"--threshold must be a probability in [0, 1], got {threshold}")
    if batch_size < 1:
        raise TextclfError(f"--batch-size must be at least 1, got {batch_size}")

    from textclf.model import TextClassifier

    model = TextClassifier.load_from_checkpoint(checkpoint, map_location=device).to(device)
    k = None if top_k is None else min(top_k, len(model.labels))
    fields = [*([id_column] if id_column else []), *keep]
    limits = threshold if threshold is not None else model.label_thresholds()
    writer = OutputFormat(model.labels, fmt, fields, k, limits)
    counter = Progress(progress)
    out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        if fmt == "csv":
            csv.writer(out).writerow(writer.header())
        for source in inputs:
            records = read_records(source, text_column, id_column, keep)
            while chunk := list(islice(records, CHUNK)):
                probs = model.predict_proba([text for text, _ in chunk], batch_size=batch_size)
                writer.write(out, chunk, probs)
                counter.update(len(chunk))
    finally:
        counter.close()
        if out is not sys.stdout:
            out.close()

"""``textclf predict``: classify texts from files or stdin with a checkpoint, streaming in chunks.

Memory stays constant whatever the input size: records are read lazily, ``CHUNK`` texts at a time are
predicted (in batches of ``--batch-size``) and written out before the next chunk is read. Output records keep
the input order; ``--id-column`` and ``--keep-columns`` copy input fields into them.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np

from textclf.errors import TextclfError

log = logging.getLogger("textclf.predict")

CHUNK = 8192
PROGRESS_SECONDS = 10.0
Record = tuple[str, dict[str, Any]]  # (text, fields copied from the input: the id and the kept columns)


def read_records(
    source: str, text_column: str = "text", id_column: str | None = None, keep_columns: Sequence[str] = ()
) -> Iterator[Record]:
    """Stream ``(text, fields)`` from ``.csv``/``.tsv`` (columns), ``.jsonl`` (keys), plain files or ``-`` (stdin).

    Plain text has a text a line; its id (when ``id_column`` is set) is the 1-based line number, and it has no
    other columns to keep. A JSONL record without the id key is an error; one without a kept key gets null.
    """
    if source == "-" or Path(source).suffix.lower() not in (".csv", ".tsv", ".jsonl", ".json"):
        if keep_columns:
            raise TextclfError(f"{source}: --keep-columns needs CSV, TSV or JSONL input, not plain text")
        if source == "-":
            yield from _plain(sys.stdin, id_column)
            return
    path = Path(source)
    if not path.is_file():
        raise TextclfError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            columns = reader.fieldnames or []
            for name, what in ((text_column, "text"), (id_column, "id"), *((k, "kept") for k in keep_columns)):
                if name is not None and name not in columns:
                    raise TextclfError(f"{path}: no {what} column {name!r} (columns: {', '.join(columns)})")
            wanted = [*([id_column] if id_column else []), *keep_columns]
            for row in reader:
                yield row[text_column] or "", {name: row[name] for name in wanted}
        elif suffix in (".jsonl", ".json"):
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield _json_record(line, path, number, text_column, id_column, keep_columns)
        else:
            yield from _plain(handle, id_column)


def _plain(lines: IO[str], id_column: str | None) -> Iterator[Record]:
    for number, line in enumerate(lines, start=1):
        yield line.rstrip("\r\n"), ({id_column: number} if id_column else {})


def _json_record(line: str, path: Path, number: int, key: str, id_key: str | None, keep: Sequence[str]) -> Record:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise TextclfError(f"{path}, line {number}: invalid JSON ({e.msg})") from None
    if not isinstance(record, dict) or key not in record:
        raise TextclfError(f"{path}, line {number}: no key {key!r}")
    if id_key is not None and id_key not in record:
        raise TextclfError(f"{path}, line {number}: no id key {id_key!r}")
    fields = {id_key: record[id_key]} if id_key is not None else {}
    fields.update((name, record.get(name)) for name in keep)
    return str(record[key]), fields


@dataclass
class OutputFormat:
    """What each output record holds (see :func:`predict_command` for the options)."""

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


def predict_command(argv: list[str]) -> None:
    """Parse ``textclf predict`` arguments and run it."""
    parser = argparse.ArgumentParser(
        prog="textclf predict",
        description="Classify texts with a trained checkpoint. Inputs: .csv/.tsv (text column), .jsonl (text key), "
        "plain text files (one text per line) or - for stdin (the default). Streams: memory stays constant. "
        "Output records follow the input order.",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by textclf fit")
    parser.add_argument("inputs", nargs="*", default=["-"], help="input files, or - for stdin")
    parser.add_argument("-o", "--output", default="-", help="output file (.jsonl or .csv), or - for stdout")
    parser.add_argument("--format", choices=["jsonl", "csv"], help="output format (default: from --output, else jsonl)")
    parser.add_argument("--text-column", default="text", help="CSV column / JSON key holding the text")
    parser.add_argument(
        "--id-column",
        help="CSV column / JSON key of each record's id, copied into its output record; for plain text the output "
        "field of that name holds the line number",
    )
    parser.add_argument(
        "--keep-columns", default="", help="comma-separated CSV columns / JSON keys copied into the output records"
    )
    parser.add_argument(
        "--top-k",
        type=int,
        help="write the K most probable labels and their probabilities "
        "(field top_k, CSV columns topI_label/topI_prob) instead of every class's probability",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        help="labels: every label with probability >= P; label: the best "
        "one, or null (empty in CSV) when none reaches P. Multi-label models always write labels, with the "
        "checkpoint's per-label thresholds unless --threshold replaces them",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    fmt = args.format or ("csv" if args.output.lower().endswith(".csv") else "jsonl")
    keep = [name.strip() for name in args.keep_columns.split(",") if name.strip()]
    if args.top_k is not None and args.top_k < 1:
        raise TextclfError(f"--top-k must be at least 1, got {args.top_k}")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise TextclfError(f"--threshold must be a probability in [0, 1], got {args.threshold}")
    if args.batch_size < 1:
        raise TextclfError(f"--batch-size must be at least 1, got {args.batch_size}")

    from textclf.model import TextClassifier

    model = TextClassifier.load_from_checkpoint(args.checkpoint, map_location=args.device).to(args.device)
    top_k = None if args.top_k is None else min(args.top_k, len(model.labels))
    fields = [*([args.id_column] if args.id_column else []), *keep]
    threshold = args.threshold if args.threshold is not None else model.label_thresholds()
    output = OutputFormat(model.labels, fmt, fields, top_k, threshold)
    progress = Progress(not args.no_progress)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        if fmt == "csv":
            csv.writer(out).writerow(output.header())
        for source in args.inputs:
            records = read_records(source, args.text_column, args.id_column, keep)
            while chunk := list(islice(records, CHUNK)):
                probs = model.predict_proba([text for text, _ in chunk], batch_size=args.batch_size)
                output.write(out, chunk, probs)
                progress.update(len(chunk))
    finally:
        progress.close()
        if out is not sys.stdout:
            out.close()

"""``textclf predict``: classify texts from files or stdin with a checkpoint, streaming in chunks."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO

from textclf.errors import TextclfError

CHUNK = 8192


def read_texts(source: str, text_column: str) -> Iterator[str]:
    """Texts from ``.csv``/``.tsv`` (column ``text_column``), ``.jsonl`` (key), plain files (a text a line) or ``-``."""
    if source == "-":
        yield from (line.rstrip("\r\n") for line in sys.stdin)
        return
    path = Path(source)
    if not path.is_file():
        raise TextclfError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            if text_column not in (reader.fieldnames or []):
                raise TextclfError(f"{path}: no column {text_column!r} (columns: {', '.join(reader.fieldnames or [])})")
            yield from (row[text_column] or "" for row in reader)
        elif suffix in (".jsonl", ".json"):
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield _json_text(line, path, number, text_column)
        else:
            yield from (line.rstrip("\r\n") for line in handle)


def _json_text(line: str, path: Path, number: int, key: str) -> str:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise TextclfError(f"{path}, line {number}: invalid JSON ({e.msg})") from None
    if not isinstance(record, dict) or key not in record:
        raise TextclfError(f"{path}, line {number}: no key {key!r}")
    return str(record[key])


def write_predictions(
    out: IO[str], fmt: str, texts: list[str], labels: list[str], probs: Iterable[Iterable[float]], names: list[str]
) -> None:
    """Write one record per text: the text, its label and every class's probability."""
    if fmt == "jsonl":
        for text, label, row in zip(texts, labels, probs, strict=True):
            scores = {name: round(float(p), 6) for name, p in zip(names, row, strict=True)}
            record = {"text": text, "label": label, "probs": scores}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        writer = csv.writer(out)
        for text, label, row in zip(texts, labels, probs, strict=True):
            writer.writerow([text, label, *(f"{float(p):.6f}" for p in row)])


def predict_command(argv: list[str]) -> None:
    """Parse ``textclf predict`` arguments and run it."""
    parser = argparse.ArgumentParser(
        prog="textclf predict",
        description="Classify texts with a trained checkpoint. Inputs: .csv/.tsv (text column), .jsonl (text key), "
        "plain text files (one text per line) or - for stdin (the default).",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by textclf fit")
    parser.add_argument("inputs", nargs="*", default=["-"], help="input files, or - for stdin")
    parser.add_argument("-o", "--output", default="-", help="output file (.jsonl or .csv), or - for stdout")
    parser.add_argument("--format", choices=["jsonl", "csv"], help="output format (default: from --output, else jsonl)")
    parser.add_argument("--text-column", default="text", help="CSV column / JSON key holding the text")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    args = parser.parse_args(argv)
    fmt = args.format or ("csv" if args.output.lower().endswith(".csv") else "jsonl")

    from textclf.model import TextClassifier

    model = TextClassifier.load_from_checkpoint(args.checkpoint, map_location=args.device).to(args.device)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
    try:
        if fmt == "csv":
            csv.writer(out).writerow(["text", "label", *(f"prob_{name}" for name in model.labels)])
        for source in args.inputs:
            texts = read_texts(source, args.text_column)
            while chunk := list(islice(texts, CHUNK)):
                probs = model.predict_proba(chunk, batch_size=args.batch_size)
                labels = [model.labels[i] for i in probs.argmax(axis=1)]
                write_predictions(out, fmt, chunk, labels, probs, model.labels)
    finally:
        if out is not sys.stdout:
            out.close()

"""What ``textclf predict`` writes: one JSONL record or CSV row per input record, error records included."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

import numpy as np


@dataclass(frozen=True)
class Unreadable:
    """The text of a record that could not be read (a line not valid in the file's encoding): ``error`` says why."""

    error: str


Record = tuple["str | Unreadable", dict[str, Any]]  # (text, fields copied from the input: the id and kept columns)


@dataclass
class OutputFormat:
    """What each output record holds (see :func:`predict_files` for the options)."""

    labels: list[str]
    fmt: str = "jsonl"
    input_fields: Sequence[str] = ()
    top_k: int | None = None
    threshold: float | np.ndarray | None = None  # one for all labels, or (num_labels,) (multi-label models)

    def __post_init__(self) -> None:
        reserved = {"text", "label", "labels", "probs", "top_k", "error"}
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
            header += [f"top{i}_{s}" for i in range(1, self.top_k + 1) for s in ("label", "prob")]
        else:
            header += [f"prob_{name}" for name in self.labels]
        return [*header, "error"]

    def write(self, out: IO[str], records: list[Record], probs: np.ndarray) -> None:
        """Write one output record per input record, in order; ``probs`` ``(len(records), num_labels)``.

        The record of an :class:`Unreadable` text (its row of ``probs`` is ignored) holds the input fields,
        ``error`` and null text, label and probabilities (empty CSV cells); other JSONL records have no
        ``error`` key, other CSV rows an empty ``error`` cell.
        """
        best = probs.argmax(axis=1)
        order = np.argsort(-probs, axis=1, kind="stable")
        writer = csv.writer(out) if self.fmt == "csv" else None
        lines = []
        limits = None if self.threshold is None else np.broadcast_to(self.threshold, (len(self.labels),))
        for (text, fields), row, top, ranked in zip(records, probs, best, order, strict=True):
            record: dict[str, Any] = {self.renamed[name]: value for name, value in fields.items()}
            if isinstance(text, Unreadable):
                record.update(text=None, label=None)
                record.update({"labels": None} if limits is not None else {})
                record.update({"top_k" if self.top_k is not None else "probs": None, "error": text.error})
            else:
                record.update(text=text, **self._prediction(row, int(top), ranked, limits))
            if writer is None:
                lines.append(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                writer.writerow(self._csv_row(record))
        out.writelines(lines)

    def _prediction(self, row: np.ndarray, top: int, ranked: np.ndarray, limits: np.ndarray | None) -> dict[str, Any]:
        record: dict[str, Any] = {"label": self.labels[top]}
        if limits is not None:
            above = [self.labels[i] for i in ranked if row[i] >= limits[i]]
            record["label"], record["labels"] = (above[0] if above else None), above  # the best label that passes
        if self.top_k is not None:
            record["top_k"] = [{"label": self.labels[i], "prob": round(float(row[i]), 6)} for i in ranked[: self.top_k]]
        else:
            record["probs"] = {name: round(float(p), 6) for name, p in zip(self.labels, row, strict=True)}
        return record

    def _csv_row(self, record: dict[str, Any]) -> list[Any]:
        row = [*(record[name] for name in self.renamed.values()), record["text"], record["label"] or ""]
        if self.threshold is not None:
            row.append("|".join(record["labels"] or ()))
        width = 2 * self.top_k if self.top_k is not None else len(self.labels)
        if "error" in record:
            return [*row, *[""] * width, record["error"]]
        if self.top_k is not None:
            return [*row, *(v for pair in record["top_k"] for v in (pair["label"], f"{pair['prob']:.6f}")), ""]
        return [*row, *(f"{p:.6f}" for p in record["probs"].values()), ""]

"""The evaluation report: scores, per-class table, confusion matrix (CSV and PNG) and misclassified examples.

Written after ``textclf fit`` and ``textclf test`` (for the test split) and by ``textclf evaluate`` (for any
labelled file), from the probabilities of :func:`textclf.inference.predict_proba`. Every score comes from the
model's task (:mod:`textclf.tasks`, torchmetrics), under the names the training logs use: ``metrics.json`` of a
single-label model holds ``acc``, ``f1_macro``, ``f1_weighted``, ``loss`` and ``n``.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textclf.errors import TextclfError
from textclf.tasks import Task
from textclf.wording import counted

log = logging.getLogger(__name__)


def write_report(
    directory: str | Path,
    task: Task,
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    texts: Iterable[str] | None = None,
    extra: dict[str, Any] | None = None,
    thresholds: np.ndarray | None = None,
    indices: np.ndarray | None = None,
) -> Path:
    """Write the report files into ``directory`` (created); returns it.

    Args:
        directory: the folder that receives ``metrics.json``, ``per_class.csv``, ``confusion_matrix.csv``,
            ``confusion_matrix.png`` (when matplotlib is installed; single-label only) and ``misclassified.jsonl``.
        task: the model's task (its labels name the classes).
        y_true: true class index of every example, or ``(n, num_labels)`` 0/1 rows (multi-label).
        y_prob: ``(n, num_labels)`` predicted probabilities, rows aligned with ``y_true``.
        texts: the texts in the same order, streamed (None: misclassified records carry no text).
        extra: more entries for ``metrics.json`` (e.g. the checkpoint).
        thresholds: ``(num_labels,)`` decision thresholds of a multi-label model.
        indices: ``(n,)`` increasing positions of the examples in ``texts`` and in the split (a report on part
            of a split: the tested batches); ``texts`` then streams the whole split, and misclassified records
            carry these positions as their ``index``. None: example ``i`` is text ``i``.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise TextclfError(f"report folder {directory} is a file, not a folder")
    directory.mkdir(parents=True, exist_ok=True)
    labels = task.labels
    prob = torch.as_tensor(np.asarray(y_prob, dtype=np.float32))
    true = task.as_targets(y_true)
    limits = None if thresholds is None else torch.as_tensor(np.asarray(thresholds, dtype=np.float32))
    metrics: dict[str, Any] = task.scores(prob, true, limits)
    if limits is not None:
        metrics["thresholds"] = {label: round(float(t), 6) for label, t in zip(labels, limits, strict=True)}
    (directory / "metrics.json").write_text(json.dumps({**metrics, **(extra or {})}, indent=2) + "\n")
    scores = task.per_label(prob, true, limits)
    with (directory / "per_class.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["label", "precision", "recall", "f1", "support", *(["threshold"] if limits is not None else [])]
        )
        for i, label in enumerate(labels):
            row = [
                label,
                *(f"{scores[key][i]:.4f}" for key in ("precision", "recall", "f1")),
                int(scores["support"][i]),
            ]
            writer.writerow(row + ([f"{float(limits[i]):.4f}"] if limits is not None else []))
    with (directory / "confusion_matrix.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(task.confusion_header())
        writer.writerows([label, *map(int, row)] for label, row in zip(labels, scores["confusion"], strict=True))
    predicted = task.decide(prob.numpy(), None if limits is None else limits.numpy())
    truth = task.names(true)
    wrong = np.flatnonzero([task.differ(p, t) for p, t in zip(predicted, truth, strict=True)])
    if indices is not None and texts is not None:
        texts = _select(texts, indices)
    _write_misclassified(
        directory / "misclassified.jsonl", wrong, truth, predicted, prob.numpy(), labels, texts, indices
    )
    if task.plots_confusion:
        plot_confusion_matrix(scores["confusion"], labels, directory / "confusion_matrix.png")
    return directory


def _write_misclassified(
    path: Path,
    wrong: np.ndarray,
    true: Sequence[Any],
    predicted: Sequence[Any],
    prob: np.ndarray,
    labels: list[str],
    texts: Iterable[str] | None,
    positions: np.ndarray | None = None,
) -> None:
    """One JSON record per wrong prediction (indices ``wrong``), in test-split order; ``texts`` is streamed once.

    ``positions`` (optional) maps row ``i`` to the example number written as its ``index``.
    """
    stream = iter(texts) if texts is not None else None
    position = 0
    with path.open("w", encoding="utf-8") as handle:
        for index in wrong.tolist():
            text = None
            if stream is not None:
                for _ in range(index - position):
                    next(stream)
                text, position = next(stream), index + 1
            record = {
                "index": index if positions is None else int(positions[index]),
                "text": text,
                "true": true[index],
                "predicted": predicted[index],
                "probs": {label: round(float(p), 6) for label, p in zip(labels, prob[index], strict=True)},
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _select(texts: Iterable[str], indices: np.ndarray) -> Iterator[str]:
    """The texts at the increasing positions ``indices`` of the stream ``texts``."""
    wanted = iter(indices.tolist())
    target = next(wanted, None)
    for position, text in enumerate(texts):
        if target is None:
            return
        if position == target:
            yield text
            target = next(wanted, None)


def plot_confusion_matrix(matrix: np.ndarray, labels: Sequence[str], path: str | Path) -> bool:
    """Draw the confusion matrix into a PNG; returns False (and logs how to get it) without matplotlib.

    Cells show counts; their colour is the fraction of the true class (the row), so that small classes read
    as clearly as large ones. Counts are written in the cells up to 30 classes.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("no confusion_matrix.png: matplotlib is not installed (pip install textclf[report] adds the plot)")
        return False
    n = len(labels)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    size = min(4 + 0.45 * n, 24)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class (row)")
    ax.set_xticks(range(n), labels=list(labels), rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), labels=list(labels))
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(f"Confusion matrix ({counted(int(matrix.sum()), 'example')})")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=colour, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True

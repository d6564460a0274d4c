"""The evaluation report: scores, per-class table, confusion matrix (CSV and PNG) and misclassified examples.

Everything is computed from collected predictions, by pure functions over ``y_true`` (class indices, or
``(n, num_labels)`` multi-hot rows for multi-label models), ``y_prob`` (``(n, num_classes)`` probabilities) and
the label names; :func:`write_report` writes the files.

How the test predictions are collected (:func:`collect_predictions`): after ``trainer.test``, the process of
rank 0 runs the restored model once more over the prepared test split, batch by batch, on the trainer's device
and under its precision, and keeps ``(index, probabilities)``. The alternatives were slower or more fragile:
accumulating in ``test_step`` would hold state in the model and, under DDP, need a gather of uneven, padded
shards; ``trainer.predict`` would re-shard the same way. One extra forward pass over the test split, after
training, costs seconds and leaves training and the test loop untouched.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from textclf.data.batching import BucketBatchSampler, TokenIdsDataset
from textclf.multilabel import multilabel_scores

if TYPE_CHECKING:
    import lightning as L

    from textclf.model import TextClassifier

log = logging.getLogger(__name__)


# ---- pure functions ------------------------------------------------------------------------------------------


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_classes: int) -> Any:
    """``(num_classes, num_classes)`` counts: row = true class, column = predicted class."""
    true, pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(true * num_classes + pred, minlength=num_classes * num_classes).reshape(num_classes, -1)


def per_class_scores(matrix: np.ndarray) -> dict[str, Any]:
    """Precision, recall, F1 (0 where undefined) and support of every class, from a confusion matrix."""
    tp = np.diag(matrix).astype(np.float64)
    predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def summary_scores(y_true: Sequence[int] | np.ndarray, y_prob: np.ndarray) -> dict[str, float | int]:
    """Accuracy, macro-/micro-/weighted-F1, loss and n of single-label predictions (the argmax of ``y_prob``).

    Macro-F1 averages over the classes that occur in ``y_true`` or in the predictions (as torchmetrics'
    ``MulticlassF1Score`` does); weighted-F1 weights each class by its support; micro-F1 equals accuracy for
    single-label data. ``loss`` is the mean cross-entropy of the true class (without class weights).
    """
    true = np.asarray(y_true, dtype=np.int64)
    prob = np.asarray(y_prob, dtype=np.float64)
    n, num_classes = prob.shape
    if n == 0:
        raise ValueError("no predictions to score")
    matrix = confusion_matrix(true, prob.argmax(axis=1), num_classes)
    scores = per_class_scores(matrix)
    tp = np.diag(matrix)
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    # every example has one true and one predicted class: micro precision = micro recall = micro-F1 = accuracy
    micro_f1 = tp.sum() / n
    true_prob = np.clip(prob[np.arange(n), true], 1e-12, None)
    return {
        "accuracy": float(tp.sum() / n),
        "macro_f1": float(scores["f1"][present].mean()),
        "micro_f1": float(micro_f1),
        "weighted_f1": float((scores["f1"] * scores["support"]).sum() / n),
        "loss": float(-np.log(true_prob).mean()),
        "n": int(n),
    }


# ---- writing -------------------------------------------------------------------------------------------------


def multilabel_report_scores(y_true: np.ndarray, y_prob: np.ndarray, thresholds: np.ndarray) -> dict[str, Any]:
    """Subset accuracy, micro-/macro-F1, micro precision/recall, Hamming loss, loss and n of multi-label predictions.

    y_true: (n, num_labels) 0/1; y_prob: (n, num_labels) sigmoid outputs; thresholds: (num_labels,). ``loss`` is the
    mean binary cross-entropy over examples and labels (without class weights).
    """
    true, prob = torch.as_tensor(y_true, dtype=torch.float32), torch.as_tensor(y_prob, dtype=torch.float32)
    scores = {k: float(v) for k, v in multilabel_scores(prob, true, torch.as_tensor(thresholds)).items()}
    predicted, truth = prob >= torch.as_tensor(thresholds), true > 0.5
    tp = float((predicted & truth).sum())
    loss = torch.nn.functional.binary_cross_entropy(prob.clamp(1e-7, 1 - 1e-7), true)
    return {
        "accuracy": scores["acc"],  # subset accuracy: the predicted set is exactly the true set
        "micro_f1": scores["f1_micro"],
        "macro_f1": scores["f1_macro"],
        "micro_precision": tp / max(float(predicted.sum()), 1.0),
        "micro_recall": tp / max(float(truth.sum()), 1.0),
        "hamming_loss": scores["hamming_loss"],
        "loss": float(loss),
        "n": int(true.shape[0]),
    }


def multilabel_confusion(y_true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(num_labels, 4) counts of every label: true positives, false positives, false negatives, true negatives."""
    truth, pred = np.asarray(y_true) > 0.5, np.asarray(predicted, dtype=bool)
    return np.stack([(pred & truth).sum(0), (pred & ~truth).sum(0), (~pred & truth).sum(0), (~pred & ~truth).sum(0)], 1)


def write_report(
    directory: str | Path,
    y_true: Sequence[int] | np.ndarray,
    y_prob: np.ndarray,
    labels: Sequence[str],
    texts: Iterable[str] | None = None,
    extra: dict[str, Any] | None = None,
    thresholds: np.ndarray | None = None,
) -> Path:
    """Write the report files into ``directory`` (created); returns it.

    Args:
        directory: the folder that receives ``metrics.json``, ``per_class.csv``, ``confusion_matrix.csv``,
            ``confusion_matrix.png`` (when matplotlib is installed; single-label only) and ``misclassified.jsonl``.
        y_true: true class index of every test example, or ``(n, num_labels)`` 0/1 rows (multi-label).
        y_prob: ``(n, num_classes)`` predicted probabilities, rows aligned with ``y_true``.
        labels: class names in index order.
        texts: the test texts in the same order, streamed (None: misclassified records carry no text).
        extra: more entries for ``metrics.json`` (e.g. the checkpoint).
        thresholds: ``(num_labels,)`` decision thresholds of a multi-label model (None: single-label).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    labels = [str(label) for label in labels]
    prob = np.asarray(y_prob, dtype=np.float64)
    if thresholds is not None:
        _write_multilabel(directory, np.asarray(y_true), prob, np.asarray(thresholds), labels, texts, extra)
        return directory
    true = np.asarray(y_true, dtype=np.int64)
    pred = prob.argmax(axis=1)
    matrix = confusion_matrix(true, pred, len(labels))
    scores = per_class_scores(matrix)

    metrics = {**summary_scores(true, prob), **(extra or {})}
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with (directory / "per_class.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "precision", "recall", "f1", "support"])
        for i, label in enumerate(labels):
            p, r, f = (f"{scores[key][i]:.4f}" for key in ("precision", "recall", "f1"))
            writer.writerow([label, p, r, f, int(scores["support"][i])])
    with (directory / "confusion_matrix.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["true \\ predicted", *labels])
        writer.writerows([label, *map(int, row)] for label, row in zip(labels, matrix, strict=True))
    wrong = np.flatnonzero(pred != true)
    true_names, predicted_names = [labels[i] for i in true], [labels[i] for i in pred]
    _write_misclassified(directory / "misclassified.jsonl", wrong, true_names, predicted_names, prob, labels, texts)
    plot_confusion_matrix(matrix, labels, directory / "confusion_matrix.png")
    return directory


def _write_multilabel(
    directory: Path,
    true: np.ndarray,
    prob: np.ndarray,
    thresholds: np.ndarray,
    labels: list[str],
    texts: Iterable[str] | None,
    extra: dict[str, Any] | None,
) -> None:
    """The multi-label report: per-label counts replace the confusion matrix (no plot)."""
    predicted = prob >= thresholds
    metrics = multilabel_report_scores(true, prob, thresholds)
    metrics["thresholds"] = {label: round(float(t), 6) for label, t in zip(labels, thresholds, strict=True)}
    (directory / "metrics.json").write_text(json.dumps({**metrics, **(extra or {})}, indent=2) + "\n")
    counts = multilabel_confusion(true, predicted)
    tp, fp, fn = (counts[:, k].astype(np.float64) for k in range(3))
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
    f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=2 * tp + fp + fn > 0)
    with (directory / "per_class.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "precision", "recall", "f1", "support", "threshold"])
        for i, label in enumerate(labels):
            scores = (f"{v:.4f}" for v in (precision[i], recall[i], f1[i]))
            writer.writerow([label, *scores, int(tp[i] + fn[i]), f"{thresholds[i]:.4f}"])
    with (directory / "confusion_matrix.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "true_positives", "false_positives", "false_negatives", "true_negatives"])
        writer.writerows([label, *map(int, row)] for label, row in zip(labels, counts, strict=True))
    wrong = np.flatnonzero((predicted != (true > 0.5)).any(axis=1))
    true_sets, predicted_sets = (
        [[labels[j] for j in np.flatnonzero(row)] for row in rows] for rows in (true > 0.5, predicted)
    )
    _write_misclassified(directory / "misclassified.jsonl", wrong, true_sets, predicted_sets, prob, labels, texts)


def _write_misclassified(
    path: Path,
    wrong: np.ndarray,
    true: Sequence[Any],
    predicted: Sequence[Any],
    prob: np.ndarray,
    labels: list[str],
    texts: Iterable[str] | None,
) -> None:
    """One JSON record per wrong prediction (indices ``wrong``), in test-split order; ``texts`` is streamed once."""
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
                "index": index,
                "text": text,
                "true": true[index],
                "predicted": predicted[index],
                "probs": {label: round(float(p), 6) for label, p in zip(labels, prob[index], strict=True)},
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


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
    ax.set_title(f"Confusion matrix ({int(matrix.sum())} examples)")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=colour, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ---- collecting the predictions ------------------------------------------------------------------------------


@torch.no_grad()
def collect_predictions(
    model: TextClassifier, dataset: TokenIdsDataset, batch_size: int, trainer: L.Trainer | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_prob)`` of ``model`` over a prepared, labelled split, rows in split order.

    Runs on the trainer's root device under its precision plugin when ``trainer`` is given (the model goes
    back to where it was), else where the model is.
    """
    if dataset.labels is None:
        raise ValueError("the split has no labels")
    original = model.device
    device = trainer.strategy.root_device if trainer is not None else original
    was_training = model.training
    model.to(device).eval()
    probs = np.zeros((len(dataset), len(model.labels)), dtype=np.float32)
    try:
        for indices in BucketBatchSampler(dataset.lengths, batch_size, shuffle=False):
            batch = dataset.__getitems__(indices)
            if trainer is not None:
                with trainer.precision_plugin.forward_context():
                    logits = model(batch["token_ids"].to(device), batch["lengths"].to(device))
            else:
                logits = model(batch["token_ids"].to(device), batch["lengths"].to(device))
            probs[batch["index"].numpy()] = model.probabilities(logits).cpu().numpy()
    finally:
        model.to(original).train(was_training)
    return np.asarray(dataset.labels), probs

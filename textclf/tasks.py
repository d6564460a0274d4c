"""Single- vs multi-label classification: activation, loss, decision rule and metric set, in one object each.

The model, the report, ``predict`` and ``export`` ask the task instead of testing a flag. Every score is computed
by torchmetrics, under one set of names, in training logs (``val/acc``, ``test/f1_macro``...) and in reports
(``metrics.json``) alike:

- single-label (:class:`SingleLabel`): ``acc``, ``f1_macro``, ``f1_weighted`` (and ``loss``);
- multi-label (:class:`MultiLabel`): ``acc`` (subset accuracy: the predicted set is exactly the true set),
  ``f1_micro``, ``f1_macro``, ``precision_micro``, ``recall_micro``, ``hamming_loss`` (and ``loss``).

Macro-F1 averages over the labels that occur in the targets or in the predictions, for both tasks.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchmetrics.functional.classification import (
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
    multilabel_exact_match,
    multilabel_hamming_distance,
    multilabel_stat_scores,
)

from textclf.errors import TextclfError
from textclf.multilabel import DEFAULT_THRESHOLD, CollectedOutputs, Thresholds, initial_thresholds, tune_thresholds

log = logging.getLogger(__name__)

ClassWeights = list[float] | dict[str, float] | None


class Task:
    """What distinguishes single- from multi-label classification (see the subclasses).

    Args:
        labels: class (label) names in index order.
    """

    multi_label: ClassVar[bool]
    plots_confusion: ClassVar[bool]  # whether the report draws per_label()'s confusion table as a matrix

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels

    @staticmethod
    def create(labels: list[str], multi_label: bool) -> Task:
        """:class:`MultiLabel` or :class:`SingleLabel` for ``labels``."""
        return MultiLabel(labels) if multi_label else SingleLabel(labels)

    @property
    def num_labels(self) -> int:
        """Number of classes (labels)."""
        return len(self.labels)

    def probabilities(self, logits: Tensor) -> Tensor:
        """(batch, num_labels) logits -> float32 probabilities of the same shape."""
        raise NotImplementedError

    def loss(self, logits: Tensor, targets: Tensor, weight: Tensor | None = None) -> Tensor:
        """Mean loss of a batch; ``targets`` as the data module's batches carry them."""
        raise NotImplementedError

    def decide(self, probs: np.ndarray, thresholds: np.ndarray | None = None) -> list[Any]:
        """Predicted label(s) of every row of (n, num_labels) probabilities."""
        raise NotImplementedError

    def metric(self, sync: bool = True) -> Metric | MetricCollection:
        """A fresh torchmetrics accumulator for an evaluation split: ``update(probs, targets)`` per batch.

        Args:
            sync: gather the states of every DDP rank on ``compute`` (False: this process's data is the whole
                split, as in a report that rank 0 writes alone).
        """
        raise NotImplementedError

    def compute(
        self, metric: Metric | MetricCollection, thresholds: Tensor | None = None, tune: bool = False
    ) -> dict[str, Tensor]:
        """The scores of an accumulated :meth:`metric` (gathered from every DDP rank), without ``loss``.

        Args:
            metric: what :meth:`metric` returned, updated with a split's batches.
            thresholds: (num_labels,) decision thresholds (multi-label; default 0.5 each).
            tune: multi-label: first set ``thresholds`` (in place) to the ones maximising each label's F1 here.
        """
        raise NotImplementedError

    def per_label(self, probs: Tensor, targets: Tensor, thresholds: Tensor | None = None) -> dict[str, np.ndarray]:
        """(num_labels,) ``precision``, ``recall``, ``f1``, ``support`` and a ``confusion`` table of a split."""
        raise NotImplementedError

    def balanced_weights(self, counts: Tensor, num_examples: int) -> Tensor:
        """Loss weights for ``class_weights="balanced"`` from the training counts (num_labels,)."""
        raise NotImplementedError

    def as_targets(self, y_true: Any) -> Tensor:
        """Targets as the loss and the metrics take them, from an array or list (see the subclasses)."""
        raise NotImplementedError

    def initial_thresholds(self, thresholds: Thresholds) -> Tensor | None:
        """(num_labels,) decision thresholds to keep in the model's state, or None when the task has none."""
        if thresholds != DEFAULT_THRESHOLD:
            log.warning("thresholds=%r is ignored: it applies to multi-label models (data.multi_label)", thresholds)
        return None

    def names(self, targets: Tensor) -> list[Any]:
        """The true label (single-label) or list of labels (multi-label, in label order) of every row."""
        raise NotImplementedError

    def differ(self, predicted: Any, true: Any) -> bool:
        """Whether a prediction of :meth:`decide` differs from the truth of :meth:`names`."""
        return bool(predicted != true)

    def confusion_header(self) -> list[str]:
        """The header row of the report's ``confusion_matrix.csv`` (see :meth:`per_label`)."""
        raise NotImplementedError

    def scores(self, probs: Tensor, targets: Tensor, thresholds: Tensor | None = None) -> dict[str, float]:
        """The task's metric set over a whole split, plus ``loss`` (unweighted, from ``probs``) and ``n``."""
        if len(probs) == 0:
            raise TextclfError("no predictions to score")
        metric = self.metric(sync=False).to(probs.device)
        metric.update(probs, targets)
        values = {name: float(value) for name, value in self.compute(metric, thresholds).items()}
        return {**values, "loss": float(self._loss_of_probs(probs.float(), targets)), "n": len(probs)}

    def _loss_of_probs(self, probs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def class_weights(self, weights: ClassWeights) -> Tensor | None:
        """(num_labels,) loss weights from a list in label order or a ``{label: weight}`` dict (others 1.0)."""
        if weights is None:
            return None
        if isinstance(weights, dict):
            unknown = sorted(set(weights) - set(self.labels))
            if unknown:
                raise TextclfError(f"class_weights names unknown labels {unknown}; labels are {self.labels}")
            weights = [float(weights.get(label, 1.0)) for label in self.labels]
        if len(weights) != self.num_labels:
            raise TextclfError(f"class_weights has {len(weights)} values for {self.num_labels} classes")
        return torch.tensor(weights, dtype=torch.float32)


class SingleLabel(Task):
    """One class per text: softmax, cross-entropy, argmax. Targets are class indices (batch,) int64."""

    multi_label = False
    plots_confusion = True

    def probabilities(self, logits: Tensor) -> Tensor:  # noqa: D102
        return torch.softmax(logits.float(), dim=-1)

    def loss(self, logits: Tensor, targets: Tensor, weight: Tensor | None = None) -> Tensor:  # noqa: D102
        return nn.functional.cross_entropy(logits, targets, weight=weight)

    def decide(self, probs: np.ndarray, thresholds: np.ndarray | None = None) -> list[Any]:
        """The most probable label of each row."""
        return [self.labels[i] for i in np.asarray(probs).argmax(axis=1)]

    def metric(self, sync: bool = True) -> MetricCollection:  # noqa: D102
        n = self.num_labels
        options: dict[str, Any] = {"sync_on_compute": sync}
        return MetricCollection(
            {
                "acc": MulticlassAccuracy(n, average="micro", **options),
                "f1_macro": MulticlassF1Score(n, average="macro", **options),
                "f1_weighted": MulticlassF1Score(n, average="weighted", **options),
            }
        )

    def compute(  # noqa: D102
        self, metric: Metric | MetricCollection, thresholds: Tensor | None = None, tune: bool = False
    ) -> dict[str, Tensor]:
        return dict(metric.compute())

    def per_label(self, probs: Tensor, targets: Tensor, thresholds: Tensor | None = None) -> dict[str, np.ndarray]:
        """Per-class scores; ``confusion`` is (num_labels, num_labels): row = true class, column = predicted."""
        n, preds = self.num_labels, probs.argmax(dim=1)
        options: dict[str, Any] = {"num_classes": n, "average": "none"}
        return {
            "precision": multiclass_precision(preds, targets, **options).numpy(),
            "recall": multiclass_recall(preds, targets, **options).numpy(),
            "f1": multiclass_f1_score(preds, targets, **options).numpy(),
            "support": torch.bincount(targets, minlength=n).numpy(),
            "confusion": multiclass_confusion_matrix(preds, targets, n).numpy(),
        }

    def balanced_weights(self, counts: Tensor, num_examples: int) -> Tensor:
        """Count of all examples / (classes * count of the class)."""
        counts = counts.float().clamp(min=1)
        return counts.sum() / (len(counts) * counts)

    def as_targets(self, y_true: Any) -> Tensor:
        """(n,) int64 class indices."""
        return torch.as_tensor(np.asarray(y_true, dtype=np.int64))

    def names(self, targets: Tensor) -> list[Any]:  # noqa: D102
        return [self.labels[i] for i in targets.tolist()]

    def confusion_header(self) -> list[str]:
        """Rows are true labels, columns predicted labels."""
        return ["true \\ predicted", *self.labels]

    def _loss_of_probs(self, probs: Tensor, targets: Tensor) -> Tensor:
        return -probs.gather(1, targets[:, None]).clamp(min=1e-12).log().mean()


class MultiLabel(Task):
    """A set of labels per text: a sigmoid per label, binary cross-entropy, per-label thresholds.

    Targets are multi-hot (batch, num_labels) float. Label ``j`` is predicted when its probability is at least
    ``thresholds[j]`` (see :mod:`textclf.multilabel` for how thresholds are tuned).
    """

    multi_label = True
    plots_confusion = False  # a label's counts are its own 2 x 2 table: one row per label instead

    def probabilities(self, logits: Tensor) -> Tensor:  # noqa: D102
        return torch.sigmoid(logits.float())

    def loss(self, logits: Tensor, targets: Tensor, weight: Tensor | None = None) -> Tensor:
        """Binary cross-entropy; ``weight`` is the weight of each label's positive examples (``pos_weight``)."""
        return nn.functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=weight)

    def decide(self, probs: np.ndarray, thresholds: np.ndarray | None = None) -> list[Any]:
        """The labels at or above their thresholds, most probable first (a list per row)."""
        probs = np.asarray(probs)
        above = probs >= (0.5 if thresholds is None else thresholds)
        order = np.argsort(-probs, axis=1, kind="stable")
        return [[self.labels[j] for j in ranked if row[j]] for row, ranked in zip(above, order, strict=True)]

    def metric(self, sync: bool = True) -> CollectedOutputs:
        """Multi-label scores at tuned thresholds need the whole split at once: the outputs are collected."""
        return CollectedOutputs(sync_on_compute=sync)

    def compute(  # noqa: D102
        self, metric: Metric | MetricCollection, thresholds: Tensor | None = None, tune: bool = False
    ) -> dict[str, Tensor]:
        assert isinstance(metric, CollectedOutputs)
        probs, targets = metric.compute()  # the whole split, from every rank
        limits = torch.full((self.num_labels,), 0.5) if thresholds is None else thresholds
        if tune:  # in place: the model's thresholds buffer
            limits.copy_(tune_thresholds(probs, targets, limits))
        preds, truth = self._binarize(probs, limits), targets.round().int()
        stats = multilabel_stat_scores(preds, truth, self.num_labels, average=None)  # (num_labels, 5)
        tp, fp, fn = (stats[:, k].float() for k in (0, 1, 3))
        present = (tp + fp + fn) > 0
        f1 = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
        n = self.num_labels
        return {
            "acc": multilabel_exact_match(preds, truth, n),
            "f1_micro": 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp(min=1),
            "f1_macro": f1[present].mean() if bool(present.any()) else torch.tensor(0.0),
            "precision_micro": tp.sum() / (tp.sum() + fp.sum()).clamp(min=1),
            "recall_micro": tp.sum() / (tp.sum() + fn.sum()).clamp(min=1),
            "hamming_loss": multilabel_hamming_distance(preds, truth, n, average="micro"),
        }

    def per_label(self, probs: Tensor, targets: Tensor, thresholds: Tensor | None = None) -> dict[str, np.ndarray]:
        """Per-label scores; ``confusion`` is (num_labels, 4): TP, FP, FN, TN counts of every label."""
        limits = torch.full((self.num_labels,), 0.5) if thresholds is None else thresholds
        stats = multilabel_stat_scores(
            self._binarize(probs, limits), targets.round().int(), self.num_labels, average=None
        )
        tp, fp, tn, fn = (stats[:, k].double() for k in range(4))
        return {
            "precision": (tp / (tp + fp).clamp(min=1)).numpy(),
            "recall": (tp / (tp + fn).clamp(min=1)).numpy(),
            "f1": (2 * tp / (2 * tp + fp + fn).clamp(min=1)).numpy(),
            "support": (tp + fn).long().numpy(),
            "confusion": torch.stack([tp, fp, fn, tn], dim=1).long().numpy(),
        }

    def balanced_weights(self, counts: Tensor, num_examples: int) -> Tensor:
        """``pos_weight``: negatives / positives of each label."""
        counts = counts.float().clamp(min=1)
        return (num_examples - counts).clamp(min=1) / counts

    def initial_thresholds(self, thresholds: Thresholds) -> Tensor:
        """See :func:`textclf.multilabel.initial_thresholds`."""
        return initial_thresholds(thresholds, self.labels)

    def as_targets(self, y_true: Any) -> Tensor:
        """(n, num_labels) float32 0/1 rows."""
        return torch.as_tensor(np.asarray(y_true, dtype=np.float32))

    def names(self, targets: Tensor) -> list[Any]:  # noqa: D102
        return [[self.labels[j] for j in np.flatnonzero(row)] for row in targets.numpy() > 0.5]

    def differ(self, predicted: Any, true: Any) -> bool:
        """Label sets differ (their order does not count)."""
        return set(predicted) != set(true)

    def confusion_header(self) -> list[str]:  # noqa: D102
        return ["label", "true_positives", "false_positives", "false_negatives", "true_negatives"]

    def _loss_of_probs(self, probs: Tensor, targets: Tensor) -> Tensor:
        return nn.functional.binary_cross_entropy(probs.clamp(1e-7, 1 - 1e-7), targets.float())

    @staticmethod
    def _binarize(probs: Tensor, thresholds: Tensor) -> Tensor:
        return (probs >= thresholds.to(probs.device)).int()

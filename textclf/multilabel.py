"""Multi-label decision thresholds: collected sigmoid outputs, initial thresholds and their tuning.

A multi-label model scores every label independently (sigmoid); label ``j`` is predicted when its probability
is at least ``thresholds[j]``. Thresholds are fixed, or tuned on the validation split: for every label, the
threshold that maximises that label's F1 there (see :func:`tune_thresholds`). The scores they give are
computed by :class:`textclf.tasks.MultiLabel`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from textclf.errors import TextclfError

Thresholds = float | list[float] | dict[str, float] | Literal["tune"]
DEFAULT_THRESHOLD = 0.5


class CollectedOutputs(Metric):
    """Every ``(probs, targets)`` pair of an evaluation epoch, gathered from all DDP ranks on :meth:`compute`.

    Multi-label scores at tuned thresholds need the whole split at once; for an evaluation split this costs
    ``n * num_labels`` floats, a few MB for a large one.
    """

    full_state_update = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("probs", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, probs: Tensor, targets: Tensor) -> None:
        """probs, targets: (batch, num_labels); targets are 0/1."""
        self.probs.append(probs.detach().float())  # type: ignore[operator,union-attr]
        self.targets.append(targets.detach().float())  # type: ignore[operator,union-attr]

    def compute(self) -> tuple[Tensor, Tensor]:
        """probs, targets: (n, num_labels) over the whole split (all ranks)."""
        return dim_zero_cat(self.probs), dim_zero_cat(self.targets)  # type: ignore[arg-type]


def initial_thresholds(thresholds: Thresholds, labels: Sequence[str]) -> Tensor:
    """(num_labels,) thresholds from ``thresholds`` (see :class:`~textclf.model.TextClassifier`).

    A number, a list in label order, a ``{label: threshold}`` dict (others 0.5) or ``"tune"`` (0.5 until the
    first validation epoch).
    """
    if thresholds == "tune":
        values = [DEFAULT_THRESHOLD] * len(labels)
    elif isinstance(thresholds, int | float):
        values = [float(thresholds)] * len(labels)
    elif isinstance(thresholds, dict):
        unknown = sorted(set(thresholds) - set(labels))
        if unknown:
            raise TextclfError(f"thresholds names unknown labels {unknown}; labels are {list(labels)}")
        values = [float(thresholds.get(label, DEFAULT_THRESHOLD)) for label in labels]
    elif isinstance(thresholds, list | tuple):
        if len(thresholds) != len(labels):
            raise TextclfError(f"thresholds has {len(thresholds)} values for {len(labels)} labels")
        values = [float(value) for value in thresholds]
    else:
        raise TextclfError(f'thresholds must be a number, a list, a dict or "tune", got {thresholds!r}')
    if not all(0 < value < 1 for value in values):
        raise TextclfError(f"thresholds must be probabilities strictly between 0 and 1, got {values}")
    return torch.tensor(values, dtype=torch.float32)


def tune_thresholds(probs: Tensor, targets: Tensor, fallback: Tensor) -> Tensor:
    """(num_labels,) thresholds that maximise each label's F1 on ``probs``/``targets`` (n, num_labels).

    Candidates are the midpoints between consecutive distinct probabilities of a label (and just below its
    highest one), so every achievable split of the examples is tried exactly once; ties of F1 go to the higher
    threshold. A label without positive examples keeps its ``fallback`` threshold.
    """
    n, num_labels = probs.shape
    thresholds = fallback.clone().float()
    if n == 0:
        return thresholds
    ordered, order = probs.float().sort(dim=0, descending=True)  # (n, num_labels)
    hits = targets.float().gather(0, order)
    tp = hits.cumsum(0)  # predicting the top k+1 of each label as positive
    predicted = torch.arange(1, n + 1, dtype=torch.float32, device=probs.device)[:, None]
    f1 = 2 * tp / (predicted + hits.sum(0, keepdim=True))
    # a cut between equal probabilities cannot be realised by a threshold
    realisable = torch.ones_like(f1, dtype=torch.bool)
    realisable[:-1] = ordered[:-1] > ordered[1:]
    f1 = torch.where(realisable, f1, torch.full_like(f1, -1.0))
    best = f1.argmax(dim=0)  # first maximum = fewest predicted positives = highest threshold
    below = torch.cat([ordered[1:], ordered[-1:] - 1e-6], dim=0).clamp(min=0)  # next lower probability
    columns = torch.arange(num_labels, device=probs.device)
    midpoints = (ordered[best, columns] + below[best, columns]) / 2
    has_positives = hits.sum(0) > 0
    thresholds = torch.where(has_positives.cpu(), midpoints.cpu(), thresholds.cpu())
    return thresholds.clamp(1e-6, 1 - 1e-6)

"""FitSetup: the hooks Lightning calls before and around training, as TextClassifier's base class.

Class weights and ``init_from`` (``setup``), the refusals before a fit starts (``on_fit_start``), the callbacks the
model brings (``configure_callbacks``) and the optimizer over the parameters that train (``configure_optimizers``).
Kept apart from :mod:`textclf.model` so that the model module holds its parts, steps and prediction only.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor

from textclf.errors import TextclfError
from textclf.finetune import BackboneFreeze, init_from_checkpoint, refuse_overwriting
from textclf.guards import missing_callbacks
from textclf.tasks import Task


class FitSetup(L.LightningModule):
    """Training set-up of :class:`~textclf.model.TextClassifier` (which sets every attribute named below)."""

    task: Task
    class_weights: Any
    loss_weight: Tensor | None
    init_from: str | None
    _initialised_from: str | None
    embedding_mode: str
    has_pretrained: bool
    freeze_backbone_epochs: int
    backbone_lr_scale: float
    optimizer_factory: Any
    lr_scheduler_factory: Any
    lr_scheduler_monitor: str

    def setup(self, stage: str) -> None:
        """Resolve ``class_weights="balanced"``; before training, copy the weights of ``init_from`` (once)."""
        if self.class_weights == "balanced":
            data = getattr(self.trainer, "datamodule", None)
            counts = getattr(data, "label_counts", None)
            if data is None or counts is None:
                raise TextclfError('class_weights="balanced" needs a data module with training label counts')
            weight = self.task.balanced_weights(torch.tensor(counts), len(data.split("train")))
            self.loss_weight = weight.to(self.device)
        if stage == "fit" and self.init_from and self._initialised_from != self.init_from:
            init_from_checkpoint(self, self.init_from)  # type: ignore[arg-type]  # a TextClassifier
            self._initialised_from = self.init_from

    def on_fit_start(self) -> None:
        """Refuse the pretrained-vector modes without pretrained vectors, and writing beside ``init_from``."""
        if self.embedding_mode in ("static", "multichannel") and not self.has_pretrained:
            raise TextclfError(f"embedding_mode {self.embedding_mode!r} needs pretrained vectors: set data.vectors")
        if self.init_from:
            refuse_overwriting(self.trainer, self.init_from)

    def configure_callbacks(self) -> list[L.Callback]:
        """BackboneFreeze when the backbone is frozen or learns slower; a NonFiniteGuard if the trainer has none."""
        guard = missing_callbacks(self._trainer)
        if self.freeze_backbone_epochs == 0 and self.backbone_lr_scale == 1.0:
            return guard
        return [BackboneFreeze(self.freeze_backbone_epochs, self.backbone_lr_scale), *guard]

    def configure_optimizers(self) -> Any:
        """The optimizer over the parameters that train now, and the scheduler (if any)."""
        optimizer = self.optimizer_factory([p for p in self.parameters() if p.requires_grad])
        if self.lr_scheduler_factory is None:
            return optimizer
        scheduler = self.lr_scheduler_factory(optimizer)
        config: dict[str, Any] = {"scheduler": scheduler}
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            config["monitor"] = self.lr_scheduler_monitor
        return {"optimizer": optimizer, "lr_scheduler": config}

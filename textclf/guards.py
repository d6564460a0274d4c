"""No training on NaN or infinity: a non-finite loss or gradient stops the run in one line, or skips the batch."""

from __future__ import annotations

import logging
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from textclf.errors import TextclfError
from textclf.resume import position, save_last
from textclf.story import RunStory  # imports textclf.logs: Python users see textclf's info lines
from textclf.wording import counted

log = logging.getLogger(__name__)


class NonFiniteError(TextclfError):
    """Training met a non-finite loss or gradient (the message names the step and the checkpoints)."""


class NonFiniteGuard(Callback):
    """Check every training batch's loss (before backward) and gradients (before the optimizer step).

    A loss or gradient that is NaN or infinite never reaches the weights:

    * ``action="stop"`` (default): ``last.ckpt`` is written with the state before the batch (when every weight is
      still finite) and fit raises :class:`NonFiniteError`, one line naming the epoch, global step and batch, and the
      checkpoints to go back to; ``textclf fit`` prints it and exits with status 2.
    * ``action="skip"``: the batch's gradients are dropped, so the optimizer changes no weight and no optimizer
      state (a per-step learning-rate schedule still advances), with a warning; after ``max_skips`` skipped batches
      the run stops as with ``"stop"``. The count is kept in checkpoints.

    The decision is taken on every rank alike (under DDP, one all-reduce of a flag per step). Under ``16-mixed``
    precision the gradient scaler already skips steps with infinite gradients: only the loss is checked then.

    Args:
        action: ``"stop"`` or ``"skip"``.
        max_skips: batches ``"skip"`` may skip in a run before it stops.
        check_gradients: also check the gradients (one reduction over all of them per step).

    Raises:
        TextclfError: ``action`` is not stop/skip, or ``max_skips`` < 0.
    """

    def __init__(
        self, action: Literal["stop", "skip"] = "stop", max_skips: int = 10, check_gradients: bool = True
    ) -> None:
        if action not in ("stop", "skip") or max_skips < 0:
            raise TextclfError(f"NonFiniteGuard: action must be stop or skip (got {action!r}), max_skips >= 0")
        self.action = action
        self.max_skips = max_skips
        self.check_gradients = check_gradients
        self.skipped = 0
        self._loss: torch.Tensor | None = None  # the last non-finite loss of this step, if any

    def state_dict(self) -> dict[str, Any]:
        """``{"skipped": batches skipped so far}`` (saved in checkpoints)."""
        return {"skipped": self.skipped}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the count of skipped batches."""
        self.skipped = int(state_dict.get("skipped", 0))

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        """Note the loss of this step (the first non-finite one of an accumulation window)."""
        loss = loss.detach()
        if self._loss is None or bool(torch.isfinite(self._loss).all()):
            self._loss = loss

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        """Stop or skip when this step's loss or gradients are not finite (on any rank).

        Raises:
            NonFiniteError: ``action="stop"``, or ``max_skips`` batches were skipped already.
        """
        loss, self._loss = self._loss, None
        bad_loss = loss is not None and not bool(torch.isfinite(loss).all())
        bad_grad = False
        if not bad_loss and self.check_gradients and getattr(trainer.precision_plugin, "scaler", None) is None:
            grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
            bad_grad = bool(grads) and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        if not trainer.strategy.reduce_boolean_decision(bad_loss or bad_grad, all=False):
            return
        what = f"training loss ({float(loss):g})" if bad_loss and loss is not None else "gradient"
        where = position(trainer)
        if self.action == "skip" and self.skipped < self.max_skips:
            for parameter in pl_module.parameters():
                parameter.grad = None
            self.skipped += 1
            if trainer.is_global_zero:
                log.warning("non-finite %s at %s: batch skipped (%d of at most %d)", what, where, self.skipped,
                            self.max_skips)  # fmt: skip
            return
        saved = save_last(trainer)
        callback = trainer.checkpoint_callback
        best = callback.best_model_path if isinstance(callback, ModelCheckpoint) else ""
        unsaved = "no last.ckpt written (weights not finite, or checkpointing off)"
        state = f"state before this batch: {saved}" if saved else unsaved
        skipped = counted(self.skipped, "skipped batch", "skipped batches")
        limit = f" after {skipped} (max_skips)" if self.action == "skip" else ""
        advice = "" if self.action == "skip" else ", or skip such batches with NonFiniteGuard action: skip"
        raise NonFiniteError(
            f"non-finite {what} at {where}: training stopped{limit}; {state}; best checkpoint: {best or 'none yet'} "
            f"(lower the learning rate, set trainer.gradient_clip_val{advice})"
        )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Stop before the checkpoint callbacks run when the validation loss is not finite (weights that overflow).

        Raises:
            NonFiniteError: one line naming the epoch; no checkpoint of this validation is written.
        """
        loss = trainer.callback_metrics.get("val/loss")
        if trainer.sanity_checking or loss is None or bool(torch.isfinite(loss).all()):
            return
        callback = trainer.checkpoint_callback
        best = callback.best_model_path if isinstance(callback, ModelCheckpoint) else ""
        raise NonFiniteError(
            f"non-finite validation loss ({float(loss):g}) after epoch {trainer.current_epoch}: the weights overflow; "
            f"training stopped, no checkpoint of this epoch written; best checkpoint: {best or 'none yet'} (lower the "
            "learning rate or set trainer.gradient_clip_val)"
        )


def missing_callbacks(trainer: L.Trainer | None) -> list[Callback]:
    """The textclf callbacks a trainer lacks (for models trained from Python, through ``configure_callbacks``).

    A default :class:`NonFiniteGuard` and a :class:`textclf.story.RunStory` (the run's story in the log), each
    when the trainer has none.
    """
    callbacks: list[Callback] = trainer.callbacks if trainer is not None else []  # type: ignore[attr-defined]
    missing: list[Callback] = []
    if not any(isinstance(c, NonFiniteGuard) for c in callbacks):
        missing.append(NonFiniteGuard())
    if not any(isinstance(c, RunStory) for c in callbacks):
        missing.append(RunStory())
    return missing

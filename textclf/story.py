"""A run tells its story: the model's size at the start; at the end, why it stopped and which epoch was best.

:class:`RunStory` is in ``recipes/_base/trainer.yaml``, and :meth:`TextClassifier.configure_callbacks` adds it to a
Trainer that has none (:func:`textclf.guards.missing_callbacks`), so Python users get the same lines through the
``textclf`` logger (:mod:`textclf.logs`). The corpus lines come from the data module (:mod:`textclf.data.base`), the
vector coverage from :mod:`textclf.vectors.matrix`, the test scores and the output paths from
:mod:`textclf.run_outputs`. Epochs are numbered from 0, as in the progress bar and metrics.csv.
"""

from __future__ import annotations

import logging
import os
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, ModelSummary, Timer
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.utilities.exceptions import SIGTERMException

from textclf.logs import RANK_ZERO_LOGGERS, quiet_lightning
from textclf.wording import counted

log = logging.getLogger(__name__)

# Lightning's own line of why fit stopped, which the story replaces while it runs
STOP_LINES = ("`Trainer.fit` stopped:", "Time limit reached.")
# Warnings of a checkpoint restored on purpose: its ModelCheckpoint state comes from another run folder (validate,
# test), or the run continues in its own folder (fit --ckpt_path)
MOVED_DIRPATH = "The dirpath has changed from"
KEPT_CHECKPOINTS = "Checkpoint directory "


class _StopLineFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(STOP_LINES)


class RunStory(Callback):
    """Log the run's story on global rank 0: parameters at the start of fit, why it stopped and the best epoch.

    * Start of fit, unless Lightning's model summary is on: ``model: 646,421 parameters (646,421 trainable, 0 frozen):
      embedding 402,150, encoder 242,400, head 1,806``.
    * End of fit: ``stopped: early stopping at epoch 12: val/acc did not improve for 6 epochs (patience 6)`` (or
      max_epochs, max_steps, max_time, fast_dev_run, trainer.should_stop), then ``best: epoch 6, val/acc 0.9137
      (runs/.../checkpoints/best.ckpt)`` from the ModelCheckpoint's monitor. Lightning's own "`Trainer.fit`
      stopped" line is left out while the story runs.
    * Ctrl-C or SIGTERM during fit: the best checkpoint so far (:class:`textclf.resume.Resumable` says where
      last.ckpt is; a non-finite stop says it all in :class:`textclf.guards.NonFiniteGuard`'s error).

    While a checkpoint is restored on purpose, Lightning's warnings about it are left out: "The dirpath has changed"
    in validate/test (their run folder is not the checkpoint's), "Checkpoint directory ... exists and is not empty"
    when fit resumes in its own run folder. Other warnings of that moment are shown as usual.

    The best epoch is kept in checkpoints, so a resumed run still names it.
    """

    def __init__(self) -> None:
        self.best_epoch: int | None = None
        self._best: tuple[float | None, str] = (None, "")  # the ModelCheckpoint's best score and path, last seen
        self._epoch: int | None = None  # the epoch of the last event that may have changed the best checkpoint
        self._stage: str | None = None
        self._started = 0  # the epoch of the last training epoch that started
        self._window: Any = None  # warnings caught from setup to the start of the loop
        self._caught: list[warnings.WarningMessage] = []
        self._filter = _StopLineFilter()

    # ---- state -----------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{"best_epoch": epoch of the best checkpoint (None: not known), "best_score": its score}``."""
        return {"best_epoch": self.best_epoch, "best_score": self._best[0], "best_path": self._best[1]}

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        """Store the best epoch as of this checkpoint (best.ckpt is written after this callback's state was taken)."""
        self._note_best(trainer)
        if self.state_key in checkpoint.get("callbacks", {}):
            checkpoint["callbacks"][self.state_key] = self.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the best epoch of the run being resumed."""
        self.best_epoch = state_dict.get("best_epoch")
        self._best = (state_dict.get("best_score"), str(state_dict.get("best_path") or ""))

    # ---- start -----------------------------------------------------------------------------------------------

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Quiet Lightning's noise; catch the warnings of the checkpoint restore (see the class)."""
        quiet_lightning()
        self._stage = stage
        if stage == "fit":
            for name in RANK_ZERO_LOGGERS:
                logging.getLogger(name).addFilter(self._filter)
        self._end_window(trainer)
        self._window = warnings.catch_warnings(record=True)
        self._caught = self._window.__enter__()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Log the parameter count (when Lightning's model summary is off)."""
        self._end_window(trainer)
        callbacks = trainer.callbacks  # type: ignore[attr-defined]
        if trainer.is_global_zero and not any(isinstance(c, ModelSummary) for c in callbacks):
            log.info("model: %s", parameters(pl_module))

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """End the warnings window (validate)."""
        self._end_window(trainer)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """End the warnings window (test)."""
        self._end_window(trainer)

    # ---- the best epoch --------------------------------------------------------------------------------------

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Note a new best checkpoint written since the last event."""
        self._note_best(trainer)
        self._started = trainer.current_epoch

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Note a new best checkpoint; this validation's epoch is the one a checkpoint written next belongs to."""
        self._note_best(trainer)
        if not trainer.sanity_checking:
            self._epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """As :meth:`on_validation_end` (checkpoints may be written at the end of the training epoch)."""
        self._note_best(trainer)
        self._epoch = trainer.current_epoch

    def _note_best(self, trainer: L.Trainer) -> None:
        callback = trainer.checkpoint_callback
        if not isinstance(callback, ModelCheckpoint) or callback.best_model_score is None:
            return
        best = (float(callback.best_model_score), callback.best_model_path)
        if best != self._best:
            self._best = best
            self.best_epoch = self._epoch

    # ---- end -------------------------------------------------------------------------------------------------

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Log why fit stopped and the best epoch."""
        self._note_best(trainer)
        self._remove_filter()
        if trainer.is_global_zero:
            log.info("stopped: %s", stop_reason(trainer, self._started))
            line = self.best_line(trainer)
            if line:
                log.info("%s", line)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        """Ctrl-C or SIGTERM in fit: name the best checkpoint so far."""
        self._end_window(trainer)
        self._remove_filter()
        if isinstance(exception, KeyboardInterrupt | SIGTERMException) and trainer.state.fn == "fit":
            self._note_best(trainer)
            line = self.best_line(trainer)
            if line and trainer.is_global_zero:
                log.info("%s", line.replace("best:", "best so far:", 1))

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Close the warnings window and the stop-line filter, whatever happened."""
        self._end_window(trainer)
        self._remove_filter()

    def best_line(self, trainer: L.Trainer) -> str | None:
        """``best: epoch 6, val/acc 0.9137 (runs/.../best.ckpt)``; None without a monitored ModelCheckpoint."""
        callback = trainer.checkpoint_callback
        if not isinstance(callback, ModelCheckpoint) or not callback.best_model_path:
            return None
        path = short_path(callback.best_model_path)
        if callback.monitor is None or callback.best_model_score is None:
            return f"checkpoint: {path}"
        epoch = "" if self.best_epoch is None else f"epoch {self.best_epoch}, "
        return f"best: {epoch}{callback.monitor} {float(callback.best_model_score):.4f} ({path})"

    def _end_window(self, trainer: L.Trainer) -> None:
        """Stop catching warnings; show again those that are not about a checkpoint restored on purpose."""
        if self._window is None:
            return
        window, caught, self._window, self._caught = self._window, self._caught, None, []
        window.__exit__(None, None, None)
        resuming = self._stage == "fit" and bool(trainer.ckpt_path)
        for item in caught:
            text = str(item.message)
            if (self._stage in ("validate", "test") and text.startswith(MOVED_DIRPATH)) or (
                resuming and text.startswith(KEPT_CHECKPOINTS) and text.endswith("exists and is not empty.")
            ):
                continue
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno, source=item.source)

    def _remove_filter(self) -> None:
        for name in RANK_ZERO_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)


def stop_reason(trainer: L.Trainer, epoch: int) -> str:
    """Why ``trainer.fit`` ended: early stopping, max_time, max_steps, max_epochs, fast_dev_run, should_stop.

    ``epoch`` is the last epoch that started.
    """
    loop = trainer.fit_loop
    fast_dev_run = trainer.fast_dev_run  # type: ignore[attr-defined]
    if fast_dev_run:
        return f"fast_dev_run ({counted(int(fast_dev_run), 'batch', 'batches')})"
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)  # type: ignore[attr-defined]
    if timer is not None and timer._duration is not None and timer.time_elapsed("train") >= timer._duration:
        return f"max_time ({timedelta(seconds=round(timer._duration))}) reached at epoch {epoch}"
    if trainer.should_stop:
        for callback in trainer.early_stopping_callbacks:
            if callback.stopping_reason != EarlyStoppingReason.NOT_STOPPED:
                return early_stopping_reason(trainer, callback)
    if trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
        return f"max_steps ({trainer.max_steps:,}) reached at epoch {epoch}"
    if trainer.max_epochs not in (None, -1) and epochs_run(loop) >= (trainer.max_epochs or 0):
        return f"max_epochs ({trainer.max_epochs}) reached"
    if loop.max_batches == 0:
        return "no training batches"
    if trainer.should_stop:
        return f"trainer.should_stop set (by a callback or the model) at epoch {epoch}"
    return f"finished at epoch {epoch}"


def epochs_run(loop: Any) -> int:
    """Epochs the fit loop has run to their end (its ``processed`` count, as Lightning's max_epochs check uses)."""
    return int(loop.epoch_progress.current.processed)


def early_stopping_reason(trainer: L.Trainer, callback: EarlyStopping) -> str:
    """``early stopping at epoch 12: val/acc did not improve for 6 epochs (patience 6)`` and the other criteria."""
    at = f"early stopping at epoch {callback.stopped_epoch}: {callback.monitor}"
    reason = callback.stopping_reason
    if reason == EarlyStoppingReason.PATIENCE_EXHAUSTED:
        per_epoch = trainer.check_val_every_n_epoch == 1 and trainer.val_check_interval == 1.0
        checks = counted(callback.wait_count, "epoch" if per_epoch else "validation")
        by = f" by more than {abs(callback.min_delta):g}" if callback.min_delta else ""
        return f"{at} did not improve{by} for {checks} (patience {callback.patience})"
    if reason == EarlyStoppingReason.STOPPING_THRESHOLD:
        return f"{at} reached its stopping_threshold {callback.stopping_threshold}"
    if reason == EarlyStoppingReason.DIVERGENCE_THRESHOLD:
        return f"{at} crossed its divergence_threshold {callback.divergence_threshold}"
    if reason == EarlyStoppingReason.NON_FINITE_METRIC:
        return f"{at} is not finite"
    return f"{at}: {callback.stopping_reason_message}"


def parameters(module: Any) -> str:
    """The model's size in words (the embedding's frozen rows are a buffer, not parameters).

    E.g. ``646,306 parameters (646,306 trainable, 0 frozen): ...; and 92,633 frozen vector rows (4,631,650 values,
    float16)``.
    """
    params = list(module.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    parts = [(name, sum(p.numel() for p in child.parameters())) for name, child in module.named_children()]
    detail = ", ".join(f"{name} {count:,}" for name, count in parts if count)
    text = f"{counted(total, 'parameter')} ({trainable:,} trainable, {total - trainable:,} frozen)" + (
        f": {detail}" if detail else ""
    )
    frozen = getattr(getattr(module, "embedding", None), "frozen", None)
    if frozen is not None and frozen.ndim == 2 and len(frozen):
        text += (
            f"; and {counted(len(frozen), 'frozen vector row')} ({frozen.numel():,} values, {frozen.dtype})".replace(
                "torch.", ""
            )
        )
    return text


def short_path(path: str | Path) -> str:
    """``path`` relative to the working directory when it is inside it, else as it is."""
    absolute = Path(path).resolve()
    try:
        return str(absolute.relative_to(Path(os.getcwd()).resolve()))
    except ValueError:
        return str(path)

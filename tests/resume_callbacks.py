"""Test-only callbacks for tests/test_resume.py: faults injected into a real ``textclf fit`` process.

The subprocesses import this module with PYTHONPATH=tests (``--trainer.callbacks+=resume_callbacks.KillAt``).
"""

from __future__ import annotations

import os
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback


class KillAt(Callback):
    """Send ``signal`` (default SIGKILL: no handler, no cleanup) to this process at one point of fit.

    Args:
        where: ``batch``: before the training batch of global step ``step``; ``validation``: after the first
            validation batch of epoch ``epoch`` (not the sanity check); ``save``: inside the ``count``-th
            checkpoint save (``on_save_checkpoint``: the state is dumped, no byte written yet); ``write``: during the
            ``count``-th checkpoint file write, after half of its bytes.
        step, epoch, count: where, as above.
        signal: signal number (``15``: SIGTERM, which textclf handles).
    """

    def __init__(self, where: str, step: int = 0, epoch: int = 0, count: int = 1, signal: int = 9) -> None:
        self.where = where
        self.step = step
        self.epoch = epoch
        self.count = count
        self.signal = signal
        self._saves = 0

    def _kill(self) -> None:
        os.kill(os.getpid(), self.signal)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.where == "write" and stage == "fit":
            self._patch_writes()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.where == "batch" and trainer.global_step == self.step:
            self._kill()

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.where == "validation" and not trainer.sanity_checking and trainer.current_epoch == self.epoch:
            self.where = "done"  # a SIGTERM is handled: do not send it again
            self._kill()

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._saves += 1
        if self.where == "save" and self._saves == self.count:
            self._kill()

    def _patch_writes(self) -> None:
        """Make the ``count``-th write of a checkpoint's bytes write half of them, then die."""
        from fsspec.implementations.local import LocalFileOpener

        original = LocalFileOpener.write
        state = {"writes": 0}
        kill = self._kill

        def write(opener: LocalFileOpener, data: bytes) -> int:
            if str(opener.path).endswith(".ckpt"):
                state["writes"] += 1
                if state["writes"] == self.count:
                    original(opener, data[: len(data) // 2])
                    opener.f.flush()
                    kill()
            return original(opener, data)

        LocalFileOpener.write = write  # type: ignore[method-assign]

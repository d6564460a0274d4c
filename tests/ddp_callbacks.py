"""Test-only callback for tests/test_ddp.py: the subprocesses import it with PYTHONPATH=tests."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint


class RecordRanks(Callback):
    """Writes ``<out_dir>/<stage>-rank<global rank>.json`` (stage: fit, validate, test) at teardown.

    The record holds the dataset indices this rank trained and evaluated on (per epoch), its early-stopping and
    checkpoint state, and its logged metrics.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.train: dict[int, list[list[int]]] = defaultdict(list)
        self.val: dict[int, list[list[int]]] = defaultdict(list)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self.train[trainer.current_epoch].append(batch["index"].tolist())

    def on_validation_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not trainer.sanity_checking:
            self.val[trainer.current_epoch].append(batch["index"].tolist())

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        stopping = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
        checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
        data = trainer.datamodule
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "sizes": {name: len(data.split(name)) for name in ("train", "val")},
            "train": self.train,
            "val": self.val,
            "epochs_run": trainer.current_epoch,
            "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
            "early_stopping": stopping
            and {
                "best_score": float(stopping.best_score),
                "stopped_epoch": stopping.stopped_epoch,
                "wait_count": stopping.wait_count,
            },
            "checkpoint": checkpoint
            and {
                "best_model_score": None if checkpoint.best_model_score is None else float(checkpoint.best_model_score),
                "best_model_path": checkpoint.best_model_path,
            },
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"{getattr(stage, 'value', stage)}-rank{trainer.global_rank}.json").write_text(
            json.dumps(record)
        )

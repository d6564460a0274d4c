"""The Python API as the README shows it: train in a few lines, predict in two."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import lightning as L
import torch
from factories import quiet_trainer, tiny_data, write_csv

import textclf
from textclf import RNNEncoder, TextClassifier


def test_public_names_are_exported() -> None:
    for name in textclf.__all__:
        assert hasattr(textclf, name), name


def test_readme_flow_trains_saves_and_predicts(tmp_path: Path) -> None:
    L.seed_everything(0)  # the thresholds below hold for this seed; unseeded, a rare initialisation misses them
    data = tiny_data(tmp_path, rows=80, test=str(write_csv(tmp_path / "test.csv", rows=20, seed=1)))
    model = TextClassifier.for_data(
        data,
        RNNEncoder(cell="lstm", hidden_size=16, pooling="max"),
        optimizer=partial(torch.optim.Adam, lr=0.02),
        lr_scheduler=partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=1),
    )
    trainer = quiet_trainer(6, enable_checkpointing=True, gradient_clip_val=5.0, default_root_dir=tmp_path)
    trainer.fit(model, data)
    assert trainer.checkpoint_callback is not None
    results = trainer.test(model, data, ckpt_path="best", verbose=False)
    assert set(results[0]) == {"test/loss", "test/acc", "test/f1_macro", "test/f1_weighted"}
    assert results[0]["test/acc"] >= 0.8  # the cue words make this corpus easy to learn

    loaded = TextClassifier.load_from_checkpoint(trainer.checkpoint_callback.best_model_path)
    assert loaded.predict(["a great and lovely film", "an awful and boring plot"]) == ["pos", "neg"]

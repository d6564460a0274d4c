"""No silent training on NaN/inf: a non-finite loss stops the run in one line (or skips the batch, counted)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from factories import QUIET_TRAINER_ARGS, RECIPES, quiet_trainer, tiny_data, tiny_model, write_csv

from textclf import TextClassifier
from textclf.cli import main
from textclf.errors import TextclfError
from textclf.guards import NonFiniteError, NonFiniteGuard


def test_sgd_at_lr_1e38_without_clipping_stops_with_one_line_naming_the_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reported case: it trained on nan for every epoch, exited 0 and printed a test loss of 4e36."""
    args = [
        "fit",
        "-c",
        str(RECIPES / "custom" / "csv.yaml"),
        f"--data.init_args.train={write_csv(tmp_path / 'train.csv', rows=120)}",
        "--data.init_args.vectors=null",
        f"--data.init_args.cache_dir={tmp_path / 'cache'}",
        "--data.init_args.batch_size=16",
        "--model.embedding_dim=8",
        "--model.encoder.init_args.hidden_size=8",
        "--model.optimizer=torch.optim.SGD",
        "--model.optimizer.init_args.lr=1e38",
        "--trainer.gradient_clip_val=null",
        "--trainer.max_epochs=3",
        *QUIET_TRAINER_ARGS,
        f"--trainer.default_root_dir={tmp_path / 'runs'}",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    line = err[-1]
    assert line.startswith("textclf: error: non-finite ") and "at epoch 0, global step " in line, err[-5:]
    assert ", batch " in line and "training stopped" in line and "best checkpoint: none yet" in line
    run = tmp_path / "runs" / "custom" / "csv" / "version_0"
    assert not (run / "test_metrics.json").exists()  # no test of a broken model
    last = run / "checkpoints" / "last.ckpt"
    if "state before this batch" in line:  # written only while every weight is finite
        assert str(last) in line
        weights = torch.load(last, weights_only=True)["state_dict"]
        assert all(bool(torch.isfinite(w).all()) for w in weights.values())
    else:
        assert "no last.ckpt written (weights not finite" in line and not last.exists()


class NanOnBatches(TextClassifier):
    """A classifier whose training loss is NaN on the listed batch indices of every epoch."""

    nan_batches: tuple[int, ...] = ()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        return loss * math.nan if batch_idx in self.nan_batches else loss


class Snapshot(L.Callback):
    """The parameters before and after training batch ``index`` of epoch 0."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.before: list[torch.Tensor] = []
        self.after: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == 0 and batch_idx == self.index:
            self.before = [p.detach().clone() for p in pl_module.parameters()]

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.current_epoch == 0 and batch_idx == self.index:
            self.after = [p.detach().clone() for p in pl_module.parameters()]


def _nan_model(tmp_path: Path, nan_batches: tuple[int, ...]) -> tuple[NanOnBatches, Any]:
    data = tiny_data(tmp_path, rows=80, vectors=None)
    torch.manual_seed(0)
    model = NanOnBatches.for_data(data, tiny_model().encoder.__class__(hidden_size=5), embedding_dim=6)
    model.nan_batches = nan_batches
    return model, data


def test_skip_mode_drops_the_bad_batches_without_an_optimizer_step_and_counts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model, data = _nan_model(tmp_path, nan_batches=(2,))
    guard, snapshot = NonFiniteGuard(action="skip", max_skips=5), Snapshot(2)
    trainer = quiet_trainer(max_epochs=2, callbacks=[guard, snapshot])
    with caplog.at_level("WARNING", logger="textclf"):
        trainer.fit(model, data)
    assert guard.skipped == 2  # batch 2 of each epoch
    assert all(torch.equal(b, a) for b, a in zip(snapshot.before, snapshot.after, strict=True))  # no step taken
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    steps = {int(s["step"]) for s in trainer.optimizers[0].state.values()}
    assert steps == {len(data.train_dataloader()) * 2 - 2}  # Adam stepped on every other batch
    warnings = [r.getMessage() for r in caplog.records if "batch skipped" in r.getMessage()]
    assert len(warnings) == 2 and warnings[0].startswith("non-finite training loss (nan) at epoch 0, global step 2")


def test_skip_mode_stops_after_max_skips(tmp_path: Path) -> None:
    model, data = _nan_model(tmp_path, nan_batches=(1, 2, 3))
    trainer = quiet_trainer(max_epochs=2, callbacks=[NonFiniteGuard(action="skip", max_skips=2)])
    with pytest.raises(NonFiniteError, match=r"at epoch 0, global step 3, batch 3: training stopped after 2 skipped"):
        trainer.fit(model, data)


def test_a_model_trained_from_python_stops_at_nan_without_being_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = _nan_model(tmp_path, nan_batches=(1,))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NonFiniteError, match=r"batch 1: training stopped; no last.ckpt written"):
        quiet_trainer(max_epochs=1).fit(model, data)  # checkpointing off: no file appears in the working directory
    assert not (tmp_path / "checkpoints").exists()


def test_bad_guard_settings_are_refused() -> None:
    with pytest.raises(TextclfError, match="stop or skip"):
        NonFiniteGuard(action="ignore")  # type: ignore[arg-type]


def test_a_non_finite_validation_loss_stops_before_any_checkpoint_of_it() -> None:
    """Weights that stay finite but overflow (a diverged run in skip mode) gave NaN val/loss and were saved as best."""
    from types import SimpleNamespace

    trainer = SimpleNamespace(
        sanity_checking=False,
        callback_metrics={"val/loss": torch.tensor(float("nan"))},
        checkpoint_callback=None,
        current_epoch=2,
    )
    with pytest.raises(NonFiniteError, match=r"non-finite validation loss \(nan\) after epoch 2: .* no checkpoint"):
        NonFiniteGuard(action="skip").on_validation_end(trainer, None)  # type: ignore[arg-type]
    trainer.callback_metrics["val/loss"] = torch.tensor(0.5)
    NonFiniteGuard().on_validation_end(trainer, None)  # type: ignore[arg-type]

"""Learning curves: the per-epoch values read from metrics.csv, and the PNG a fit writes into its report."""

from __future__ import annotations

import csv
import logging
import math
import sys
from pathlib import Path

import pytest
from factories import small_fit_args

from textclf.cli import main
from textclf.curves import read_learning_curves, write_learning_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny_fit_args(root: Path, *extra: str) -> list[str]:
    # train/loss rows in metrics.csv every 2 steps (the default, 50, logs none on 60 texts)
    return small_fit_args(root, "--trainer.log_every_n_steps=2", *extra, max_epochs=3)


def expected_per_epoch(metrics_csv: Path, key: str, mean: bool) -> dict[int, float]:
    """Independent reading of metrics.csv: the mean (train) or the last value (val) of ``key`` per epoch."""
    values: dict[int, list[float]] = {}
    with metrics_csv.open() as handle:
        for row in csv.DictReader(handle):
            if row.get(key):
                values.setdefault(int(float(row["epoch"])), []).append(float(row[key]))
    return {epoch: (sum(v) / len(v) if mean else v[-1]) for epoch, v in values.items()}


def test_fit_report_has_learning_curves_of_metrics_csv(tmp_path: Path) -> None:
    main(tiny_fit_args(tmp_path))
    run_dir = tmp_path / "runs" / "custom" / "csv" / "version_0"
    png = run_dir / "report" / "learning_curves.png"
    assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 1000

    metrics = run_dir / "metrics.csv"
    curves = read_learning_curves(metrics, "val/acc")
    assert curves.epochs == [0, 1, 2]
    for key, mean in (("train/loss", True), ("val/loss", False), ("val/acc", False)):
        expected = expected_per_epoch(metrics, key, mean)
        assert sorted(expected) == [0, 1, 2], key  # every epoch has the value in metrics.csv...
        assert curves.series[key] == pytest.approx([expected[e] for e in curves.epochs]), key  # ...and it is plotted


def write_metrics(path: Path, header: list[str], rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_per_epoch_values_from_step_validation_and_test_rows(tmp_path: Path) -> None:
    metrics = write_metrics(
        tmp_path / "metrics.csv",
        ["epoch", "step", "train/loss", "val/loss", "val/f1_micro", "test/loss"],
        [
            {"epoch": 0, "step": 1, "train/loss": 1.0},
            {"epoch": 0, "step": 3, "train/loss": 0.5},
            {"epoch": 0, "step": 4, "val/loss": 0.9, "val/f1_micro": 0.4},
            {"epoch": 1, "step": 8, "val/loss": 0.7, "val/f1_micro": 0.6},  # no train row in epoch 1
            {"epoch": 1, "step": 8, "test/loss": 0.1},  # the test after fit: not a curve
        ],
    )
    curves = read_learning_curves(metrics, "val/f1_micro")
    assert curves.epochs == [0, 1]
    assert curves.series["train/loss"][0] == pytest.approx(0.75) and math.isnan(curves.series["train/loss"][1])
    assert curves.series["val/loss"] == [0.9, 0.7] and curves.series["val/f1_micro"] == [0.4, 0.6]


def test_epoch_logged_train_loss_wins_over_step_rows(tmp_path: Path) -> None:
    metrics = write_metrics(
        tmp_path / "metrics.csv",
        ["epoch", "step", "train/loss_step", "train/loss_epoch", "val/loss", "val/acc"],
        [
            {"epoch": 0, "step": 1, "train/loss_step": 2.0},
            {"epoch": 0, "step": 1, "val/loss": 0.9, "val/acc": 0.5},
            {"epoch": 0, "step": 1, "train/loss_epoch": 0.8},
        ],
    )
    curves = read_learning_curves(metrics)
    assert curves.monitor == "val/acc" and curves.series["train/loss"] == [0.8]


def test_no_png_without_metrics_csv_or_matplotlib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="textclf")
    assert write_learning_curves(tmp_path, None, None) is None
    assert "the curves are read from the CSV logger's file" in caplog.text
    metrics = write_metrics(tmp_path / "metrics.csv", ["epoch", "val/loss", "val/acc"], [{"epoch": 0, "val/acc": 1}])
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert write_learning_curves(tmp_path, metrics, "val/acc") is None
    assert "pip install textclf[report]" in caplog.text and not (tmp_path / "learning_curves.png").exists()


# ---- recipes/_base/tensorboard.yaml: another logger, the same run directory --------------------------------------


def test_tensorboard_layer_keeps_the_run_directory_resume_and_report(tmp_path: Path) -> None:
    from factories import RECIPES

    layer = ["-c", str(RECIPES / "_base" / "tensorboard.yaml")]
    args = tiny_fit_args(tmp_path, *layer, "--trainer.max_epochs=1")
    args = args[:3] + layer + args[3:]  # the layer right after the recipe, as a user writes it
    main(args)
    run_dir = tmp_path / "runs" / "custom" / "csv" / "version_0"  # named after the recipe, not the layer
    assert list(run_dir.glob("events.out.tfevents.*")) and not (run_dir / "metrics.csv").exists()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "test_metrics.json").is_file()
    assert (run_dir / "report" / "metrics.json").is_file() and not (run_dir / "report" / "learning_curves.png").exists()

    events = len(list(run_dir.glob("events.out.tfevents.*")))
    main([*args, "--trainer.max_epochs=2", "--ckpt_path=last"])  # resumes in its own run directory
    assert sorted(path.name for path in run_dir.parent.iterdir()) == ["version_0"]
    assert (run_dir / "config.1.yaml").is_file() and (run_dir / "report.1" / "metrics.json").is_file()
    assert len(list(run_dir.glob("events.out.tfevents.*"))) > events  # the resumed epochs are logged beside them

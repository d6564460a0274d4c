"""Learning curves: per-epoch train loss, validation loss and the monitored metric of a run, read and plotted.

The values come from the run's ``metrics.csv`` (Lightning's CSVLogger, the default logger of ``textclf fit``):

* **train loss** of an epoch: ``train/loss_epoch`` when the model logs it, else the mean of the epoch's
  ``train/loss`` (or ``train/loss_step``) rows. Lightning writes a step row every ``log_every_n_steps`` (50)
  optimizer steps, so an epoch of fewer batches has no train-loss row and no train-loss point;
* **val loss** and **the monitored metric** (the ModelCheckpoint's ``monitor``, ``val/acc`` by default): the last
  row of the epoch that holds them (one validation per epoch unless ``val_check_interval`` asks for more).

A missing value is NaN (not plotted). Epochs are numbered as Lightning numbers them (from 0), like the run's
``best: epoch N`` line. Plotting needs matplotlib (``pip install textclf[report]``); without it no PNG is drawn and
a line says how to get it.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("textclf")

DEFAULT_MONITOR = "val/acc"
TRAIN_EPOCH_KEYS = ("train/loss_epoch",)
TRAIN_STEP_KEYS = ("train/loss", "train/loss_step")


@dataclass
class LearningCurves:
    """Per-epoch values of a run.

    Attributes:
        epochs: the epochs that have at least one value, increasing (Lightning's numbers, from 0).
        series: ``{"train/loss": [...], "val/loss": [...], monitor: [...]}``, each aligned with ``epochs``; NaN
            where an epoch has no value.
        monitor: the monitored metric's name (a key of ``series``).
    """

    epochs: list[int] = field(default_factory=list)
    series: dict[str, list[float]] = field(default_factory=dict)
    monitor: str = DEFAULT_MONITOR

    def has_points(self) -> bool:
        """Whether any series has a finite value."""
        return any(not math.isnan(v) for values in self.series.values() for v in values)


def read_learning_curves(metrics_csv: str | Path, monitor: str | None = None) -> LearningCurves:
    """The per-epoch curves of a ``metrics.csv`` written by Lightning's CSVLogger (see the module docstring).

    Args:
        metrics_csv: the file; its rows carry an ``epoch`` column and the logged values (empty cells: not logged).
        monitor: the metric to follow besides the losses (default ``val/acc``); ``val/loss`` adds no third series.

    Raises:
        OSError: the file cannot be read.
    """
    monitor = monitor or DEFAULT_MONITOR
    train_epoch: dict[int, float] = {}
    train_steps: dict[int, list[float]] = {}
    last: dict[str, dict[int, float]] = {"val/loss": {}, monitor: {}}
    with Path(metrics_csv).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            epoch = _number(row.get("epoch"))
            if epoch is None:
                continue
            number = int(epoch)
            for key in TRAIN_EPOCH_KEYS:
                value = _number(row.get(key))
                if value is not None:
                    train_epoch[number] = value
            for key in TRAIN_STEP_KEYS:
                value = _number(row.get(key))
                if value is not None:
                    train_steps.setdefault(number, []).append(value)
            for key, values in last.items():
                value = _number(row.get(key))
                if value is not None:
                    values[number] = value
    train = {epoch: sum(values) / len(values) for epoch, values in train_steps.items()}
    train.update(train_epoch)
    columns = {"train/loss": train, **last}
    epochs = sorted({epoch for values in columns.values() for epoch in values})
    series = {key: [values.get(epoch, math.nan) for epoch in epochs] for key, values in columns.items()}
    return LearningCurves(epochs, series, monitor)


def _number(cell: str | None) -> float | None:
    """A CSV cell as a finite-or-not float; None for an empty or missing cell."""
    if cell is None or not cell.strip():
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def plot_learning_curves(curves: LearningCurves, path: str | Path) -> bool:
    """Draw the losses (left) and the monitored metric (right) per epoch into a PNG.

    Returns:
        True when ``path`` was written; False (and a logged line saying why) without matplotlib or without any
        value to plot.
    """
    if not curves.has_points():
        log.info("no learning_curves.png: metrics.csv holds no per-epoch values")
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.info("no learning_curves.png: matplotlib is not installed (pip install textclf[report] adds the plot)")
        return False
    fig, (losses, metric) = plt.subplots(1, 2, figsize=(10, 4))
    for key, style in (("train/loss", "o-"), ("val/loss", "s-")):
        _plot(losses, curves.epochs, curves.series[key], style, key)
    losses.set_title("loss per epoch")
    losses.set_ylabel("loss")
    if all(math.isnan(v) for v in curves.series["train/loss"]):
        losses.text(0.5, 0.02, "no train/loss rows (under 50 batches per epoch)", transform=losses.transAxes,
                    ha="center", fontsize=8, color="grey")  # fmt: skip
    _plot(metric, curves.epochs, curves.series[curves.monitor], "o-", curves.monitor)
    metric.set_title(f"{curves.monitor} per epoch (monitored)")
    metric.set_ylabel(curves.monitor)
    for axes in (losses, metric):
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        if curves.epochs and len(curves.epochs) <= 30:
            axes.set_xticks(curves.epochs)
        handles, _ = axes.get_legend_handles_labels()
        if handles:
            axes.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _plot(axes: object, epochs: list[int], values: list[float], style: str, label: str) -> None:
    """One series, its missing (NaN) epochs left out; nothing when it has no value."""
    points = [(e, v) for e, v in zip(epochs, values, strict=True) if not math.isnan(v)]
    if points:
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, style, label=label)  # type: ignore[attr-defined]


def write_learning_curves(directory: str | Path, metrics_csv: str | Path | None, monitor: str | None) -> Path | None:
    """``learning_curves.png`` in ``directory`` from ``metrics_csv``; returns it, or None (a logged line says why).

    None when there is no metrics.csv (another logger than CSVLogger: the curves need it), when it holds no
    per-epoch values, or without matplotlib.
    """
    if metrics_csv is None or not Path(metrics_csv).is_file():
        log.info("no learning_curves.png: the run has no metrics.csv (the curves are read from the CSV logger's file)")
        return None
    path = Path(directory) / "learning_curves.png"
    return path if plot_learning_curves(read_learning_curves(metrics_csv, monitor), path) else None

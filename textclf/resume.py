"""Resumable training: a random stream per batch, ``last.ckpt`` on SIGTERM, and metrics.csv kept across a resume.

:class:`Resumable` (in ``recipes/_base/trainer.yaml``) makes a run that is stopped and resumed with ``--ckpt_path``
end exactly as an uninterrupted one on the CPU (same seed): with :class:`~textclf.data.batching.BucketLoader`, which
resumes at the batch where the checkpoint was written, the checkpoint holds every state the rest of the run depends
on. Where ``--ckpt_path last`` is found is :mod:`textclf.runconfig`'s job (:func:`find_last`).
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from textclf.checkpoint import check_compatible, check_state_shapes, read_checkpoint
from textclf.data.batching import BucketLoader
from textclf.errors import TextclfError

log = logging.getLogger(__name__)

STATE_KEY = "textclf_resume"  # checkpoint section: {"metrics_rows": data rows of metrics.csv when it was written}
SIGTERM_EXIT = 143  # 128 + SIGTERM, the status of a process stopped by SIGTERM


class Resumable(Callback):
    """Exact resumption: per-batch random streams, SIGTERM handling, metrics.csv rows that match the checkpoint.

    * Before every training batch, torch's global generator is seeded from ``(seed, rank, epoch, batch index)``, so
      dropout masks depend on nothing else: not on how many generators DataLoader iterators drew from, not on
      ``num_workers``, not on where a run was resumed.
    * On SIGTERM the batch in progress finishes (a validation in progress finishes too), ``last.ckpt`` is written
      next to the ModelCheckpoint's files, and fit ends with :class:`SIGTERMException` (``textclf fit`` exits 143).
    * Every checkpoint first flushes the loggers and records how many rows metrics.csv holds; a resumed run cuts the
      file back to those rows (a killed run may have flushed rows past its last checkpoint).

    Args:
        seed: seed of the per-batch streams; default: the run's seed (``seed_everything``), else one drawn once. The
            seed is saved in checkpoints, and a resumed run keeps the saved one.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._deferred_sigterm = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Take the run's seed (``PL_GLOBAL_SEED``) unless one was given, else draw one."""
        if self.seed is None:
            env = os.environ.get("PL_GLOBAL_SEED")
            self.seed = int(env) if env else int(torch.randint(0, 2**31 - 1, ()).item())

    def state_dict(self) -> dict[str, Any]:
        """``{"seed": seed of the per-batch streams}``."""
        return {"seed": self.seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep the seed the checkpointed run used."""
        self.seed = int(state_dict["seed"])

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Seed torch's global generator for this batch (:func:`batch_seed`)."""
        torch.manual_seed(batch_seed(self.seed or 0, trainer.global_rank, trainer.current_epoch, batch_idx))

    # ---- SIGTERM: finish the validation in progress, then save ----------------------------------------------------

    def on_validation_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        """Hold back a SIGTERM until validation ends: a checkpoint written mid-validation could not resume exactly."""
        if trainer.state.fn == "fit" and trainer.received_sigterm:
            trainer._signal_connector.received_sigterm = False
            self._deferred_sigterm = True

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Raise the SIGTERM held back during validation again (the loop stops after this batch)."""
        if self._deferred_sigterm:
            trainer._signal_connector.received_sigterm = True
            self._deferred_sigterm = False

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        """SIGTERM or Ctrl-C (SIGINT) during fit: write last.ckpt (:func:`save_last`) and say where it is.

        SIGTERM lets the batch in progress finish, so the resume is exact; Ctrl-C interrupts it, and the batches
        whose optimizer step Lightning counted are kept (a step interrupted after it ran is trained again).
        """
        signal = {SIGTERMException: "SIGTERM", KeyboardInterrupt: "Ctrl-C"}.get(type(exception))
        if signal and trainer.state.fn == "fit":
            saved = save_last(trainer)
            where = position(trainer)
            if trainer.is_global_zero:
                unsaved = "not saved (weights not finite, or checkpointing off)"
                kept = f"saved {saved}; continue with --ckpt_path last" if saved else unsaved
                log.warning("%s: training stopped after %s; %s", signal, where, kept)

    # ---- metrics.csv rows that match the checkpoint ----------------------------------------------------------------

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        """Flush the loggers, then record in the checkpoint how many rows metrics.csv holds."""
        for logger in trainer.loggers:
            logger.save()
        path = metrics_file(trainer)
        rows = _data_rows(path) if path is not None else None
        checkpoint[STATE_KEY] = {"metrics_rows": rows}

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        """Resuming a fit: cut metrics.csv back to the rows it held when the checkpoint was written."""
        if trainer.state.fn != "fit":  # test/validate of a checkpoint restore callbacks too
            return
        rows = checkpoint.get(STATE_KEY, {}).get("metrics_rows")
        path = metrics_file(trainer)
        if rows is not None and path is not None and trainer.is_global_zero and path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            path.write_text("".join(lines[: 1 + int(rows)]), encoding="utf-8")


def batch_seed(seed: int, rank: int, epoch: int, batch_idx: int) -> int:
    """The seed of one training batch's random stream: a hash of its coordinates (64 bits)."""
    entropy = [seed & 0xFFFFFFFF, rank, epoch, batch_idx]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


def position(trainer: L.Trainer) -> str:
    """``epoch E, global step S, batch B`` of the batch in progress (B counts from 0 within the epoch)."""
    batch = trainer.fit_loop.epoch_loop.batch_progress.current.ready - 1
    return f"epoch {trainer.current_epoch}, global step {trainer.global_step}, batch {max(batch, 0)}"


def last_path(trainer: L.Trainer) -> Path | None:
    """Where ``last.ckpt`` goes: the first ModelCheckpoint's folder; None when checkpointing is off (no callback)."""
    callback = trainer.checkpoint_callback
    if not isinstance(callback, ModelCheckpoint):
        return None
    if callback.dirpath:
        name = callback.CHECKPOINT_NAME_LAST.replace("{", "").replace("}", "")
        return Path(callback.dirpath) / f"{name}{callback.FILE_EXTENSION}"
    return Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints" / "last.ckpt"


def save_last(trainer: L.Trainer) -> str | None:
    """Write ``last.ckpt`` for the batches trained so far; None (nothing written) when a weight is not finite.

    Nothing is written either when the trainer keeps no checkpoints (``enable_checkpointing=False``): not where
    nobody asked for a file.

    The training loader's position is set to the batches whose optimizer step ran (Lightning's ``processed``
    count), so a stop raised before an optimizer step resumes at that batch.
    """
    path = last_path(trainer)
    model = trainer.lightning_module
    if path is None:
        return None
    finite = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    if not finite:
        return None
    loader = trainer.fit_loop._combined_loader.iterables if trainer.fit_loop._combined_loader else None
    if isinstance(loader, BucketLoader):
        loader.position = trainer.fit_loop.epoch_loop.batch_progress.current.processed  # type: ignore[attr-defined]
    trainer.save_checkpoint(path)
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint):
        callback.last_model_path = str(path)
    return str(path)


# ---- the run directory of a resumed run ------------------------------------------------------------------------


def metrics_file(trainer: L.Trainer) -> Path | None:
    """metrics.csv of the trainer's CSVLogger (None without one)."""
    logger = next((lg for lg in trainer.loggers if isinstance(lg, CSVLogger)), None)
    return None if logger is None else Path(logger.log_dir) / "metrics.csv"


def keep_metrics(trainer: L.Trainer) -> None:
    """Before a resumed fit: open the CSVLogger's writer without losing the rows metrics.csv already holds.

    Lightning's writer deletes an existing metrics.csv when it opens; the rows are put back and the writer's
    columns set to the file's, so later rows are appended (``Resumable`` cuts them back to the checkpoint's).
    """
    path = metrics_file(trainer)
    if path is None or not path.is_file() or not trainer.is_global_zero:
        return
    text = path.read_text(encoding="utf-8")
    logger = next(lg for lg in trainer.loggers if isinstance(lg, CSVLogger))
    with warnings.catch_warnings():  # "Previous log files ... will be deleted": not these, they are put back
        warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
        writer = logger.experiment
    path.write_text(text, encoding="utf-8")
    header = text.splitlines()[0] if text else ""
    writer.metrics_keys = [key for key in header.split(",") if key]


def _data_rows(path: Path) -> int | None:
    if not path.is_file():
        return 0
    with path.open(encoding="utf-8") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


VERSION = re.compile(r"version_(\d+)")


def find_last(run_root: Path, earlier: Sequence[Path] = ()) -> Path:
    """``<run_root>/version_N/checkpoints/last.ckpt`` of the highest N that has one.

    When ``run_root`` has none, the first of the ``earlier`` run roots that has one (where an earlier textclf
    version named this recipe's runs, :func:`textclf.runconfig.legacy_run_name`); the run then continues there.

    Raises:
        TextclfError: no version under ``run_root`` (or ``earlier``) has a last.ckpt.
    """
    for root in (run_root, *(root for root in earlier if root != run_root)):
        found: list[tuple[int, Path]] = []
        for folder in root.glob("version_*"):
            match = VERSION.fullmatch(folder.name)
            if match and (folder / "checkpoints" / "last.ckpt").is_file():
                found.append((int(match.group(1)), folder / "checkpoints" / "last.ckpt"))
        if found:
            if root != run_root:
                log.info("--ckpt_path last: no run under %s; continuing the run of %s", run_root, root)
            return max(found)[1]
    raise TextclfError(
        f"--ckpt_path last: no {run_root}/version_*/checkpoints/last.ckpt to resume from; "
        "start the run without --ckpt_path"
    )


def check_resume(path: str, model: Any, loader_settings: dict[str, int]) -> None:
    """Before a resumed fit writes anything (config.yaml, metrics.csv): refuse a checkpoint it cannot continue.

    Args:
        path: the checkpoint ``--ckpt_path`` names.
        model: the model this command built.
        loader_settings: :meth:`~textclf.data.batching.BucketBatchSampler.settings` of this command's training data.

    Raises:
        TextclfError: other labels or vocabulary, weights that do not fit, or other data settings than the run's
            (another batch size, bucket size, seed or number of texts would skip or repeat texts of the epoch).
    """
    content = read_checkpoint(path)
    check_compatible(content["textclf"], model.labels, model.vocab, path)
    check_state_shapes(model, content["state_dict"], path)
    loops = content.get("loops", {}).get("fit_loop", {}).get("state_dict", {}).get("combined_loader") or [{}]
    saved = loops[0] if isinstance(loops[0], dict) else {}
    for key, value in loader_settings.items():
        if key in saved and saved[key] != value:
            what = "number of training texts" if key == "texts" else f"data.{key}"
            raise TextclfError(
                f"{path}: the run used {what} {saved[key]}, this command {value}: resuming would skip or repeat "
                "training texts; resume with the run's settings (its config.yaml) or start a new run"
            )

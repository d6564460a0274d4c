"""Where ``fit`` and ``test`` write ``test_metrics.json`` and the evaluation report, and which examples it covers.

A run writes only inside its run directory (:func:`run_directory`): the logger's folder
(``runs/<run name>/version_N``, :func:`textclf.runconfig.run_name`), else ``--trainer.default_root_dir`` when it is
stated, never the working directory by default. Nothing already there is replaced: when ``test_metrics.json`` or
``report/`` exists (written by an earlier run into the same folder), the new one takes the next free name
(``test_metrics.1.json``, ``report.1/``) and the log says so. A report is written into a staging folder and renamed
into place, so a crash leaves no half report under a report's name. The report covers exactly the test batches
that were scored (``--trainer.limit_test_batches``, ``--trainer.fast_dev_run``), so its numbers and the logged
test metrics describe the same examples.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from textclf.data.batching import TokenIdsDataset
from textclf.wording import counted

log = logging.getLogger("textclf")


def run_directory(trainer: Any, default_root_dir: str | None) -> Path | None:
    """The folder a run writes into: the logger's ``log_dir``, else ``default_root_dir`` when stated, else None.

    Lightning's own fallback, the working directory, is never taken: with no logger (``--trainer.logger false``,
    ``--trainer.fast_dev_run``) and no stated ``default_root_dir``, a run has no run directory. Call it on every
    process: under DDP ``trainer.log_dir`` is a collective.
    """
    from lightning.pytorch.loggers.logger import DummyLogger

    if any(not isinstance(logger, DummyLogger) for logger in trainer.loggers):
        log_dir = trainer.log_dir
        if log_dir:
            return Path(log_dir)
    return Path(default_root_dir) if default_root_dir else None


def checkpoint_run_directory(checkpoint: str | Path) -> Path:
    """The run directory of a checkpoint: the parent of its ``checkpoints/`` folder, else its own folder."""
    parent = Path(checkpoint).resolve().parent
    return parent.parent if parent.name == "checkpoints" else parent


def free_name(path: Path) -> Path:
    """``path`` when nothing is there, else the first free ``name.N.suffix`` (files) or ``name.N`` (folders)."""
    if not path.exists():
        return path
    number = 1
    while True:
        candidate = path.with_name(f"{path.stem}.{number}{path.suffix}" if path.suffix else f"{path.name}.{number}")
        if not candidate.exists():
            return candidate
        number += 1


def write_new_json(path: Path, content: dict[str, Any]) -> Path:
    """Write ``content`` to ``path``, or to :func:`free_name` of it when it exists (never replaced); returns where.

    The file is created exclusively (``open(..., "x")``), so two processes never write the same name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        target = free_name(path)
        try:
            with target.open("x", encoding="utf-8") as handle:
                handle.write(json.dumps(content, indent=2) + "\n")
        except FileExistsError:
            continue
        if target != path:
            log.info("%s exists: written to %s instead", path, target)
        return target


def publish_folder(write: Any, target: Path) -> Path:
    """Let ``write(folder)`` fill a staging folder beside ``target``, then rename it to ``target`` or a free name.

    Returns the folder written. An existing ``target`` with files is never replaced or added to (an empty one is);
    an error while writing leaves no staging folder and nothing under ``target``'s names.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        write(staging)
        while True:
            final = target if target.is_dir() and not any(target.iterdir()) else free_name(target)
            try:
                staging.rename(final)  # atomic; fails on a folder that holds files
            except OSError:
                if not final.exists():
                    raise
                continue
            break
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final != target:
        log.info("%s exists: report written to %s instead", target, final)
    return final


def tested_indices(trainer: Any) -> np.ndarray | None:
    """Indices of the test examples in the batches ``trainer.test`` scored, or None when it scored them all.

    Under ``limit_test_batches`` or ``fast_dev_run`` the test loop runs the first batches of each process's
    test loader; they are the same batches here (evaluation batches are in a fixed, length-sorted order). Under
    DDP, the batches of every rank are taken (their samplers are copied with the other ranks' numbers).
    """
    limits = getattr(trainer, "num_test_batches", None) or [math.inf]
    loaders = trainer.test_dataloaders
    loader = loaders[0] if isinstance(loaders, list | tuple) else loaders
    sampler = getattr(loader, "batch_sampler", None)
    limit = limits[0]
    if sampler is None or limit == math.inf or limit >= len(sampler):
        return None
    indices: set[int] = set()
    for rank_sampler in _rank_samplers(sampler, trainer.world_size):
        for batch in islice(iter(rank_sampler), int(limit)):
            indices.update(int(i) for i in batch)
    return np.array(sorted(indices), dtype=np.int64)


def _rank_samplers(sampler: Any, world_size: int) -> Iterator[Any]:
    if world_size <= 1 or not hasattr(sampler, "rank"):
        yield copy.copy(sampler)  # a copy: iterating must not move the loader's own sampler
        return
    for rank in range(world_size):
        other = copy.copy(sampler)
        other.rank = rank
        yield other


def subset(dataset: TokenIdsDataset, indices: np.ndarray) -> TokenIdsDataset:
    """The examples ``indices`` of ``dataset`` (in that order), as a dataset of their own."""
    starts, ends = dataset.offsets[indices], dataset.offsets[indices + 1]
    ids = [np.asarray(dataset.ids[start:end]) for start, end in zip(starts.tolist(), ends.tolist(), strict=True)]
    offsets = np.zeros(len(indices) + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=offsets[1:])
    flat = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    targets = None if dataset.targets is None else np.asarray(dataset.targets)[indices]
    return TokenIdsDataset(flat, offsets, targets)


def write_test_outputs(
    trainer: Any,
    datamodule: Any,
    model: Any,
    *,
    results: Sequence[Mapping[str, float]] | None,
    checkpoint: str | None,
    report_dir: str | None,
    default_root_dir: str | None,
) -> None:
    """After ``trainer.test``: write ``test_metrics.json`` (when ``results`` are given) and the evaluation report.

    Call it on every process (the run directory is a collective under DDP); only global rank 0 writes.

    Args:
        trainer: the trainer that just tested ``model``.
        datamodule: the :class:`textclf.data.base.TextDataModule` it tested on.
        model: the tested model.
        results: what ``trainer.test`` returned (``fit``); None writes no ``test_metrics.json`` (``test``).
        checkpoint: the checkpoint tested, recorded in both files (None: the model as trained).
        report_dir: ``--report_dir``: the report's folder (a free ``name.N`` when it holds files).
        default_root_dir: ``--trainer.default_root_dir`` as stated (None when unset).

    The report goes to ``report_dir``, else ``report/`` in the run directory; with ``--trainer.logger=false``, in
    the tested checkpoint's run directory; with none of them there is no report (a logged note).

    Logged (``textclf`` logger): ``test: loss 0.2857, acc 0.9120, ... (500 texts)``, then after ``fit`` where
    everything is (``written to RUN_DIR: checkpoints/best.ckpt, checkpoints/last.ckpt, test_metrics.json, report/``),
    after ``test`` where the report is.
    """
    checkpoint = checkpoint if checkpoint and Path(checkpoint).is_file() else None
    run_dir = run_directory(trainer, default_root_dir)
    if not trainer.is_global_zero:
        return
    written: list[Path | None] = []
    if results:
        scores = {k: float(v) for k, v in results[0].items()}
        tested = tested_indices(trainer)
        count = len(datamodule.split("test")) if tested is None else len(tested)
        log.info("test: %s (%s)", ", ".join(f"{k.removeprefix('test/')} {v:.4f}" for k, v in scores.items()),
                 counted(count, "text"))  # fmt: skip
        if run_dir is not None:
            written.append(write_new_json(run_dir / "test_metrics.json", {"checkpoint": checkpoint, **scores}))
        else:
            log.info("no test_metrics.json: no logger and no --trainer.default_root_dir to say where it goes")
    directory: Path | None = None
    if report_dir:
        directory = Path(report_dir)
    elif trainer.loggers and run_dir is not None:  # fast_dev_run's DummyLogger: the stated default_root_dir
        directory = run_dir / "report"
    elif checkpoint:  # --trainer.logger=false
        directory = checkpoint_run_directory(checkpoint) / "report"
    if directory is None:
        log.info("no evaluation report: no logger, no checkpoint and no --report_dir to say where it goes")
    else:
        curves = learning_curves_source(trainer) if results else None
        written.append(write_split_report(trainer, datamodule, model, directory, checkpoint, curves))
    if results:  # fit: where everything is
        best = Path(checkpoint) if checkpoint else None
        log.info("%s", outputs_line(run_dir, [best, _last_checkpoint(trainer), *written]))
    elif directory is not None:
        log.info("evaluation report: %s", written[-1])


def outputs_line(run_dir: Path | None, paths: Sequence[Path | None]) -> str:
    """``written to RUN_DIR: checkpoints/best.ckpt, checkpoints/last.ckpt, test_metrics.json, report/``.

    Paths inside ``run_dir`` are shown relative to it, the others whole; folders end with ``/``.
    """
    shown = []
    for path in paths:
        if path is None:
            continue
        try:
            name = path.resolve().relative_to(run_dir.resolve()).as_posix() if run_dir is not None else str(path)
        except ValueError:
            name = str(path)
        shown.append(name + ("/" if path.is_dir() else ""))
    return f"written to {run_dir}: {', '.join(shown)}" if run_dir is not None else f"written: {', '.join(shown)}"


def _last_checkpoint(trainer: Any) -> Path | None:
    """last.ckpt of the run, when it exists."""
    from textclf.resume import last_path

    path = last_path(trainer)
    return path if path is not None and path.is_file() else None


def learning_curves_source(trainer: Any) -> tuple[Path | None, str | None]:
    """The run's metrics.csv (flushed; None without a CSVLogger) and the ModelCheckpoint's monitor (or None)."""
    from textclf.resume import metrics_file

    for logger in trainer.loggers:
        logger.save()
    return metrics_file(trainer), getattr(trainer.checkpoint_callback, "monitor", None)


def write_split_report(
    trainer: Any,
    datamodule: Any,
    model: Any,
    directory: Path,
    checkpoint: str | None,
    curves: tuple[Path | None, str | None] | None = None,
) -> Path:
    """Predict the tested examples of the test split again and write their report (see :func:`write_test_outputs`).

    ``curves`` (after ``fit``): the run's metrics.csv and monitored metric, drawn as ``learning_curves.png``
    (:mod:`textclf.curves`).

    Returns:
        The report's folder (``directory``, or a free ``name.N`` beside it).
    """
    from textclf.curves import write_learning_curves
    from textclf.data.groups import meta_groups
    from textclf.inference import predict_proba
    from textclf.report import write_report
    from textclf.sequence_inference import predict_split

    split = datamodule.split("test")
    assert split.targets is not None
    sequential = getattr(model, "windowing", None) is not None  # a context head: whole groups, never a subset
    indices = None if sequential else tested_indices(trainer)
    examples = split if indices is None else subset(split, indices)
    device, autocast = trainer.strategy.root_device, trainer.precision_plugin.forward_context
    if sequential:
        groups = meta_groups(datamodule.split_meta("test"), f"{datamodule} test")
        y_prob = predict_split(model, split, groups, datamodule.eval_batch_size, device=device, autocast=autocast)
    else:
        y_prob = predict_proba(model, examples, datamodule.eval_batch_size, device=device, autocast=autocast)
    extra: dict[str, Any] = {"checkpoint": checkpoint}
    if indices is not None:
        extra["tested"] = f"{len(indices)} of {counted(len(split), 'test example')} (limit_test_batches / fast_dev_run)"
    texts = datamodule.split_texts("test")

    targets = examples.targets
    assert targets is not None

    def write(folder: Path) -> None:
        write_report(folder, model.task, targets, y_prob, texts, extra, model.label_thresholds(), indices=indices)
        if curves is not None:
            write_learning_curves(folder, *curves)

    return publish_folder(write, directory)

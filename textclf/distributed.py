"""Multi-process runs (DDP): build caches once per node, and collect predictions once each, in input order.

Under ``torchrun`` or SLURM every process runs the whole command, so every process instantiates the data module
and asks for the prepared data and the vector matrix before any process group exists. Local rank 0 builds
those caches; the other processes on the node wait for the file that marks the cache complete (see
:func:`builds_here`). See docs/distributed.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Sampler

from textclf.errors import TextclfError

WAIT_TIMEOUT_ENV = "TEXTCLF_WAIT_TIMEOUT"
DEFAULT_WAIT_TIMEOUT = 3600.0  # seconds the other local ranks wait for local rank 0's caches


def local_rank() -> int:
    """This process's rank on its node: ``$LOCAL_RANK`` (torchrun, Lightning), else ``$SLURM_LOCALID``, else 0."""
    for name in ("LOCAL_RANK", "SLURM_LOCALID"):
        value = os.environ.get(name, "")
        if value:
            try:
                return int(value)
            except ValueError:
                raise TextclfError(f"environment variable {name}={value!r} is not an integer") from None
    return 0


def wait_timeout() -> float:
    """Seconds a process waits for local rank 0's cache: ``$TEXTCLF_WAIT_TIMEOUT``, default 3600."""
    value = os.environ.get(WAIT_TIMEOUT_ENV, "")
    try:
        return float(value) if value else DEFAULT_WAIT_TIMEOUT
    except ValueError:
        raise TextclfError(f"environment variable {WAIT_TIMEOUT_ENV}={value!r} is not a number of seconds") from None


def wait_for(path: Path, what: str, timeout: float | None = None, poll: float = 0.2) -> None:
    """Return once ``path`` exists; a one-line TextclfError after ``timeout`` s (default :func:`wait_timeout`)."""
    timeout = wait_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() >= deadline:
            raise TextclfError(
                f"local rank {local_rank()} waited {timeout:g} s for {what} ({path}) that local rank 0 builds; "
                f"see local rank 0's error, or raise ${WAIT_TIMEOUT_ENV}"
            )
        time.sleep(min(poll, max(deadline - time.monotonic(), 0.0)))


def builds_here(marker: Path, what: str) -> bool:
    """True on local rank 0 (it builds the cache ``marker`` marks complete); other local ranks wait for ``marker``.

    On a local rank other than 0, wait until ``marker`` exists (see :func:`wait_for`) and return False.

    Caches are written to a staging name and renamed, so an existing marker means a complete cache. With a cache
    folder shared by several nodes, each node's rank 0 builds it and the first rename wins.
    """
    if local_rank() == 0:
        return True
    wait_for(marker, what)
    return False


# ---- prediction --------------------------------------------------------------------------------------------


class PredictionData(L.LightningDataModule):
    """Serves a :class:`~textclf.data.batching.TokenIdsDataset` to ``trainer.predict``, sharded across ranks.

    Each rank predicts disjoint, length-sorted batches; every text is predicted exactly once (the trainer needs
    ``use_distributed_sampler=False``). Use with :class:`OrderedPredictions` to get the probabilities back in
    input order.

    Args:
        dataset: the texts to predict, e.g. ``model.encode_texts(texts)``.
        batch_size: texts per batch.
        num_workers: DataLoader worker processes.
    """

    def __init__(self, dataset: Any, batch_size: int = 256, num_workers: int = 0) -> None:
        super().__init__()
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_workers = num_workers

    def predict_dataloader(self) -> DataLoader:
        """Length-sorted batches of this rank's shard."""
        from textclf.data.batching import BucketBatchSampler, collate_batch

        trainer = self.trainer
        sampler = BucketBatchSampler(
            self.dataset.lengths,
            self.batch_size,
            shuffle=False,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
        )
        return DataLoader(
            self.dataset,
            batch_sampler=_Batches(list(sampler)),
            collate_fn=collate_batch,  # type: ignore[arg-type]
            num_workers=self.num_workers,
        )


class _Batches(Sampler[list[int]]):
    """Fixed batches of indices, for ``trainer.predict``.

    Unlike BucketBatchSampler it has no ``batch_size``/``drop_last``, from which Lightning would try to rebuild
    it around a sampler of its own for prediction.
    """

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def gather_predictions(trainer: L.Trainer, outputs: Sequence[dict[str, Any]]) -> np.ndarray:
    """Every rank's ``predict_step`` outputs merged into ``(n, num_labels)`` probabilities, row i = input i.

    Call it on every rank (it is a collective): ``outputs`` are this rank's dicts with ``index`` (batch,) and
    ``probs`` (batch, num_labels). Inputs predicted twice (a sampler that pads by repeating, like Lightning's
    DistributedSampler) are kept once; a missing input is an error.
    """
    index = np.concatenate([_numpy(o["index"], np.int64).reshape(-1) for o in outputs] or [np.zeros(0, np.int64)])
    probs_list = [_numpy(o["probs"], np.float32) for o in outputs]
    width = probs_list[0].shape[1] if probs_list else 0
    probs = np.concatenate(probs_list) if probs_list else np.zeros((0, width), np.float32)
    if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
        index, probs = _all_gather_rows(trainer, index, probs)
    keep = index >= 0
    index, probs = index[keep], probs[keep]
    unique, first = np.unique(index, return_index=True)  # sorted by index; first occurrence of each
    if len(unique) and unique[-1] != len(unique) - 1:
        missing = np.setdiff1d(np.arange(unique[-1] + 1), unique)
        raise RuntimeError(f"the predictions miss {len(missing)} input(s), the first being input {missing[0]}")
    return probs[first]


def _numpy(value: Any, dtype: type) -> np.ndarray:
    """A tensor (any device; bf16 probabilities too) or array as a numpy array of ``dtype``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = (value.float() if dtype is np.float32 else value).numpy()
    return np.asarray(value, dtype=dtype)


def _all_gather_rows(trainer: L.Trainer, index: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ranks' rows (unequal counts allowed): pad to the longest rank with index -1, gather, concatenate."""
    device = trainer.strategy.root_device  # NCCL gathers GPU tensors, gloo CPU ones

    def gather(tensor: torch.Tensor) -> torch.Tensor:  # (...) -> (world * ...)
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    shapes = gather(torch.tensor([[len(index), probs.shape[1]]], dtype=torch.int64, device=device)).cpu()
    rows, width = int(shapes[:, 0].max()), int(shapes[:, 1].max())  # shapes: (world, 2)
    padded_index = torch.full((rows,), -1, dtype=torch.int64, device=device)
    padded_probs = torch.zeros((rows, width), dtype=torch.float32, device=device)
    if len(index):
        padded_index[: len(index)] = torch.from_numpy(index).to(device)
        padded_probs[: len(index)] = torch.from_numpy(probs).to(device)
    return gather(padded_index).cpu().numpy(), gather(padded_probs).cpu().numpy()  # (world * rows,), (..., width)


class OrderedPredictions(BasePredictionWriter):
    """Collects ``trainer.predict`` outputs on every rank and merges them: each input once, in input order.

    After ``trainer.predict(model, datamodule=PredictionData(...), return_predictions=False)``, :attr:`probs`
    holds the ``(n, num_labels)`` probabilities on every rank, row i for input i, and global rank 0 has written
    them to ``path`` (``.npy``) when one is given. Each rank keeps only its own rows (as numpy, on the CPU)
    until the end of the epoch, when the ranks gather them.

    One prediction dataloader per ``trainer.predict`` call (the rows are merged by their ``index``).

    Args:
        path: where global rank 0 saves the merged probabilities (``numpy.save``), or None.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(write_interval="batch_and_epoch")
        self.path = Path(path) if path is not None else None
        self.probs: np.ndarray | None = None
        self._outputs: list[dict[str, np.ndarray]] = []

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Start empty (the callback may serve several ``trainer.predict`` calls)."""
        self._outputs = []

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Keep this batch's ``index`` (batch,) and ``probs`` (batch, num_labels) on the CPU."""
        self._outputs.append(
            {"index": _numpy(prediction["index"], np.int64), "probs": _numpy(prediction["probs"], np.float32)}
        )

    def write_on_epoch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: Sequence[Any], batch_indices: Any
    ) -> None:
        """Gather every rank's rows into :attr:`probs`; global rank 0 saves them to ``path``."""
        self.probs = gather_predictions(trainer, self._outputs)
        self._outputs = []
        if self.path is not None and trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.save(self.path, self.probs)

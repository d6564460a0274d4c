"""Batches of token ids: a flat, memory-friendly dataset and a length-bucketing batch sampler."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class TokenIdsDataset(Dataset[dict[str, torch.Tensor]]):
    """Numericalised texts stored flat: ``ids[offsets[i]:offsets[i+1]]`` are the token ids of text ``i``.

    Fetching goes through ``__getitems__`` (one call per batch, vectorised padding), so a batch costs a few numpy
    operations instead of one Python call per text.

    Args:
        ids: all token ids, concatenated (int32 or int64).
        offsets: ``(n + 1,)`` start offsets, ``offsets[0] == 0``.
        labels: ``(n,)`` class indices, ``(n, num_labels)`` multi-hot rows (multi-label data), or None for
            unlabelled texts.
    """

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, labels: np.ndarray | None = None) -> None:
        self.ids = ids
        self.offsets = offsets.astype(np.int64, copy=False)
        self.labels = labels
        self.lengths = np.diff(self.offsets)

    @classmethod
    def from_lists(cls, sequences: Sequence[Sequence[int]], labels: Sequence[int] | None = None) -> TokenIdsDataset:
        """Build from a list of id lists (used for prediction on raw texts)."""
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=int(offsets[-1]))
        return cls(flat, offsets, None if labels is None else np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Padded batch: token_ids (batch, max_len) with 0 as padding, lengths (batch,), index (batch,), labels.

        Labels are (batch,) int64 class indices, or (batch, num_labels) float32 multi-hot targets.
        """
        index = np.asarray(indices, dtype=np.int64)
        lengths = self.lengths[index]
        starts = self.offsets[index]
        max_len = int(lengths.max())
        positions = np.arange(max_len)
        valid = positions[None, :] < lengths[:, None]  # (batch, max_len)
        gather = np.where(valid, starts[:, None] + positions[None, :], 0)
        token_ids = np.where(valid, self.ids[gather], 0)
        batch = {
            "token_ids": torch.from_numpy(token_ids.astype(np.int64, copy=False)),
            "lengths": torch.from_numpy(lengths.copy()),
            "index": torch.from_numpy(index),
        }
        if self.labels is not None:
            dtype = np.float32 if self.labels.ndim == 2 else np.int64  # multi-hot rows or class indices
            batch["labels"] = torch.from_numpy(np.asarray(self.labels[index], dtype=dtype))
        return batch


def collate_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Identity collate: ``TokenIdsDataset.__getitems__`` already returns a padded batch."""
    return batch


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of texts of similar length, so little compute goes to padding.

    Training: shuffle, cut into chunks of ``batch_size * bucket_size`` texts, sort each chunk by length, cut into
    batches, shuffle the batches. Evaluation (``shuffle=False``): sort everything by length. Under DDP the batch
    list is split across ranks: each rank gets disjoint batches and the same number of them (the list is padded
    by repeating batches from its start when it does not divide evenly).

    Args:
        lengths: ``(n,)`` token count of every text.
        batch_size: texts per batch.
        shuffle: reshuffle every epoch (seeded by ``seed`` and the epoch; see :meth:`set_epoch`).
        seed: base seed of the shuffling.
        bucket_size: batches per sorted chunk; larger means less padding and less randomness.
        drop_last: drop the last, smaller batch of each chunk.
        num_replicas: number of DDP ranks.
        rank: this process's rank.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        bucket_size: int = 100,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_size = bucket_size
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch so each epoch has its own order."""
        self.epoch = epoch

    def _all_batches(self) -> list[np.ndarray]:
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return self._cut(order)
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.lengths))
        chunk = self.batch_size * self.bucket_size
        batches: list[np.ndarray] = []
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            batches.extend(self._cut(part[np.argsort(self.lengths[part], kind="stable")]))
        return [batches[i] for i in rng.permutation(len(batches))]

    def _cut(self, order: np.ndarray) -> list[np.ndarray]:
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def _my_batches(self) -> list[np.ndarray]:
        batches = self._all_batches()
        if self.num_replicas == 1 or not batches:
            return batches
        per_rank = -(-len(batches) // self.num_replicas)
        # Repeat batches from the start (cyclically: there may be fewer batches than ranks) to a multiple of the ranks.
        padded = [batches[i % len(batches)] for i in range(per_rank * self.num_replicas)]
        return padded[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        return (batch.tolist() for batch in self._my_batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        chunk = self.batch_size * self.bucket_size if self.shuffle else max(n, 1)
        sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
        rounding = (lambda k: k // self.batch_size) if self.drop_last else (lambda k: -(-k // self.batch_size))
        total = sum(rounding(k) for k in sizes)
        return -(-total // self.num_replicas)

"""Batches of token ids: a flat, memory-friendly dataset and a length-bucketing batch sampler."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from textclf.errors import TextclfError


class TokenIdsDataset(Dataset[dict[str, torch.Tensor]]):
    """Numericalised texts stored flat: ``ids[offsets[i]:offsets[i+1]]`` are the token ids of text ``i``.

    Fetching goes through ``__getitems__`` (one call per batch, vectorised padding), so a batch costs a few numpy
    operations instead of one Python call per text.

    Args:
        ids: all token ids, concatenated (int32 or int64).
        offsets: ``(n + 1,)`` start offsets, ``offsets[0] == 0``.
        targets: ``(n,)`` class indices, ``(n, num_labels)`` multi-hot rows (multi-label data), or None for
            unlabelled texts.
    """

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, targets: np.ndarray | None = None) -> None:
        self.ids = ids
        self.offsets = offsets.astype(np.int64, copy=False)
        self.targets = targets
        self.lengths = np.diff(self.offsets)

    @classmethod
    def from_lists(cls, sequences: Sequence[Sequence[int]], targets: Sequence[int] | None = None) -> TokenIdsDataset:
        """Build from a list of id lists (used for prediction on raw texts)."""
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter((i for s in sequences for i in s), dtype=np.int64, count=int(offsets[-1]))
        return cls(flat, offsets, None if targets is None else np.asarray(targets, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """Padded batch: token_ids (batch, max_len) with 0 as padding, lengths (batch,), index (batch,), targets.

        Targets are (batch,) int64 class indices, or (batch, num_labels) float32 multi-hot targets.
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
        if self.targets is not None:
            dtype = np.float32 if self.targets.ndim == 2 else np.int64  # multi-hot rows or class indices
            batch["targets"] = torch.from_numpy(np.asarray(self.targets[index], dtype=dtype))
        return batch


def collate_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Identity collate: ``TokenIdsDataset.__getitems__`` already returns a padded batch."""
    return batch


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of texts of similar length, so little compute goes to padding.

    Training: shuffle, cut into chunks of ``batch_size * bucket_size`` texts, sort each chunk by length, cut into
    batches, shuffle the batches. Evaluation (``shuffle=False``): sort everything by length.

    Under DDP (``num_replicas > 1``) batch ``i`` of that list goes to rank ``i % num_replicas``, so the ranks get
    disjoint batches. Training needs the same number of batches on every rank (each step all-reduces the gradients):
    when the count does not divide evenly, the largest batches are halved until it does (so every text is still
    trained on exactly once per epoch); when there are too few texts for that (batch size 1), the smallest batches
    are merged down to the multiple below instead (a merged batch exceeds the batch size); with ``drop_last`` the
    surplus batches are dropped; only with fewer texts than ranks are batches repeated. Evaluation keeps every text
    exactly once, so the metrics count each example once: ranks may get one batch more than others (Lightning's
    evaluation loops hold no per-step collectives), and batches are halved while there are fewer batches than ranks,
    so that no rank gets none (a rank without batches would skip the epoch-end metric sync and hang the others).
    Fewer texts than ranks is an error for evaluation.

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
        self._resume: tuple[int, int] | None = None  # (epoch, batches to skip) of a restored position

    def resume_at(self, epoch: int, batches: int) -> None:
        """Make the next pass over ``epoch`` start after its first ``batches`` batches (a mid-epoch resume).

        The pass is still seeded by ``(seed, epoch)``, so it yields exactly the batches an uninterrupted pass would
        have yielded from there on. A pass over another epoch forgets the request.
        """
        self.epoch = epoch
        self._resume = (epoch, batches)

    def settings(self) -> dict[str, int]:
        """What fixes the order of the batches besides the epoch (a resumed epoch needs the same)."""
        return {"texts": len(self.lengths), "batch_size": self.batch_size, "bucket_size": self.bucket_size,
                "seed": self.seed}  # fmt: skip

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch so each epoch has its own order."""
        self.epoch = epoch

    @property
    def sampler(self) -> BucketBatchSampler:
        """Itself: Lightning calls ``set_epoch`` on ``loader.batch_sampler.sampler``, not on the batch sampler."""
        return self

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
        replicas = self.num_replicas
        if replicas == 1 or not batches:
            return batches
        if not self.shuffle:
            if len(batches) < replicas:
                _halve_largest(batches, replicas - len(batches))
            if len(batches) < replicas:
                raise TextclfError(
                    f"cannot evaluate {sum(len(b) for b in batches)} texts on {replicas} ranks: every rank needs "
                    "at least one text; use fewer devices"
                )
            return batches[self.rank :: replicas]
        surplus = len(batches) % replicas
        if surplus and self.drop_last:
            batches = batches[: len(batches) - surplus]
        elif surplus:
            texts = sum(len(batch) for batch in batches)
            _halve_largest(batches, replicas - surplus)  # up to the next multiple of the ranks, if there are texts
            if len(batches) % replicas and texts >= replicas:  # too few to split that far: merge down to the one below
                _merge_smallest(batches, len(batches) % replicas)
            # Fewer texts than ranks: repeat batches from the start (cyclically) to a multiple of the ranks.
            per_rank = -(-len(batches) // replicas)
            batches = [batches[i % len(batches)] for i in range(per_rank * replicas)]
        return batches[self.rank :: replicas]

    def __iter__(self) -> Iterator[list[int]]:
        resume, self._resume = self._resume, None
        skip = resume[1] if resume is not None and resume[0] == self.epoch else 0
        return (batch.tolist() for batch in self._my_batches()[skip:])

    def __len__(self) -> int:
        n = len(self.lengths)
        chunk = self.batch_size * self.bucket_size if self.shuffle else max(n, 1)
        sizes = [min(chunk, n - start) for start in range(0, n, chunk)]
        rounding = (lambda k: k // self.batch_size) if self.drop_last else (lambda k: -(-k // self.batch_size))
        total = sum(rounding(k) for k in sizes)
        replicas = self.num_replicas
        if replicas == 1 or total == 0:
            return total
        if not self.shuffle:
            total = max(total, replicas)  # (or an error when iterated, with fewer texts than ranks)
            return len(range(self.rank, total, replicas))
        if self.drop_last or total % replicas == 0:
            return total // replicas
        splittable = n >= total + replicas - total % replicas  # enough texts to halve up to the next multiple
        return -(-total // replicas) if splittable or n < replicas else n // replicas


def _halve_largest(batches: list[np.ndarray], count: int) -> None:
    """Split the largest batch in two, in place, ``count`` times (or until every batch holds one text).

    The halves stay side by side; every text stays in exactly one batch; all ranks compute the same split.
    """
    for _ in range(count):
        largest = max(range(len(batches)), key=lambda i: len(batches[i]))  # first of the largest
        batch = batches[largest]
        if len(batch) < 2:
            return
        half = (len(batch) + 1) // 2
        batches[largest : largest + 1] = [batch[:half], batch[half:]]


def _merge_smallest(batches: list[np.ndarray], count: int) -> None:
    """Merge the smallest batch with its right neighbour (left for the last), in place, ``count`` times.

    For DDP training with too few texts to halve batches up to a multiple of the ranks (batch size 1): the merged
    batches exceed the batch size, but every text is still trained on exactly once.
    """
    for _ in range(count):
        smallest = min(range(len(batches)), key=lambda i: len(batches[i]))  # first of the smallest
        left = smallest if smallest + 1 < len(batches) else smallest - 1
        batches[left : left + 2] = [np.concatenate([batches[left], batches[left + 1]])]


class BucketLoader(DataLoader):
    """A DataLoader over a :class:`BucketBatchSampler` that can resume mid-epoch (Lightning's ``_Stateful``).

    :meth:`state_dict` is ``{"epoch", "batches"}``: the sampler's epoch and how many batches of it this loader has
    handed out (counted in the main process, so batches that workers prefetched do not count). Lightning saves it in
    every checkpoint; :meth:`load_state_dict` makes the next pass over that epoch skip those batches, so a resumed run
    trains on exactly the batches the interrupted one had left. A pass starts at its first ``next()``, not at
    ``iter()``: Lightning creates the iterator of a resumed run before it sets the sampler's epoch.
    """

    position = 0  # batches of the current pass handed out (including those skipped by a resume)

    def _bucket_sampler(self) -> BucketBatchSampler:
        sampler = self.batch_sampler
        if not isinstance(sampler, BucketBatchSampler):
            raise TypeError(f"BucketLoader needs a BucketBatchSampler, not {type(sampler).__name__}")
        return sampler

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        sampler = self._bucket_sampler()
        resume = sampler._resume
        self.position = resume[1] if resume is not None and resume[0] == sampler.epoch else 0
        for batch in super().__iter__():
            self.position += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "batches"}`` (the sampler's epoch, the batches of it handed out so far) and the order's settings.

        The settings (``texts``, ``batch_size``, ``bucket_size``, ``seed``) let :func:`textclf.resume.check_resume`
        refuse a resume that would skip or repeat texts.
        """
        sampler = self._bucket_sampler()
        return {"epoch": sampler.epoch, "batches": self.position, **sampler.settings()}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume at ``state`` (see :meth:`BucketBatchSampler.resume_at`)."""
        self._bucket_sampler().resume_at(int(state["epoch"]), int(state["batches"]))


def bucket_loader(
    dataset: TokenIdsDataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    bucket_size: int,
    num_workers: int = 0,
    shard: tuple[int, int] = (1, 0),
) -> DataLoader:
    """A resumable DataLoader of length-bucketed batches of ``dataset`` (:class:`BucketLoader`).

    Its worker processes are seeded from a generator of its own (seeded by ``seed``), not from torch's global
    random generator, so the number of workers changes neither the batches nor the global random stream that
    dropout draws from.

    Args:
        dataset: the prepared split.
        batch_size: texts per batch.
        shuffle: shuffle (training) or keep length order (evaluation).
        seed: seed of the shuffling.
        bucket_size: batches per length-sorted chunk when shuffling.
        num_workers: DataLoader worker processes.
        shard: ``(world size, global rank)``: this process's share of the batches under DDP.
    """
    sampler = BucketBatchSampler(
        dataset.lengths, batch_size, shuffle=shuffle, seed=seed, bucket_size=bucket_size,
        num_replicas=shard[0], rank=shard[1],
    )  # fmt: skip
    return BucketLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_batch,  # type: ignore[arg-type]
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )

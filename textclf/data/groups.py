"""Ordered groups of texts (conversations, documents) cut into windows, and batches of whole windows.

A model with a context head (:mod:`textclf.context`, ``TextClassifier(context=...)``) classifies every text of a
group with the texts around it. Groups can be long (an MRDA meeting has about 1,500 utterances), so each group is
cut into windows of ``window`` consecutive texts, the texts the window *scores*; the window also reads up to
``before`` texts of the same group before them and ``after`` texts after them as context only (they are scored by
their own window). Every text is scored exactly once, so losses and metrics count each text once. A feed-forward
context with ``before >= d1 + d2`` gives exactly the result of the whole group; an RNN context sees at most
``before`` + its window position earlier texts (truncated history, the usual truncated-BPTT trade).

Batches are lists of windows: the length-bucketing sampler of :mod:`textclf.data.batching` runs over windows (their
"length" is their number of texts), so shuffling, DDP shards and mid-epoch resume work as for plain texts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from textclf.data.batching import TokenIdsDataset
from textclf.errors import TextclfError

GROUP_KEYS = ("group", "conversation")  # the meta column naming each text's group, in the order looked for


@dataclass(frozen=True)
class Windowing:
    """How a sequential model cuts groups: ``window`` scored texts, read with ``before``/``after`` context texts."""

    window: int
    before: int
    after: int


def group_codes(keys: Sequence[Hashable], source: str = "the data") -> np.ndarray:
    """``(n,)`` int64 codes of each row's group, numbered in order of first appearance.

    Raises:
        TextclfError: a group's rows are not consecutive (naming the group and the rows, 1-based).
    """
    codes = np.empty(len(keys), dtype=np.int64)
    seen: dict[Hashable, int] = {}
    previous: Hashable = object()
    for row, key in enumerate(keys):
        if key != previous and key in seen:
            raise TextclfError(
                f"{source}: the texts of group {key!r} are not consecutive (row {row + 1} comes after another group); "
                "sort the rows by group, or give an order column"
            )
        codes[row] = seen.setdefault(key, len(seen))
        previous = key
    return codes


def meta_groups(meta: dict[str, list[Any]], source: str) -> np.ndarray:
    """Group codes from a prepared split's meta columns (``group``, or ``conversation`` of the dialog corpora).

    Raises:
        TextclfError: the split has no group column (naming ``source``), or a group's rows are not consecutive.
    """
    for key in GROUP_KEYS:
        if key in meta:
            return group_codes(meta[key], source)
    raise TextclfError(
        f"{source}: a sequential model needs groups (conversations, documents) but the data has none: use a corpus "
        "with groups (MRDA, SwDA) or set data.group_column (see docs/sequential.md)"
    )


def cut_windows(groups: np.ndarray, windowing: Windowing) -> np.ndarray:
    """``(windows, 4)`` int64 rows ``[read_start, scored_start, scored_end, read_end)`` over rows of ``groups``.

    ``groups`` are consecutive codes (:func:`group_codes`). Each group is cut into windows of ``window`` scored rows
    from its start; a window reads ``before`` rows before and ``after`` rows after, within its group.
    """
    n = len(groups)
    if n == 0:
        return np.zeros((0, 4), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])  # (groups,)
    ends = np.r_[starts[1:], n]
    counts = -(-(ends - starts) // windowing.window)  # windows per group
    group_of = np.repeat(np.arange(len(starts)), counts)  # (windows,)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    scored_start = starts[group_of] + (np.arange(len(group_of)) - first) * windowing.window
    scored_end = np.minimum(scored_start + windowing.window, ends[group_of])
    read_start = np.maximum(scored_start - windowing.before, starts[group_of])
    read_end = np.minimum(scored_end + windowing.after, ends[group_of])
    return np.stack([read_start, scored_start, scored_end, read_end], axis=1).astype(np.int64)


class WindowDataset(Dataset[dict[str, torch.Tensor]]):
    """Windows of a prepared split; a batch (``__getitems__`` of window indices) holds all their texts, flattened.

    A batch is a :class:`~textclf.data.batching.TokenIdsDataset` batch of the windows' texts, in window order (a text
    read by two windows appears twice), plus ``segments`` ``(n,)`` (the window of each row, 0-based in the batch) and
    ``scored`` ``(n,)`` bool (the rows this window scores). ``index`` is each row's index in the split.

    Args:
        texts: the prepared split, its rows ordered by group.
        windows: :func:`cut_windows` of its groups.
    """

    def __init__(self, texts: TokenIdsDataset, windows: np.ndarray) -> None:
        self.texts = texts
        self.windows = windows
        self.lengths = windows[:, 3] - windows[:, 0]  # texts read per window: the sampler's "length"
        self.targets = texts.targets

    def __len__(self) -> int:
        return len(self.windows)

    def windows_per_batch(self, texts: int) -> int:
        """Windows per batch so that a batch scores about ``texts`` texts (at least one window)."""
        scored = int((self.windows[:, 2] - self.windows[:, 1]).sum())
        return max(1, round(texts * len(self.windows) / max(scored, 1)))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """The texts of the windows ``indices``: token_ids, lengths, index, targets, segments and scored."""
        rows = self.windows[np.asarray(indices, dtype=np.int64)]  # (batch windows, 4)
        sizes = rows[:, 3] - rows[:, 0]
        segments = np.repeat(np.arange(len(rows)), sizes)  # (n,)
        offset = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        text_index = rows[segments, 0] + offset  # (n,) rows of the split
        scored = (text_index >= rows[segments, 1]) & (text_index < rows[segments, 2])
        batch = self.texts.__getitems__(text_index.tolist())
        batch["segments"] = torch.from_numpy(segments)
        batch["scored"] = torch.from_numpy(scored)
        return batch


def window_dataset(texts: TokenIdsDataset, groups: np.ndarray, windowing: Windowing) -> WindowDataset:
    """The windows of a prepared split whose rows have the group codes ``groups``.

    Raises:
        TextclfError: the split and its groups differ in length.
    """
    if len(groups) != len(texts):
        raise TextclfError(f"{len(texts)} texts but {len(groups)} group entries: the prepared data is inconsistent")
    return WindowDataset(texts, cut_windows(groups, windowing))


def order_rows(groups: Sequence[Hashable], order: Sequence[Any] | np.ndarray | None = None) -> np.ndarray:
    """The permutation that puts rows in group order: groups by first appearance, within a group by ``order``.

    Without ``order`` rows keep their relative (file) order. The sort is stable, so equal orders keep file order.
    """
    first: dict[Hashable, int] = {}
    codes = np.fromiter((first.setdefault(g, len(first)) for g in groups), dtype=np.int64, count=len(groups))
    if order is None:
        return np.argsort(codes, kind="stable")
    values = list(order)  # Python numbers compare exactly (integers past 2**53, e.g. nanosecond timestamps)
    rows = sorted(range(len(values)), key=lambda i: (codes[i], values[i]))  # stable: ties keep file order
    return np.asarray(rows, dtype=np.int64)

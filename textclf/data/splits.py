"""Raw labelled splits: cleaning, label checks, and seeded stratified hold-outs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textclf.data.group_splits import check_group_folds, count_groups, group_folds, group_holdout, group_keys
from textclf.errors import TextclfError
from textclf.wording import counted

log = logging.getLogger(__name__)


class TextStream:
    """Texts that stay on disk: every iteration reads them again, batch by batch, so they never all sit in memory.

    Args:
        read: a fresh iterator over batches (lists) of every text of the source, in order.
        size: the number of texts ``read`` yields.
        index: the positions kept (sorted, unique), or None for all.
    """

    def __init__(self, read: Callable[[], Iterator[list[str]]], size: int, index: np.ndarray | None = None) -> None:
        self.read = read
        self.size = size
        self.index = index

    def __len__(self) -> int:
        return self.size if self.index is None else len(self.index)

    def __iter__(self) -> Iterator[str]:
        start = 0
        for batch in self.read():
            if self.index is None:
                yield from batch
            else:
                first, last = np.searchsorted(self.index, [start, start + len(batch)])
                yield from (batch[i - start] for i in self.index[first:last])
            start += len(batch)

    def take(self, index: np.ndarray) -> TextStream:
        """The texts at ``index`` (sorted positions in this stream)."""
        index = np.asarray(index, dtype=np.int64)
        if np.any(np.diff(index) <= 0):
            raise ValueError("a TextStream is read in order: take() needs sorted, unique positions")
        return TextStream(self.read, self.size, index if self.index is None else self.index[index])


@dataclass
class LabelledSplit:
    """Texts and their labels as read from one source (a file name, for messages)."""

    texts: list[str] | TextStream  # a TextStream for corpora read from disk batch by batch
    labels: list[Any]  # a label name per text; for multi-label data, a list of label names per text
    source: str
    rows: list[int] | None = None  # 1-based row of each example in its source; None: its position
    meta: dict[str, list[Any]] = field(default_factory=dict)  # per-example columns kept beside the ids

    def row(self, i: int) -> int:
        """The row of example ``i`` in the source, for messages (stable across dropped rows)."""
        return self.rows[i] if self.rows is not None else i + 1

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(
                f"{self.source}: {counted(len(self.texts), 'text')} but {counted(len(self.labels), 'label')}"
            )
        for name, values in self.meta.items():
            if len(values) != len(self.texts):
                raise ValueError(
                    f"{self.source}: {counted(len(self.texts), 'text')} but {counted(len(values), 'value')} of {name!r}"
                )

    def subset(self, index: np.ndarray, source: str) -> LabelledSplit:
        """The examples at ``index``."""
        texts = self.texts.take(index) if isinstance(self.texts, TextStream) else [self.texts[i] for i in index]
        labels = [self.labels[i] for i in index]
        meta = {name: [values[i] for i in index] for name, values in self.meta.items()}
        return LabelledSplit(texts, labels, source, [self.row(i) for i in index], meta)


def clean_split(split: LabelledSplit) -> LabelledSplit:
    """Drop empty and whitespace-only texts (logged with a count and the first rows); refuse an empty split."""
    empty = [i for i, text in enumerate(split.texts) if not text.strip()]
    if empty:
        rows = ", ".join(str(split.row(i)) for i in empty[:5]) + (", ..." if len(empty) > 5 else "")
        dropped = counted(len(empty), "empty or whitespace-only text")
        log.warning("%s: dropped %s (%s %s)", split.source, dropped, "row" if len(empty) == 1 else "rows", rows)
        keep = np.setdiff1d(np.arange(len(split.texts)), empty)
        split = split.subset(keep, split.source)
    if not split.texts:
        raise TextclfError(f"{split.source}: no texts (the corpus is empty)")
    return split


def label_names(split: LabelledSplit) -> set[str]:
    """Every label name used in the split (each member of a multi-label set)."""
    if split.labels and isinstance(split.labels[0], list):
        return {label for labels in split.labels for label in labels}
    return set(split.labels)


def label_order(splits: dict[str, LabelledSplit], fixed: list[str] | None, multi_label: bool = False) -> list[str]:
    """Class names in index order, checking that every split's labels are known.

    Fixed names keep their order; otherwise the training labels are sorted (numerically when all are integers),
    so the same data always gives the same class indices.
    """
    train_labels = label_names(splits["train"])
    if fixed is not None:
        labels = list(fixed)
    elif all(_is_int(label) for label in train_labels):
        labels = sorted(train_labels, key=lambda label: (int(label), label))  # "1" and "01": still deterministic
    else:
        labels = sorted(train_labels)
    for split in splits.values():
        check_known_labels(split, labels, "the given label list" if fixed is not None else "the training split")
    if len(labels) < (1 if multi_label else 2):
        raise TextclfError(f"{splits['train'].source}: needs at least 2 classes, found {labels}")
    return labels


def check_known_labels(split: LabelledSplit, known: list[str], where: str) -> None:
    """Refuse a split with labels outside ``known``: one line naming the first such row and ``where`` they are not."""
    names = set(known)
    unknown = sorted(label_names(split) - names)
    if unknown:
        sets = [members if isinstance(members, list) else [members] for members in split.labels]
        bad = [i for i, members in enumerate(sets) if not names.issuperset(members)]
        row = split.row(bad[0])
        shown = ", ".join(repr(u) for u in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        if len(unknown) == 1:
            message = f"{split.source}, row {row}: label {shown} is not in {where}"
        else:
            message = f"{split.source}: labels {shown} are not in {where} (the first at row {row})"
        if bad == [0]:  # only the first row: a header read as data (header: false on a file that has one)?
            message += f"; is row {row} a header row?"
        raise TextclfError(message)


def strata(labels: list[Any]) -> list[str]:
    """The stratification key of every example: its label, or for a multi-label set its rarest label ("" for none).

    Stratifying multi-label data on its rarest label keeps every label's examples spread over the splits, which
    stratifying on whole label sets (mostly unique) would not.
    """
    if not labels or not isinstance(labels[0], list):
        return labels
    counts: dict[str, int] = {}
    for members in labels:
        for label in members:
            counts[label] = counts.get(label, 0) + 1
    return [min(members, key=lambda label: (counts[label], label)) if members else "" for members in labels]


def encode_labels(labels: list[Any], names: list[str], multi_label: bool) -> np.ndarray:
    """Class indices ``(n,)`` int64, or for multi-label data a multi-hot ``(n, len(names))`` uint8 matrix."""
    index = {name: i for i, name in enumerate(names)}
    if not multi_label:
        return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))
    rows = np.repeat(np.arange(len(labels)), [len(members) for members in labels])
    columns = np.fromiter((index[label] for members in labels for label in members), dtype=np.int64, count=len(rows))
    matrix = np.zeros((len(labels), len(names)), dtype=np.uint8)
    matrix[rows, columns] = 1
    return matrix


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def stratified_holdout(labels: list[str], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(len(labels))`` into (kept, held out) index arrays.

    Every class gives ``round(fraction * count)`` examples (at least one when it has two or more).
    """
    if not 0 < fraction < 1:
        raise TextclfError(f"a held-out fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    values = np.asarray(labels, dtype=object)
    held: list[np.ndarray] = []
    for label in sorted(set(labels)):
        members = np.flatnonzero(values == label)
        count = round(fraction * len(members))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        held.append(rng.permutation(members)[:count])
    held_out = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out


def stratified_folds(labels: list[str], num_folds: int, seed: int) -> list[np.ndarray]:
    """Seeded stratified k-fold partition of ``range(len(labels))``: every class is dealt round-robin over folds."""
    if num_folds < 2:
        raise TextclfError(f"num_folds must be at least 2, got {num_folds}")
    rng = np.random.default_rng(seed)
    values = np.asarray(labels, dtype=object)
    assignment = np.empty(len(labels), dtype=np.int64)
    start = 0
    for label in sorted(set(labels)):
        members = rng.permutation(np.flatnonzero(values == label))
        assignment[members] = (start + np.arange(len(members))) % num_folds
        start += len(members)  # continue the deal so small classes do not all land in fold 0
    return [np.flatnonzero(assignment == k) for k in range(num_folds)]


def carve_missing_splits(
    splits: dict[str, LabelledSplit],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    fold: int | None = None,
    num_folds: int = 10,
) -> dict[str, LabelledSplit]:
    """Hold out ``test`` and then ``val`` from train (stratified, seeded) when the corpus does not have them.

    Both fractions are of the original training split: 0.1 and 0.1 leave 80% for training. With ``fold``
    (0-based), the test split is that fold of a seeded stratified ``num_folds``-fold partition instead, for
    cross-validation on corpora without a test set (MR, Subj, CR, MPQA: 10 folds in the literature). The copies
    of a text (identical strings) always go to the same split, so no held-out text is also a training text; the
    hold-out then counts each distinct text once (logged when the training file has copies).

    A grouped training split (meta ``group``: conversations, documents) is carved by whole groups instead: every
    row of a group goes to the same split, and the splits are a seeded random partition of the groups, not
    stratified by label (:func:`group_holdout`, :func:`group_folds`); the fractions then count groups, not rows.

    Raises:
        TextclfError: a fold with the corpus's own test split, a fold out of range or empty, a hold-out that rounds
            to nothing, or (grouped) too few groups to give every split one and keep one for training.
    """
    splits = dict(splits)
    train = splits["train"]
    original = len(train.labels)
    if fold is not None and "test" in splits:  # silently testing on the corpus's own test split would mislead
        raise TextclfError(
            f"{train.source}: fold {fold} asked, but the corpus has its own test split ({splits['test'].source}); "
            "folds are for corpora without one (see textclf cv)"
        )
    if "test" in splits and "val" in splits:
        return {name: splits[name] for name in ("train", "val", "test")}
    grouped = "group" in train.meta
    keys = group_keys(train.meta["group"]) if grouped else _text_keys(train)
    unit = "group" if grouped else "distinct text"
    total_groups = len(np.unique(keys)) if grouped else 0
    if fold is not None and "test" not in splits:
        if not 0 <= fold < num_folds:
            raise TextclfError(f"fold must be in [0, {num_folds - 1}], got {fold}")
        if grouped:
            check_group_folds(total_groups, num_folds, train.source)
        first = _first_copies(keys)
        reps = np.flatnonzero(first == np.arange(len(first)))
        if grouped:
            held_reps = reps[group_folds(len(reps), num_folds, seed + 1)[fold]]
        else:
            held_reps = reps[stratified_folds(strata([train.labels[i] for i in reps]), num_folds, seed + 1)[fold]]
        held = np.flatnonzero(np.isin(first, held_reps))
        if len(held) == 0:
            raise TextclfError(
                f"{train.source}: fold {fold} of {num_folds} is empty: {num_folds} folds are more than its "
                f"{counted(len(reps), unit)}; use fewer folds"
            )
        kept = np.setdiff1d(np.arange(original), held)
        splits["test"] = train.subset(held, f"{train.source} (fold {fold} of {num_folds})")
        train, keys = train.subset(kept, train.source), keys[kept]
        log.info("test split: fold %d of %d (%s, seed %d)", fold, num_folds, counted(len(held), "example"), seed + 1)
    for name, share, offset in (("test", test_fraction, 1), ("val", val_fraction, 2)):
        if name in splits:
            continue
        first = _first_copies(keys)
        if grouped:
            fraction = share * total_groups / count_groups(first, train.source, name)
            kept, held = group_holdout(first, fraction, seed + offset)
        else:
            fraction = share * original / len(train.labels)
            kept, held = _grouped_holdout(train.labels, first, fraction, seed + offset)
        if len(held) == 0:  # an empty split would fail later, deep inside the tokenisation
            raise TextclfError(
                f"{train.source}: too few examples per class to hold out a {name} split ({fraction:g} of each class "
                f"rounds to none); give a {name} file or a larger {name}_fraction"
            )
        splits[name] = train.subset(held, f"{train.source} ({name} hold-out)")
        train, keys = train.subset(kept, train.source), keys[kept]
        held_out = f"{counted(len(held), 'example')} of the {counted(original, 'training example')}"
        log.info("no %s split: held out %s (seed %d)", name, held_out, seed + offset)
    splits["train"] = train
    return {name: splits[name] for name in ("train", "val", "test")}


def _text_keys(split: LabelledSplit) -> np.ndarray:
    """A hash per text ``(n,)`` int64, equal for identical texts; the copies of a text are logged.

    One pass over the texts (a TextStream is read from disk): 8 bytes per text stay in memory.
    """
    keys = np.fromiter((hash(text) for text in split.texts), dtype=np.int64, count=len(split.texts))
    first = _first_copies(keys)
    copies = np.flatnonzero(first != np.arange(len(first)))
    if len(copies):
        conflicting = {int(first[i]) for i in copies if split.labels[i] != split.labels[first[i]]}
        i = int(copies[0])
        repeat = "repeats" if len(copies) == 1 else "repeat"
        log.warning(
            "%s: %s %s the text of an earlier row (e.g. row %d repeats row %d), %d of those texts with another label; "
            "each text's copies are kept in one split, so no held-out text is also a training text",
            split.source,
            counted(len(copies), "row"),
            repeat,
            split.row(i),
            split.row(int(first[i])),
            len(conflicting),
        )
    return keys


def _first_copies(keys: np.ndarray) -> np.ndarray:
    """For every example, the position of the first example with the same key ``(n,)`` int64."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)].astype(np.int64)


def _grouped_holdout(labels: list[Any], first: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`stratified_holdout` of the distinct texts (each stratified by its first copy), with all their copies.

    Without copies this is :func:`stratified_holdout` itself (same seed, same split).
    """
    reps = np.flatnonzero(first == np.arange(len(first)))
    _, held_reps = stratified_holdout(strata([labels[i] for i in reps]), fraction, seed)
    held = np.isin(first, reps[held_reps])
    return np.flatnonzero(~held), np.flatnonzero(held)

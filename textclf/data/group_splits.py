"""Hold-outs and folds of whole groups (conversations, documents), for grouped corpora (docs/sequential.md).

A sequential model reads each text with its neighbours in its group, so the splits of a grouped corpus are made of
whole groups: a group in two splits would let a model see test conversations while training. The groups are split
by a seeded random partition, not stratified by label (a group holds many labels); fractions count groups.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from textclf.errors import TextclfError
from textclf.wording import counted

log = logging.getLogger(__name__)


def check_group_folds(num_groups: int, num_folds: int, source: str) -> None:
    """Refuse more folds than groups (a fold would be empty).

    Raises:
        TextclfError: naming ``source`` and both counts.
    """
    if num_groups < num_folds:
        raise TextclfError(
            f"{source}: {counted(num_groups, 'group')} cannot make {num_folds} folds: folds are made of whole groups; "
            "use fewer folds or more groups"
        )


def group_keys(groups: list[Any]) -> np.ndarray:
    """``(n,)`` int64 codes of the groups, numbered by first appearance."""
    codes: dict[Any, int] = {}
    return np.fromiter((codes.setdefault(g, len(codes)) for g in groups), dtype=np.int64, count=len(groups))


def count_groups(first: np.ndarray, source: str, name: str) -> int:
    """The number of groups in ``first`` (as :func:`group_holdout` reads it), refusing fewer than two.

    Raises:
        TextclfError: one group (or none) left, naming ``source`` and the split ``name`` to carve.
    """
    count = int(np.sum(first == np.arange(len(first))))
    if count < 2:
        raise TextclfError(
            f"{source}: {counted(count, 'group')} left, which cannot give a {name} split: splits are carved by whole "
            f"groups and train must keep one; give a {name} file or more groups"
        )
    return count


def group_holdout(first: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random hold-out of whole groups: (kept, held out) sorted row indices.

    ``first`` ``(n,)`` int64 is each row's group, given as the position of the group's first row.
    ``round(fraction * groups)`` groups are held out, at least one and never all (so at least two groups are
    needed): the fraction counts groups, whatever their sizes; labels play no part (no stratification).
    """
    reps = np.flatnonzero(first == np.arange(len(first)))  # (groups,) the first row of each group
    count = min(max(round(fraction * len(reps)), 1), len(reps) - 1)
    held_reps = reps[np.random.default_rng(seed).permutation(len(reps))[:count]]
    held = np.isin(first, held_reps)
    share = float(held.mean())
    if not fraction / 2 <= share <= min(2 * fraction, 1.0):  # groups of very different sizes
        message = "the %s held out are %.0f%% of the rows, not about %.0f%%: the groups differ much in size; give "
        log.warning(message + "val/test files, or another seed", counted(count, "group"), 100 * share, 100 * fraction)
    return np.flatnonzero(~held), np.flatnonzero(held)


def group_folds(num_groups: int, num_folds: int, seed: int) -> list[np.ndarray]:
    """Seeded random partition of ``range(num_groups)`` into ``num_folds`` folds of (nearly) equal group counts."""
    assignment = np.empty(num_groups, dtype=np.int64)
    assignment[np.random.default_rng(seed).permutation(num_groups)] = np.arange(num_groups) % num_folds
    return [np.flatnonzero(assignment == k) for k in range(num_folds)]

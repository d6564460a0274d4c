"""Vocabulary: token <-> index, with ``<pad>`` = 0 and ``<unk>`` = 1."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

PAD = "<pad>"
UNK = "<unk>"


class Vocabulary:
    """An ordered list of tokens; index 0 is ``<pad>``, index 1 is ``<unk>``.

    Args:
        tokens: every token in index order, starting with ``<pad>`` and ``<unk>``.
        trained_size: the first ``trained_size`` tokens (the specials and the training words) are the ones
            training can update; tokens after them were added from a vectors file and keep their pretrained
            vectors. Default: all tokens.
    """

    pad_index = 0
    unk_index = 1

    def __init__(self, tokens: Sequence[str], trained_size: int | None = None) -> None:
        self.trained_size = len(tokens) if trained_size is None else trained_size
        if not 2 <= self.trained_size <= len(tokens):
            raise ValueError(f"trained_size {trained_size} is outside [2, {len(tokens)}]")
        if list(tokens[:2]) != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {UNK!r}, got {list(tokens[:2])}")
        self.tokens: list[str] = list(tokens)
        self.index: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")

    @classmethod
    def build(
        cls,
        counts: Counter[str],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        keep: Iterable[str] = (),
        extra: Iterable[str] = (),
    ) -> Vocabulary:
        """Build from training token counts.

        Words are ordered by frequency (ties alphabetically, so the result is deterministic).

        Args:
            counts: token frequencies in the training split.
            min_freq: drop words seen fewer times than this ...
            max_size: ... and keep at most this many words (not counting ``<pad>`` and ``<unk>``).
            keep: rare words (below ``min_freq``) to keep anyway, e.g. those that have a pretrained vector.
            extra: words to append after the training words (in this order, skipping those already present),
                e.g. the most frequent words of a vectors file, so words unseen in training keep their vector.
        """
        keep = set(keep)
        words = [w for w, n in counts.items() if (n >= min_freq or w in keep) and w not in (PAD, UNK)]
        words.sort(key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[:max_size]
        trained_size = len(words) + 2
        present = {PAD, UNK, *words}
        for word in extra:
            if word not in present:
                present.add(word)
                words.append(word)
        return cls([PAD, UNK, *words], trained_size)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and (self.tokens, self.trained_size) == (other.tokens, other.trained_size)

    def __hash__(self) -> int:
        return hash((tuple(self.tokens), self.trained_size))

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Indices of ``tokens``; unknown ones map to ``<unk>``. An empty text becomes ``[<unk>]`` (length >= 1)."""
        get, unk = self.index.get, self.unk_index
        ids = [get(token, unk) for token in tokens]
        return ids or [unk]


def merge_vocabularies(base: Vocabulary, own: Vocabulary) -> Vocabulary:
    """``base`` extended with the training words of ``own`` that it lacks (fine-tuning; see docs/finetune.md).

    Order: ``base``'s trained words, then ``own``'s training words not among them (so words that ``base`` only
    had from a vectors file become trainable when the new corpus uses them), then the words added from vectors
    files (``base``'s, then ``own``'s), which stay frozen. Every ``base`` token is kept.
    """
    tokens = list(base.tokens[: base.trained_size])
    present = set(tokens)
    for word in own.tokens[2 : own.trained_size]:
        if word not in present:
            present.add(word)
            tokens.append(word)
    trained_size = len(tokens)
    for word in base.tokens[base.trained_size :] + own.tokens[own.trained_size :]:
        if word not in present:
            present.add(word)
            tokens.append(word)
    return Vocabulary(tokens, trained_size)

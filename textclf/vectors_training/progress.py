"""The progress lines of :func:`textclf.vectors_training.train.train_vectors`: epoch, % done, words/s and the time left.

:class:`TrainingProgress` is the corpus gensim trains on (the token lines, counted as gensim's job producer takes
them: it runs at most a few jobs of 10,000 words ahead of the workers) and a gensim training callback (duck-typed
``CallbackAny2Vec``): a line every few seconds while the vocabulary is read and while training runs, and one at the
end of every epoch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from textclf.vectors_training.corpus import TokenFile, TokenLines

log = logging.getLogger("textclf.vectors_training.train")


class TrainingProgress:
    """The token lines of ``corpus`` for gensim, counted; a log line every ``every`` seconds and after each epoch."""

    def __init__(self, corpus: TokenFile, epochs: int, every: float) -> None:
        self.lines, self.tokens, self.epochs, self.every = TokenLines(corpus.path), corpus.tokens, epochs, every
        self.training = False  # False while gensim reads the vocabulary
        self.epoch = self.done = self.effective = 0
        self.start = self.epoch_start = self.seconds = 0.0

    def __iter__(self) -> Iterator[list[str]]:
        last, seen = time.monotonic(), 0
        for words in self.lines:
            yield words
            seen += len(words)
            if self.training:
                self.done += len(words)
            if time.monotonic() - last >= self.every:
                last = time.monotonic()
                if self.training:
                    self._report(f"epoch {self.epoch}/{self.epochs}")
                else:
                    log.info("vocabulary: %.0f%% of the tokens read", 100 * seen / max(self.tokens, 1))

    def _report(self, what: str) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        total = self.tokens * self.epochs
        rate = self.done / elapsed
        eta = (total - self.done) / rate if rate > 0 else float("inf")
        log.info("%s: %.1f%% done, %s words/s, ETA %s", what, 100 * self.done / total, f"{rate:,.0f}", _duration(eta))

    def on_train_begin(self, model: Any) -> None:
        """Training starts: the clock of words/s and of the time left."""
        self.start = time.monotonic()

    def on_epoch_begin(self, model: Any) -> None:
        """An epoch starts."""
        self.epoch += 1
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, model: Any) -> None:
        """An epoch ended (every worker finished it): its line."""
        self._report(f"epoch {self.epoch}/{self.epochs} done in {time.monotonic() - self.epoch_start:.1f}s")

    def on_train_end(self, model: Any) -> None:
        """Training ended: its duration."""
        self.seconds = time.monotonic() - self.start


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"

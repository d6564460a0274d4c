"""Train word vectors on your own text with gensim (Word2Vec or FastText), into a file that recipes take by path.

:func:`train_vectors` tokenises its sources once with the classifier's tokenizer (:mod:`textclf.vectors.corpus`),
optionally joins frequent phrases, builds the vocabulary and trains for ``epochs`` passes with negative sampling,
logging progress (epoch, % done, words/s, ETA) every few seconds and at the end of every epoch. Word2Vec vectors
are written in the word2vec binary format, FastText models in Facebook's ``.bin`` format (its subword n-grams
kept), both through a temporary file that is read back with textclf's own readers before it replaces ``output``;
``output + ".json"`` records the settings, sources and timings. gensim is imported only when training starts.

gensim's ``corpus_file`` mode (each worker reads its own part of the token file, without the GIL) reports nothing
until an epoch ends, so training reads the token file as an iterable: progress lines every few seconds, at a cost
that is small beside skip-gram's arithmetic (see docs/vectors.md, "Training vectors on your own text").
"""

from __future__ import annotations

import gc
import json
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from textclf.errors import TextclfError
from textclf.tokenize import Tokenizer, TokenizerMode
from textclf.vectors.corpus import (
    TokenFile,
    data_module,
    data_source,
    file_source,
    join_phrases,
    write_tokens,
)
from textclf.vectors.train_progress import TrainingProgress
from textclf.wording import counted

log = logging.getLogger(__name__)

ModelKind = Literal["word2vec", "fasttext"]
FORMATS = {"word2vec": "word2vec-binary", "fasttext": "fasttext-binary"}
MAX_DEFAULT_WORKERS = 8  # gensim scales to about this many threads


@dataclass(frozen=True)
class VectorsSettings:
    """What to train: the model, its size and its training passes (gensim's names in brackets).

    Args:
        model: ``word2vec`` (one vector per word) or ``fasttext`` (words and their character n-grams: any word
            gets a vector from its n-grams).
        sg: skip-gram (True) or CBOW (False) (``sg``).
        dim: vector size (``vector_size``).
        window: words on each side of a word that count as its context.
        min_count: words seen fewer times are left out of the vocabulary.
        epochs: passes over the corpus.
        negative: negative samples per word (negative sampling; no hierarchical softmax).
        workers: training threads; None: the CPUs this process may use, at most :data:`MAX_DEFAULT_WORKERS`.
        seed: seed of the initial vectors and of the sampling (results repeat with ``workers=1`` only).
        min_n: fastText: shortest character n-gram.
        max_n: fastText: longest character n-gram.
        bucket: fastText: rows of the n-gram table (file size: ``bucket * dim * 4`` bytes).
        phrases: join frequent word pairs into one token (``new_york``) before training (gensim ``Phrases``).
        phrases_min_count: a pair must occur at least this often to be joined.
        phrases_threshold: ... and score above this (higher: fewer phrases).
    """

    model: ModelKind = "word2vec"
    sg: bool = True
    dim: int = 300
    window: int = 5
    min_count: int = 5
    epochs: int = 5
    negative: int = 5
    workers: int | None = None
    seed: int = 1
    min_n: int = 3
    max_n: int = 6
    bucket: int = 2_000_000
    phrases: bool = False
    phrases_min_count: int = 5
    phrases_threshold: float = 10.0

    def check(self) -> None:
        """Refuse settings gensim cannot train with.

        Raises:
            TextclfError: an unknown model, a count below its minimum, ``min_n`` above ``max_n``.
        """
        if self.model not in FORMATS:
            raise TextclfError(f"model {self.model!r}: expected word2vec or fasttext")
        lows = {"dim": 1, "window": 1, "min_count": 1, "epochs": 1, "negative": 1, "workers": 1, "seed": 0,
                "min_n": 1, "max_n": 1, "bucket": 1, "phrases_min_count": 1}  # fmt: skip
        for name, low in lows.items():
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise TextclfError(f"{name} must be a whole number of at least {low}, got {value!r}")
        if self.min_n > self.max_n:
            raise TextclfError(f"min_n ({self.min_n}) must not exceed max_n ({self.max_n})")
        if not self.phrases_threshold > 0:
            raise TextclfError(f"phrases_threshold must be above 0, got {self.phrases_threshold}")


@dataclass(frozen=True)
class TrainedVectors:
    """What :func:`train_vectors` wrote and how long it took."""

    path: Path  # the vectors file
    sidecar: Path  # path + ".json": settings, sources, counts, timings
    format: str  # word2vec-binary or fasttext-binary, as textclf.vectors names it
    words: int  # corpus tokens trained on, over all epochs
    effective_words: int  # ... of which gensim trained on after leaving out rare and downsampling frequent words
    seconds: float  # the whole run: reading, tokenising, vocabulary, training, writing
    train_seconds: float  # the training passes
    words_per_second: float  # words / train_seconds
    vocab_size: int
    dim: int


def train_vectors(
    output: str | os.PathLike[str],
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
    data: str | os.PathLike[str] | None = None,
    splits: Sequence[str] = ("train",),
    tokenizer: TokenizerMode | None = None,
    force: bool = False,
    max_texts: int | None = None,
    report_every: float = 10.0,
    **settings: Any,
) -> TrainedVectors:
    """Train word vectors on text files and/or a corpus and write them to ``output`` (and ``output + ".json"``).

    Args:
        output: the vectors file to write (its folder is created); recipes take it as ``data.vectors``.
        inputs: text files, one text per line, UTF-8 (gzip allowed).
        data: a data config file (``class_path: textclf.IMDB`` ...; or a recipe, whose ``data`` is used) whose
            corpus gives ``splits`` and whose tokenizer is used.
        splits: what to read of ``data``: ``train`` (its training texts) and/or ``unlabelled``.
        tokenizer: ``basic``, ``cased`` or ``whitespace``; default: ``data``'s, else ``basic``. It must agree with
            ``data``'s: the vectors must hold the words the classifier looks up.
        force: replace an existing ``output``.
        max_texts: train on the first ``max_texts`` texts (with tokens) of the sources only; None: all of them.
        report_every: seconds between two progress lines.
        **settings: the fields of :class:`VectorsSettings` (``model="fasttext"``, ``dim=100``, ``min_count=1``...).

    Returns:
        What was written, with counts and timings.

    Raises:
        TextclfError: ``output`` exists (without ``force``) or is a folder; a bad setting, source or data config;
            a missing file or a line that is not UTF-8; no tokens, or no word seen ``min_count`` times.
    """
    begun = time.monotonic()
    out, options = Path(output), VectorsSettings(**settings)
    sidecar = out.with_name(out.name + ".json")
    _check_output(out, sidecar, force)
    options.check()
    if max_texts is not None and max_texts < 1:
        raise TextclfError(f"max_texts must be at least 1, got {max_texts}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TextclfError(f"cannot create the folder of {out}: {e.strerror or e}") from None
    workers = options.workers or min(_usable_cpus(), MAX_DEFAULT_WORKERS)
    sources = [file_source(Path(path)) for path in inputs]
    mode = tokenizer
    if data is not None:
        module = data_module(Path(data))
        mode = _agreed(tokenizer, module.tokenizer.mode, data)
        sources += [data_source(module, split, str(data)) for split in dict.fromkeys(splits)]
    if not sources:
        raise TextclfError("nothing to train on: give text files (--input) and/or a corpus (--data)")
    tokens = Tokenizer(mode or "basic")  # every token, whatever max_length the classifier cuts texts to
    with tempfile.TemporaryDirectory(prefix="textclf-vectors-") as scratch:
        corpus = write_tokens(sources, tokens, Path(scratch) / "tokens.txt", report_every, max_texts)
        if corpus.tokens == 0:
            raise TextclfError(f"no tokens to train on in {', '.join(_names(corpus))}: every text is empty")
        if options.phrases:
            corpus = join_phrases(corpus, Path(scratch) / "phrases.txt", options.phrases_min_count,
                                  options.phrases_threshold)  # fmt: skip
        model, progress = _train(corpus, options, workers, report_every)
    vocab = list(model.wv.index_to_key)
    _check_output(out, sidecar, force)
    written = time.monotonic()
    _write_checked(model, options.model, out, vocab, options.dim)
    del model
    gc.collect()
    trained = TrainedVectors(out, sidecar, FORMATS[options.model], progress.done, progress.effective,
                             time.monotonic() - begun, progress.seconds, progress.done / max(progress.seconds, 1e-9),
                             len(vocab), options.dim)  # fmt: skip
    _write_sidecar(trained, options, workers, corpus, tokens, time.monotonic() - written)
    log.info("trained %s (%d epochs of %s; %s after downsampling) in %.1fs, %s words/s; %s x %d dims; wrote %s "
             "(%s) and %s", counted(trained.words, "word"), options.epochs, counted(corpus.tokens, "token"),
             f"{trained.effective_words:,}", trained.train_seconds, f"{trained.words_per_second:,.0f}",
             counted(trained.vocab_size, "word"), trained.dim, out, trained.format, sidecar.name)  # fmt: skip
    return trained


def _check_output(out: Path, sidecar: Path, force: bool) -> None:
    if out.is_dir():
        raise TextclfError(f"{out} is a folder: give the path of the vectors file to write")
    existing = [path for path in (out, sidecar) if path.exists()]
    if existing and not force:
        raise TextclfError(f"{existing[0]} already exists: pass --force (force=True) to replace it")


def _usable_cpus() -> int:
    from textclf.threads import usable_cpus

    return usable_cpus()


def _agreed(asked: TokenizerMode | None, data_mode: TokenizerMode, data: str | os.PathLike[str]) -> TokenizerMode:
    if asked is not None and asked != data_mode:
        raise TextclfError(
            f"--tokenizer {asked} differs from the tokenizer of --data {data} ({data_mode}): the vectors must be "
            "tokenised as the classifier tokenises; leave --tokenizer out"
        )
    return data_mode


def _names(corpus: TokenFile) -> list[str]:
    return [str(s.get("input") or f"{s['class']} {s['split']}") for s in corpus.sources]


def _stable_hash(text: str) -> int:
    """The ``hashfxn`` of gensim: the same in every process (Python's ``hash`` of a str changes with PYTHONHASHSEED)."""
    return zlib.crc32(text.encode("utf-8"))


def _train(corpus: TokenFile, options: VectorsSettings, workers: int, every: float) -> tuple[Any, TrainingProgress]:
    """Build the vocabulary and train; the trained gensim model and its progress counts."""
    common = {"vector_size": options.dim, "window": options.window, "min_count": options.min_count,
              "sg": int(options.sg), "hs": 0, "negative": options.negative, "workers": workers,
              "seed": options.seed, "epochs": options.epochs, "hashfxn": _stable_hash}  # fmt: skip
    if options.model == "fasttext":
        from gensim.models import FastText

        model: Any = FastText(min_n=options.min_n, max_n=options.max_n, bucket=options.bucket, **common)
    else:
        from gensim.models import Word2Vec

        model = Word2Vec(**common)
    progress = TrainingProgress(corpus, options.epochs, every)
    start = time.monotonic()
    model.build_vocab(corpus_iterable=progress, keep_raw_vocab=True)
    distinct = len(model.raw_vocab)
    model.raw_vocab.clear()  # the counts of every word seen: only the vocabulary building needs them
    if len(model.wv) == 0:
        raise TextclfError(
            f"no word occurs min_count={options.min_count} times in the {counted(corpus.tokens, 'token')}: "
            "lower --min-count, or give more text"
        )
    log.info("vocabulary: %s seen at least %d times (of %s) in %.1fs; training %s with %s on %s",
             counted(len(model.wv), "word"), options.min_count, f"{distinct:,}",
             time.monotonic() - start, _described(options), counted(workers, "worker"),
             counted(corpus.tokens, "token"))  # fmt: skip
    progress.training = True
    progress.effective, _ = model.train(
        corpus_iterable=progress, total_examples=model.corpus_count, total_words=model.corpus_total_words,
        epochs=options.epochs, callbacks=[progress], report_delay=every,
    )  # fmt: skip
    return model, progress


def _described(options: VectorsSettings) -> str:
    kind = "skip-gram" if options.sg else "CBOW"
    extra = (
        f", n-grams {options.min_n}-{options.max_n} in {options.bucket:,} buckets"
        if options.model == "fasttext"
        else ""
    )
    return (f"{options.model} {kind}, {options.dim} dims, window {options.window}, {options.negative} negative "
            f"samples, {options.epochs} epochs{extra}")  # fmt: skip


def _write_checked(model: Any, kind: str, out: Path, vocab: list[str], dim: int) -> None:
    """Write ``model`` to a temporary file beside ``out``, read it back with textclf's readers, rename it to ``out``.

    Raises:
        TextclfError: the file does not read back as the vocabulary and size trained (nothing is replaced).
    """
    from textclf.vectors.files import read_vectors

    staging = out.with_name(f".part-{os.getpid()}-{out.name}")  # the suffix stays: gensim compresses a .gz
    try:
        if kind == "fasttext":
            from gensim.models.fasttext import save_facebook_model

            save_facebook_model(model, str(staging))
            expected = None
        else:
            model.wv.save_word2vec_format(str(staging), binary=True)
            expected = model.wv.vectors
        parsed, fmt = read_vectors(staging)
        same = parsed.words == vocab and parsed.vectors.shape[1] == dim and fmt == FORMATS[kind]
        if not same or (expected is not None and not np.array_equal(parsed.vectors, expected)):
            raise TextclfError(f"{out}: the {fmt} file written does not read back as the {len(vocab)} vectors trained")
        os.replace(staging, out)
    except OSError as e:
        raise TextclfError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        staging.unlink(missing_ok=True)


def _write_sidecar(
    trained: TrainedVectors,
    options: VectorsSettings,
    workers: int,
    corpus: TokenFile,
    tokenizer: Tokenizer,
    write_seconds: float,
) -> None:
    """``OUT.json``: data only (settings, sources, tokenizer, counts, timings, versions), written atomically."""
    import gensim

    from textclf import __version__

    settings = {f.name: getattr(options, f.name) for f in fields(options)}
    settings["workers"] = workers
    if options.model != "fasttext":
        for name in ("min_n", "max_n", "bucket"):
            del settings[name]
    content = {
        "path": str(trained.path), "format": trained.format, "settings": settings, "sources": corpus.sources,
        "tokenizer": tokenizer.to_dict(), "texts": corpus.texts, "tokens": corpus.tokens,
        "vocab_size": trained.vocab_size, "dim": trained.dim, "words_trained": trained.words,
        "effective_words": trained.effective_words, "seconds": round(trained.seconds, 3),
        "train_seconds": round(trained.train_seconds, 3), "write_seconds": round(write_seconds, 3),
        "words_per_second": round(trained.words_per_second), "gensim": gensim.__version__, "textclf": __version__,
    }  # fmt: skip
    staging = trained.sidecar.with_name(f".part-{os.getpid()}-{trained.sidecar.name}")
    try:
        staging.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        os.replace(staging, trained.sidecar)
    finally:
        staging.unlink(missing_ok=True)

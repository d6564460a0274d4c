"""Train word vectors on your own text with gensim (Word2Vec or FastText), into a file that recipes take by path.

:func:`train_vectors` tokenises its sources once with the classifier's tokenizer (:mod:`.corpus`),
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
import logging
import math
import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from textclf.errors import TextclfError
from textclf.threads import usable_cpus
from textclf.tokenize import Tokenizer, TokenizerMode
from textclf.vectors_training.corpus import TokenFile, join_phrases, write_tokens
from textclf.vectors_training.interrupt import scratch_folder, signals_raise
from textclf.vectors_training.output import (
    check_output,
    prepare_folder,
    remove_folders,
    sidecar_path,
    write_checked,
    write_outputs,
)
from textclf.vectors_training.progress import TrainingProgress
from textclf.vectors_training.sources import STDIN, data_module, data_source, file_source
from textclf.wording import counted

log = logging.getLogger(__name__)

ModelKind = Literal["word2vec", "fasttext"]
FORMATS = {"word2vec": "word2vec-binary", "fasttext": "fasttext-binary"}
MAX_DEFAULT_WORKERS = 8  # gensim scales to about this many threads
MAX_SEED = 2**32 - 1  # numpy's RandomState, which gensim seeds, takes no more
FASTTEXT_ONLY = ("min_n", "max_n", "bucket")


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
            TextclfError: an unknown model, a count below its minimum, a seed above :data:`MAX_SEED`, ``min_n``
                above ``max_n``, a ``phrases_threshold`` that is not a finite number above 0.
        """
        if self.model not in FORMATS:
            raise TextclfError(f"model {self.model!r}: expected word2vec or fasttext")
        lows = {"dim": 1, "window": 1, "min_count": 1, "epochs": 1, "negative": 1, "workers": 1, "seed": 0,
                "min_n": 1, "max_n": 1, "bucket": 1, "phrases_min_count": 1}  # fmt: skip
        for name, low in lows.items():
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise TextclfError(f"{name} must be a whole number of at least {low}, got {value!r}")
        if self.seed > MAX_SEED:
            raise TextclfError(f"seed must be at most 2**32 - 1 = {MAX_SEED}, got {self.seed}")
        if self.min_n > self.max_n:
            raise TextclfError(f"min_n ({self.min_n}) must not exceed max_n ({self.max_n})")
        threshold = self.phrases_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < math.inf:
            raise TextclfError(f"phrases_threshold must be a finite number above 0, got {threshold!r}")


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

    The settings, the sources and ``output`` are checked before any work (``output``'s folder is created and a
    probe file written there). SIGTERM raises :class:`~.interrupt.Terminated` while it runs (in the
    main thread): stopped by it, by Ctrl-C or by an error, a run leaves no temporary file and no folder it created.

    Args:
        output: the vectors file to write (its folder is created); recipes take it as ``data.vectors``.
        inputs: text files, one text per line, UTF-8 (gzip allowed); FIFOs and ``-`` (stdin) are read once.
        data: a data config file (``class_path: textclf.IMDB`` ...; or a recipe, whose ``data`` is used) whose
            corpus gives ``splits`` and whose tokenizer is used.
        splits: what to read of ``data``: ``train`` (the texts ``textclf fit`` trains on) and/or ``unlabelled``.
        tokenizer: ``basic``, ``cased`` or ``whitespace``; default: ``data``'s, else ``basic``. It must agree with
            ``data``'s: the vectors must hold the words the classifier looks up.
        force: replace an existing ``output`` (and ``output.json``).
        max_texts: train on the first ``max_texts`` texts (with tokens) of the sources only; None: all of them.
        report_every: seconds between two progress lines.
        **settings: the fields of :class:`VectorsSettings` (``model="fasttext"``, ``dim=100``, ``min_count=1``...).

    Returns:
        What was written, with counts and timings.

    Raises:
        TextclfError: what :mod:`~textclf.vectors_training.output` refuses (an existing ``output`` without ``force``,
            a folder, a device, an unwritable folder...); a bad setting, source or data config; a missing file or
            a line that is not UTF-8; no tokens, or no word seen ``min_count`` times; a full disk.
        Terminated: SIGTERM arrived (everything was cleaned up).
    """
    begun = time.monotonic()
    options = VectorsSettings(**settings)
    options.check()
    out = check_output(output, options.model, force)
    if max_texts is not None and max_texts < 1:
        raise TextclfError(f"max_texts must be at least 1, got {max_texts}")
    _warn_ignored(options)
    workers = options.workers or min(usable_cpus(), MAX_DEFAULT_WORKERS)
    if sum(os.fspath(path) == STDIN for path in inputs) > 1:
        raise TextclfError("--input -: stdin can be read once only")
    sources = [file_source(Path(path)) for path in inputs]
    module, mode = None, tokenizer
    if data is not None:
        module = data_module(Path(data))
        mode = _agreed(tokenizer, module.tokenizer.mode, data)
    if not sources and module is None:
        raise TextclfError("nothing to train on: give text files (--input) and/or a corpus (--data)")
    tokens = Tokenizer(mode or "basic")  # every token, whatever max_length the classifier cuts texts to
    with signals_raise():
        created: list[Path] = []
        try:
            with scratch_folder("textclf-vectors-") as scratch:
                sources += [data_source(module, split, str(data), scratch / f"raw-{split}")
                            for split in dict.fromkeys(splits) if module is not None]  # fmt: skip
                created = prepare_folder(out)
                corpus = write_tokens(sources, tokens, scratch / "tokens.txt", report_every, max_texts)
                if corpus.tokens == 0:
                    names = [str(s.get("input") or f"{s['class']} {s['split']}") for s in corpus.sources]
                    raise TextclfError(f"no tokens to train on in {', '.join(names)}: every text is empty")
                if options.phrases:
                    corpus = join_phrases(corpus, scratch / "phrases.txt", options.phrases_min_count,
                                          options.phrases_threshold)  # fmt: skip
                model, progress = _train(corpus, options, workers, report_every)
            check_output(out, options.model, force)  # still free: nothing appeared there while it trained
            trained = _write(out, model, progress, options, workers, corpus, tokens, begun)
        except BaseException:
            remove_folders(created)
            raise
    del model
    gc.collect()
    log.info("trained %s (%s of %s; %s after downsampling) in %.1fs, %s words/s; %s x %d dims; wrote %s "
             "(%s) and %s", counted(trained.words, "word"), counted(options.epochs, "epoch"),
             counted(corpus.tokens, "token"), f"{trained.effective_words:,}", trained.train_seconds,
             f"{trained.words_per_second:,.0f}", counted(trained.vocab_size, "word"), trained.dim, out,
             trained.format, trained.sidecar.name)  # fmt: skip
    return trained


def _warn_ignored(options: VectorsSettings) -> None:
    """A warning for fastText settings given to word2vec (which has no subwords)."""
    if options.model == "fasttext":
        return
    defaults = VectorsSettings()
    given = [f"--{name.replace('_', '-')} {getattr(options, name)}" for name in FASTTEXT_ONLY
             if getattr(options, name) != getattr(defaults, name)]  # fmt: skip
    if given:
        log.warning("%s: fastText settings, ignored by word2vec (use --model fasttext)", ", ".join(given))


def _agreed(asked: TokenizerMode | None, data_mode: TokenizerMode, data: str | os.PathLike[str]) -> TokenizerMode:
    if asked is not None and asked != data_mode:
        raise TextclfError(
            f"--tokenizer {asked} differs from the tokenizer of --data {data} ({data_mode}): the vectors must be "
            "tokenised as the classifier tokenises; leave --tokenizer out"
        )
    return data_mode


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
    log.info("vocabulary: %s seen at least %s (of %s) in %.1fs; training %s with %s on %s",
             counted(len(model.wv), "word"), counted(options.min_count, "time"), f"{distinct:,}",
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
            f"samples, {counted(options.epochs, 'epoch')}{extra}")  # fmt: skip


def _write(
    out: Path,
    model: Any,
    progress: TrainingProgress,
    options: VectorsSettings,
    workers: int,
    corpus: TokenFile,
    tokenizer: Tokenizer,
    begun: float,
) -> TrainedVectors:
    """Write the vectors and their sidecar (:func:`~.output.write_outputs`); what was written."""
    vocab, fmt = list(model.wv.index_to_key), FORMATS[options.model]
    started = time.monotonic()
    done: list[TrainedVectors] = []

    def sidecar() -> dict[str, Any]:  # once the vectors are staged: the whole run's seconds
        now = time.monotonic()
        done.append(TrainedVectors(out, sidecar_path(out), fmt, progress.done, progress.effective, now - begun,
                                   progress.seconds, progress.done / max(progress.seconds, 1e-9), len(vocab),
                                   options.dim))  # fmt: skip
        phrases = [phrase for phrase in corpus.phrases if phrase in model.wv.key_to_index]  # those with a vector
        return {**_sidecar(done[0], options, workers, corpus, tokenizer, now - started), "phrases": phrases}

    write_outputs(
        out, lambda staging: write_checked(model, options.model, fmt, staging, out, vocab, options.dim), sidecar
    )
    return done[0]


def _sidecar(
    trained: TrainedVectors,
    options: VectorsSettings,
    workers: int,
    corpus: TokenFile,
    tokenizer: Tokenizer,
    write_seconds: float,
) -> dict[str, Any]:
    """``OUT.json``'s content: data only (settings, sources, tokenizer, counts, timings, versions); paths absolute."""
    import gensim

    from textclf import __version__

    settings = {f.name: getattr(options, f.name) for f in fields(options)}
    settings["workers"] = workers
    if options.model != "fasttext":
        for name in FASTTEXT_ONLY:
            del settings[name]
    return {
        "path": str(trained.path.resolve()), "format": trained.format, "settings": settings,
        "sources": corpus.sources, "tokenizer": tokenizer.to_dict(), "texts": corpus.texts, "tokens": corpus.tokens,
        "vocab_size": trained.vocab_size, "dim": trained.dim, "words_trained": trained.words,
        "effective_words": trained.effective_words, "seconds": round(trained.seconds, 3),
        "train_seconds": round(trained.train_seconds, 3), "write_seconds": round(write_seconds, 3),
        "words_per_second": round(trained.words_per_second), "gensim": gensim.__version__, "textclf": __version__,
    }  # fmt: skip

"""TextDataModule: read a corpus once, tokenise and numericalise it batch by batch, cache it, serve buckets."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

import textclf.logs  # noqa: F401  (the info lines below reach Python users too: textclf.logs.library_defaults)
from textclf.data.batching import TokenIdsDataset, bucket_loader
from textclf.data.cache import CacheEntry, default_cache_dir
from textclf.data.groups import meta_groups, window_dataset
from textclf.data.options import AtLeastTwo, NonNegativeInt, OpenUnitInterval, PositiveInt, check_options, plain
from textclf.data.prepare import build_vocabulary, load_split, log_corpus, read_prepared, write_prepared
from textclf.data.splits import LabelledSplit, carve_missing_splits, clean_split, label_order
from textclf.errors import TextclfError
from textclf.tokenize import Tokenizer, TokenizerMode
from textclf.vocab import Vocabulary, merge_vocabularies
from textclf.wording import counted

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class TextDataModule(L.LightningDataModule):
    """Base of every corpus: subclasses only say how to read their raw splits.

    On first use (``prepare_data``, ``setup`` or any of ``vocab``/``labels``/``embeddings``) the raw splits are
    read, cleaned (empty texts dropped with a logged count), missing val/test splits carved from train (stratified,
    seeded), tokenised and numericalised batch by batch (:mod:`textclf.data.prepare`: memory stays flat as the
    corpus grows), and cached under ``cache_dir`` keyed by the data files, tokenizer and vocabulary settings:
    later runs load the cache (memory-mapped) and start within seconds.

    Args:
        tokenizer: ``basic`` (lowercase, punctuation split), ``cased`` or ``whitespace``; default ``basic``, or the
            tokenizer of ``init_vocab_from``'s checkpoint (stating another one then is an error).
        max_length: keep the first ``max_length`` tokens of every text (train, eval and predict alike).
        min_freq: training words seen fewer times map to ``<unk>`` ...
        max_vocab_size: ... and the vocabulary keeps at most this many words.
        vectors: pretrained word vectors: a file path or a gensim-data name (docs/vectors.md; phrases: ``tokenizer``).
        keep_words_with_vectors: keep training words below ``min_freq`` when they have a pretrained vector.
        vectors_vocab_size: also add the first N words of the vectors file (the most frequent ones in the
            word2vec, GloVe and fastText releases) to the vocabulary, so that words never seen in training still
            get their pretrained vector at test and prediction time (they receive no gradient from training).
        batch_size: training batch size.
        eval_batch_size: batch size for validation/test/predict (default: 4 x batch_size).
        bucket_size: batches per length-sorted chunk when shuffling.
        val_fraction: fraction of train held out (stratified) when the corpus has no validation split.
        test_fraction: fraction of train held out (stratified) when the corpus has no test split.
        fold: for corpora without a test split: use this fold (0-based) of a seeded stratified ``num_folds``-fold
            partition (``num_folds`` >= 2) as the test split instead of a ``test_fraction`` hold-out.
        num_workers: DataLoader worker processes.
        cache_dir: where prepared data and vector matrices are cached (default ``$TEXTCLF_CACHE``, ~/.cache/textclf).
        seed: seed of the held-out splits, the shuffling and the initialisation of words without vectors.
        init_vocab_from: a checkpoint to fine-tune from: numericalise with its vocabulary (see docs/finetune.md).
        extend_vocab: with ``init_vocab_from``: add the training words it lacks (they take their vector from
            ``vectors`` or the init for missing words); False keeps its vocabulary exactly.
        multi_label: every text has a set of labels (possibly empty) instead of one; batches then carry
            multi-hot ``(batch, num_labels)`` float targets (see docs/multi-label.md).

    Raises:
        TextclfError: an option out of its range, as the parser refuses it (:mod:`textclf.data.options`).
    """

    def __init__(
        self,
        *,
        tokenizer: TokenizerMode | None = None,
        max_length: PositiveInt | None = None,
        min_freq: PositiveInt = 1,
        max_vocab_size: PositiveInt | None = None,
        vectors: str | None = None,
        keep_words_with_vectors: bool = False,
        vectors_vocab_size: NonNegativeInt = 0,
        batch_size: PositiveInt = 50,
        eval_batch_size: PositiveInt | None = None,
        bucket_size: PositiveInt = 100,
        val_fraction: OpenUnitInterval = 0.1,
        test_fraction: OpenUnitInterval = 0.1,
        fold: NonNegativeInt | None = None,
        num_folds: AtLeastTwo = 10,
        num_workers: NonNegativeInt = 0,
        cache_dir: str | None = None,
        seed: NonNegativeInt = 42,
        init_vocab_from: str | None = None,
        extend_vocab: bool = True,
        multi_label: bool = False,
    ) -> None:
        check_options(o := plain({k: v for k, v in locals().items() if k not in ("self", "__class__")}))
        super().__init__()
        self.multi_label: bool = multi_label
        self.init_vocab_from = init_vocab_from
        self.extend_vocab: bool = extend_vocab
        self._init_vocab: Vocabulary | None = None  # init_vocab_from's, read when the data is first needed
        self._tokenizer_mode = tokenizer
        self._phrases_read = False  # whether the vectors' sidecar was read for phrases (by .tokenizer)
        try:  # checked now; with init_vocab_from, the checkpoint's mode replaces the default
            self._tokenizer = Tokenizer(tokenizer or "basic", o["max_length"])
        except ValueError as e:
            raise TextclfError(str(e)) from None
        self.min_freq: int = o["min_freq"]
        self.max_vocab_size: int | None = o["max_vocab_size"]
        self.vectors = vectors
        self.keep_words_with_vectors: bool = keep_words_with_vectors
        self.vectors_vocab_size: int = o["vectors_vocab_size"]
        self.batch_size: int = o["batch_size"]
        self.eval_batch_size: int = o["eval_batch_size"] or 4 * o["batch_size"]
        self.bucket_size: int = o["bucket_size"]
        self.val_fraction: float = o["val_fraction"]
        self.test_fraction: float = o["test_fraction"]
        self.fold: int | None = o["fold"]
        self.num_folds: int = o["num_folds"]
        self.num_workers: int = o["num_workers"]
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.seed: int = o["seed"]
        self._meta: dict[str, Any] | None = None
        self._prepared: Path | None = None  # the prepared-data cache entry, once prepare() found or built it
        self._datasets: dict[str, TokenIdsDataset] = {}
        self._embeddings: torch.Tensor | None = None
        self.scratch_dir: Path | None = None  # while preparing: a folder read_splits may fill (removed afterwards)

    def __str__(self) -> str:  # Lightning's builds every loader (reading the corpus again) just to name the module
        return type(self).__name__

    # ---- what subclasses provide -------------------------------------------------------------------------

    def read_splits(self) -> dict[str, LabelledSplit]:
        """Raw ``train`` (required), ``val`` and ``test`` splits as ``(texts, labels, source name)``."""
        raise NotImplementedError

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the raw data (paths, sizes, modification times, reader options) for the cache key."""
        raise NotImplementedError

    def fixed_labels(self) -> list[str] | None:
        """Label names in a fixed order, or None to take the sorted labels of the training split."""
        return None

    # ---- prepared state ----------------------------------------------------------------------------------

    @property
    def vocab(self) -> Vocabulary:
        """The training vocabulary."""
        meta = self.prepare()
        return Vocabulary(meta["vocab"], meta["trained_size"])

    @property
    def labels(self) -> list[str]:
        """Label names; index i is class i."""
        return list(self.prepare()["labels"])

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.labels)

    @property
    def label_counts(self) -> list[int]:
        """Training examples per class (for multi-label data: with the label among theirs)."""
        return list(self.prepare()["label_counts"])

    @property
    def embeddings(self) -> torch.Tensor | None:
        """``(vocab_size, dim)`` pretrained vectors aligned to ``vocab``, or None when no ``vectors`` are set."""
        if self.vectors is None:
            return None
        if self._embeddings is None:
            from textclf.vectors import build_embedding_matrix

            meta = self.prepare()
            matrix, _ = build_embedding_matrix(self.vectors, meta["vocab"], token_counts=meta["token_counts"],
                                               cache_dir=self.cache_dir, seed=self.seed)  # fmt: skip
            self._embeddings = torch.from_numpy(matrix)
        return self._embeddings

    def split(self, name: str) -> TokenIdsDataset:
        """The prepared split ``train``, ``val`` or ``test`` (memory-mapped from the cache)."""
        if name not in self._datasets:
            self._datasets[name] = load_split(self._prepared_dir(), name)
        return self._datasets[name]

    def split_meta(self, name: str) -> dict[str, list[Any]]:
        """Per-example columns beside the ids, aligned with :meth:`split` (dialogs: conversation, position), or {}."""
        path = self._prepared_dir() / f"{name}.meta.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def split_texts(self, name: str = "test") -> Iterator[str]:
        """The original texts of the prepared split, in :meth:`split` order (kept for ``test`` only), streamed."""
        path = self._prepared_dir() / f"{name}.texts.jsonl"
        if not path.exists():
            raise TextclfError(f"the prepared data in {path.parent} keeps no texts for the {name!r} split")
        with path.open(encoding="utf-8") as handle:
            yield from (json.loads(line) for line in handle)

    # ---- Lightning hooks ---------------------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Build the cache (once, on the main process)."""
        self.prepare()
        if self.vectors is not None:
            self.embeddings  # noqa: B018 (builds and caches the vector matrix)

    def setup(self, stage: str | None = None) -> None:
        """Load the prepared splits."""
        self.prepare()

    def train_dataloader(self) -> DataLoader:
        """Shuffled, length-bucketed training batches (sharded across DDP ranks)."""
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches sorted by length."""
        return self.loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Test batches sorted by length."""
        return self.loader("test", shuffle=False)

    def loader(self, name: str, *, shuffle: bool, model: Any = None) -> DataLoader:
        """Batches of split ``name``; for a model with a context head (``model``, default the trainer's), of windows."""
        trainer, dataset = self.trainer, self.split(name)
        batch_size = self.batch_size if shuffle else self.eval_batch_size
        model = model if model is not None or trainer is None else trainer.lightning_module
        if (windowing := getattr(model, "windowing", None)) is not None:  # windows of groups (data/groups.py)
            windows = window_dataset(dataset, meta_groups(self.split_meta(name), f"{self} {name}"), windowing)
            dataset, batch_size = windows, windows.windows_per_batch(batch_size)  # type: ignore[assignment]
        shard = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        return bucket_loader(dataset, batch_size, shuffle=shuffle, seed=self.seed, bucket_size=self.bucket_size,
                             num_workers=self.num_workers, shard=shard)  # fmt: skip

    # ---- preparation and cache ---------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "data": self.fingerprint(),
            "labels": self.fixed_labels(),
            "tokenizer": self.tokenizer.to_dict(),
            "min_freq": self.min_freq,
            "max_vocab_size": self.max_vocab_size,
            "keep_words_with_vectors": self.keep_words_with_vectors,
            "vectors_vocab_size": self.vectors_vocab_size,
            "vectors": self.vectors if self._needs_vector_words() else None,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "fold": None if self.fold is None else [self.fold, self.num_folds],
            "seed": self.seed,
        }
        if self.multi_label:  # only then, so that other caches keep their keys
            settings["multi_label"] = True
        base = self._base_vocabulary()
        if base is not None:  # only then, so that other caches keep their keys
            tokens = hashlib.sha256("\n".join(base.tokens).encode()).hexdigest()
            settings["init_vocab"] = [tokens, base.trained_size, self.extend_vocab]
        return settings

    def _cache_entry(self) -> CacheEntry:
        return CacheEntry(self.cache_dir, "data", self._settings())

    def _cache_path(self) -> Path:
        """``<cache_dir>/data/<key>``: the prepared-data entry of these settings."""
        return self._cache_entry().path

    def _prepared_dir(self) -> Path:
        self.prepare()
        assert self._prepared is not None
        return self._prepared

    def prepare(self) -> dict[str, Any]:
        """Read, clean, split, tokenise and numericalise the corpus, or load it from the cache (DDP ranks wait)."""
        if self._meta is not None:
            return self._meta
        entry = self._cache_entry()
        built: list[dict[str, Any]] = []

        def build(staging: Path) -> None:
            built.append(self._build_cache(staging, entry.settings))

        self._meta = entry.get(build, lambda directory: built[0] if built else read_prepared(directory))
        self._prepared = entry.path
        log_corpus(type(self).__name__, self._meta, entry.path, bool(built))  # every run, from the cache too
        return self._meta

    def _build_cache(self, staging: Path, settings: dict[str, Any]) -> dict[str, Any]:
        """Write the prepared data into the empty folder ``staging``; return its meta (``settings`` included)."""
        self.scratch_dir = staging / ".raw"
        try:
            splits = {name: clean_split(split) for name, split in self.read_splits().items()}
            given = sorted(splits)  # the splits the corpus has; the others are carved from train
            splits = carve_missing_splits(
                splits, self.val_fraction, self.test_fraction, self.seed, self.fold, self.num_folds
            )
            labels = label_order(splits, self.fixed_labels(), self.multi_label)
            meta = write_prepared(staging, splits, labels, self.tokenizer, self._build_vocabulary, self.multi_label)
            meta["given"] = given
            (staging / "meta.json").write_text(json.dumps({"settings": settings, **meta}))
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
        finally:
            self.scratch_dir = None
        return {"settings": settings, **meta}

    def _needs_vector_words(self) -> bool:
        return self.vectors is not None and (self.keep_words_with_vectors or self.vectors_vocab_size > 0)

    def _build_vocabulary(self, counts: Counter[str]) -> Vocabulary:
        words = None
        if self._needs_vector_words():
            from textclf.vectors import vectors_vocabulary

            words = vectors_vocabulary(self.vectors, cache_dir=self.cache_dir)  # type: ignore[arg-type]
        own = build_vocabulary(counts, self.min_freq, self.max_vocab_size, words, self.keep_words_with_vectors,
                               self.vectors_vocab_size, lowercase=self.tokenizer.mode == "basic")  # fmt: skip
        base = self._base_vocabulary()
        if base is None:
            return own
        vocab = merge_vocabularies(base, own) if self.extend_vocab else base
        added = counted(vocab.trained_size - base.trained_size, "training word")
        change = f"extended with {added}" if self.extend_vocab else "kept"
        log.info("vocabulary of %s: %s, %s", self.init_vocab_from, counted(len(base), "word"), change)
        return vocab

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer: ``init_vocab_from``'s, else joining the phrases of ``vectors`` (``--phrases`` vectors)."""
        fixed = self._base_vocabulary() is not None  # a checkpoint's tokenizer, which its vocabulary needs
        if self.vectors is not None and not self._phrases_read:
            from textclf.vectors.sidecar import with_phrases_of  # vectors trained with ``vectors train --phrases``

            self._phrases_read, self._tokenizer = True, with_phrases_of(self.vectors, self._tokenizer, fixed)
        return self._tokenizer

    def _base_vocabulary(self) -> Vocabulary | None:
        """``init_vocab_from``'s vocabulary (read once, when the data is first needed; never in ``__init__``)."""
        if self.init_vocab_from is not None and self._init_vocab is None:
            from textclf.checkpoint import read_vocabulary

            self._init_vocab, trained = read_vocabulary(self.init_vocab_from, self._tokenizer_mode)
            self._tokenizer = Tokenizer(trained.mode, self._tokenizer.max_length, trained.phrases)
        return self._init_vocab

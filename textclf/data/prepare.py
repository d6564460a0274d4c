"""Tokenise and numericalise the splits in bounded memory: texts are read, tokenised and written batch by batch.

One pass over every split tokenises its texts, gives each new word a provisional id and appends the provisional
ids to a file beside the cache, counting the training words as it goes. Once the vocabulary is built from those
counts, a second pass maps the provisional ids to vocabulary ids, chunk by chunk, into the ``{split}.ids.npy``
files. Memory holds one batch of texts, the words seen and per-text lengths, never the corpus or its tokens.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from textclf.data.batching import TokenIdsDataset
from textclf.data.splits import LabelledSplit, encode_labels
from textclf.tokenize import Tokenizer
from textclf.vocab import Vocabulary
from textclf.wording import counted

log = logging.getLogger(__name__)

BATCH = 1000  # texts tokenised at a time
REMAP_CHUNK = 1 << 22  # ids remapped at a time
SPLIT_FILES = ("ids.npy", "offsets.npy", "labels.npy")  # <split>.<file> of every split in a prepared entry


def write_splits(
    directory: Path,
    splits: dict[str, LabelledSplit],
    tokenizer: Tokenizer,
    build_vocabulary: Callable[[Counter[str]], Vocabulary],
) -> tuple[Vocabulary, Counter[str], dict[str, int]]:
    """Write ``{split}.ids.npy``/``{split}.offsets.npy`` for every split and ``test.texts.jsonl``.

    Returns the vocabulary (``build_vocabulary`` of the training word counts), those counts, and the split sizes.
    Ids are int32, offsets int64 ``(n + 1,)`` from 0; an empty text is ``[<unk>]``, as :meth:`Vocabulary.encode`.
    """
    words: dict[str, int] = {}  # word -> provisional id, from 1; 0 stands for the <unk> of a text without words
    lengths: dict[str, np.ndarray] = {}
    seen: dict[str, np.ndarray] = {}  # occurrences of every provisional id
    for name, split in splits.items():
        keep_texts = directory / "test.texts.jsonl" if name == "test" else None  # for the evaluation report
        out = directory / f"{name}.words.tmp"
        lengths[name], seen[name] = _tokenize(split.texts, tokenizer, words, out, keep_texts)
    counts = Counter({word: int(n) for word, n in zip(words, seen["train"][1:], strict=False) if n > 0})
    vocab = build_vocabulary(counts)
    remap = np.fromiter((vocab.index.get(word, vocab.unk_index) for word in words), np.int32, len(words))
    remap = np.concatenate([np.array([vocab.unk_index], dtype=np.int32), remap])
    for name, sizes in lengths.items():
        _write_ids(directory / f"{name}.words.tmp", directory / f"{name}.ids.npy", remap, int(sizes.sum()))
        offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        np.save(directory / f"{name}.offsets.npy", offsets)
    return vocab, counts, {name: len(sizes) for name, sizes in lengths.items()}


def _tokenize(
    texts: Iterable[str], tokenizer: Tokenizer, words: dict[str, int], out: Path, keep_texts: Path | None
) -> tuple[np.ndarray, np.ndarray]:
    """Append the provisional ids of ``texts`` to ``out`` (adding new words to ``words``), batch by batch.

    Returns each text's length ``(n,)`` and how often each provisional id occurs ``(len(words) + 1,)``.
    """
    parts, counts = [], np.zeros(1, dtype=np.int64)
    with ExitStack() as files:
        ids_file = files.enter_context(out.open("wb"))
        texts_file = files.enter_context(keep_texts.open("w", encoding="utf-8")) if keep_texts else None
        for batch in _batches(texts, BATCH):
            ids, sizes = _provisional_ids(tokenizer.batch(batch), words)
            ids.tofile(ids_file)
            parts.append(sizes)
            counts = _add(counts, np.bincount(ids, minlength=len(words) + 1))
            if texts_file is not None:
                texts_file.writelines(json.dumps(text, ensure_ascii=False) + "\n" for text in batch)
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)), counts


def _batches(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(texts)
    while batch := list(islice(iterator, size)):
        yield batch


def _provisional_ids(token_lists: list[list[str]], words: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """The provisional ids of a batch, flat ``(total,)`` int32, and each text's length ``(batch,)`` int64."""
    flat: list[int] = []
    lengths = np.empty(len(token_lists), dtype=np.int64)
    for i, tokens in enumerate(token_lists):
        for token in tokens:
            flat.append(words.setdefault(token, len(words) + 1))
        if not tokens:
            flat.append(0)
        lengths[i] = max(len(tokens), 1)
    return np.asarray(flat, dtype=np.int32), lengths


def _add(total: np.ndarray, counts: np.ndarray) -> np.ndarray:
    if len(counts) > len(total):
        total = np.concatenate([total, np.zeros(len(counts) - len(total), dtype=np.int64)])
    total[: len(counts)] += counts
    return total


def _write_ids(source: Path, target: Path, remap: np.ndarray, total: int) -> None:
    """``remap[provisional ids]`` as an int32 ``.npy`` file (byte for byte what ``np.save`` writes), chunk by chunk."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.int32)), "fortran_order": False, "shape": (total,)}
    with source.open("rb") as handle, target.open("wb") as out:
        np.lib.format.write_array_header_1_0(out, header)
        while (chunk := np.fromfile(handle, dtype=np.int32, count=REMAP_CHUNK)).size:
            remap[chunk].tofile(out)
    source.unlink()


def write_prepared(
    directory: Path,
    splits: dict[str, LabelledSplit],
    labels: list[str],
    tokenizer: Tokenizer,
    build_vocabulary: Callable[[Counter[str]], Vocabulary],
    multi_label: bool,
) -> dict[str, Any]:
    """Write every split's ids, offsets and labels (and per-example meta) into ``directory``; return the meta.

    The meta holds the vocabulary (``vocab``, ``trained_size``, ``token_counts``), the ``labels`` in index order,
    the training ``label_counts`` and the split ``sizes``.
    """
    vocab, counts, sizes = write_splits(directory, splits, tokenizer, build_vocabulary)
    for name, split in splits.items():
        np.save(directory / f"{name}.labels.npy", encode_labels(split.labels, labels, multi_label))
        if split.meta:
            (directory / f"{name}.meta.json").write_text(json.dumps(split.meta))
    train = encode_labels(splits["train"].labels, labels, multi_label)
    per_label = train.sum(axis=0) if multi_label else np.bincount(train, minlength=len(labels))
    return {
        "vocab": vocab.tokens,
        "trained_size": vocab.trained_size,
        "token_counts": [counts.get(token, 0) for token in vocab.tokens],
        "labels": labels,
        "label_counts": per_label.tolist(),
        "sizes": sizes,
    }


def read_prepared(directory: Path) -> dict[str, Any]:
    """The ``meta.json`` of a finished prepared-data entry, every split's arrays checked (:func:`load_split`).

    An entry is data only: JSON and ``.npy`` files read with ``allow_pickle=False``, so a damaged or hostile cache
    folder can make textclf rebuild the entry, never run code.

    Raises:
        ValueError, KeyError, TypeError, OSError: the meta or a split's arrays are missing or inconsistent (the
            cache rebuilds such an entry, :data:`textclf.data.cache.CORRUPT_ERRORS`).
    """
    meta: dict[str, Any] = json.loads((directory / "meta.json").read_text())
    if not isinstance(meta, dict) or not isinstance(meta.get("sizes"), dict):
        raise ValueError("meta.json is not a prepared-data meta")
    for key in ("vocab", "labels"):
        if not isinstance(meta.get(key), list) or not all(isinstance(item, str) for item in meta[key]):
            raise ValueError(f"meta.json: {key} is not a list of strings")
    Vocabulary(meta["vocab"], meta["trained_size"])  # raises ValueError/TypeError for a damaged one
    files = [f"{name}.{file}" for name in meta["sizes"] for file in SPLIT_FILES]
    missing = [file for file in files if not (directory / file).is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(missing)}")
    for name, size in meta["sizes"].items():
        if len(load_split(directory, name, len(meta["labels"]))) != size:
            raise ValueError(f"{name} split: {counted(size, 'example')} in meta.json, not in its arrays")
    return meta


def load_split(directory: Path, name: str, num_labels: int | None = None) -> TokenIdsDataset:
    """The prepared split ``name`` of an entry: ids memory-mapped, offsets and labels loaded (no pickles).

    Raises:
        ValueError: an array of the wrong kind or shape: ids not 1-d integers, offsets not ``(n + 1,)``
            increasing from 0 to ``len(ids)``, labels not ``(n,)`` integers in ``[0, num_labels)`` or
            ``(n, num_labels)`` multi-hot rows.
    """
    ids = np.load(directory / f"{name}.ids.npy", mmap_mode="r", allow_pickle=False)
    offsets = np.load(directory / f"{name}.offsets.npy", allow_pickle=False)
    labels = np.load(directory / f"{name}.labels.npy", allow_pickle=False)
    n = len(offsets) - 1
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or offsets.ndim != 1 or offsets.dtype.kind not in "iu" or n < 0:
        raise ValueError(f"{name} split: ids or offsets are not 1-d integer arrays")
    if offsets[0] != 0 or offsets[-1] != len(ids) or bool(np.any(np.diff(offsets) < 0)):
        raise ValueError(f"{name} split: offsets do not run from 0 to {len(ids)} in order")
    if len(labels) != n or labels.ndim not in (1, 2) or labels.dtype.kind not in "iuf":
        raise ValueError(f"{name} split: {counted(len(labels), 'label')} for {counted(n, 'text')}")
    if num_labels is not None and labels.ndim == 1 and n and not 0 <= labels.min() <= labels.max() < num_labels:
        raise ValueError(f"{name} split: label indices outside [0, {num_labels})")
    if num_labels is not None and labels.ndim == 2 and labels.shape[1] != num_labels:
        raise ValueError(f"{name} split: {counted(labels.shape[1], 'label column')}, not {num_labels}")
    return TokenIdsDataset(ids, offsets, labels)


def log_corpus(name: str, meta: dict[str, Any], directory: Path, built: bool) -> None:
    """Log :func:`corpus_lines` (on global rank 0 only)."""
    if getattr(rank_zero_only, "rank", 0) == 0:
        for line in corpus_lines(name, meta, directory, built):
            log.info("%s", line)


def split_origins(meta: dict[str, Any]) -> dict[str, str]:
    """How the val/test splits its corpus lacked were made, for a prepared entry's meta.

    Nothing is known for entries written before ``given`` was recorded.
    """
    given, settings = meta.get("given"), meta.get("settings") or {}
    if given is None:
        return {}
    origins = {}
    for split in ("val", "test"):
        if split not in given:
            fraction = settings.get(f"{split}_fraction")
            origins[split] = f"held out of train, {split}_fraction {fraction:g}"
    fold = settings.get("fold")
    if "test" not in given and fold is not None:
        origins["test"] = f"fold {fold[0]} of {fold[1]} of train"
    return origins


def corpus_lines(name: str, meta: dict[str, Any], directory: Path, built: bool) -> list[str]:
    """The two log lines of a prepared corpus: its splits, classes and vocabulary, and where its cache entry is.

    ``TREC: 5,952 texts, 6 classes: train 4,909, val 543 (held out of train, val_fraction 0.1), test 500`` and
    ``vocabulary: 100,675 words (8,040 from training, 92,633 from the vectors file); prepared data cached in DIR``
    (``using prepared data from DIR`` for an entry built by an earlier run). Every count is what the entry holds.
    """
    sizes: dict[str, int] = meta["sizes"]
    origins = split_origins(meta)
    splits = ", ".join(f"{split} {size:,}" + (f" ({origins[split]})" if split in origins else "") for split, size in
                       sizes.items())  # fmt: skip
    labels = len(meta["labels"])
    multi_label = meta.get("settings", {}).get("multi_label")
    kind = counted(labels, "label") if multi_label else counted(labels, "class", "classes")
    corpus = f"{name}: {counted(sum(sizes.values()), 'text')}, {kind}: {splits}"
    vocab, trained = len(meta["vocab"]), int(meta["trained_size"])
    words = counted(vocab, "word")
    if trained < vocab:
        words += f" ({trained - 2:,} from training, {vocab - trained:,} from the vectors file)"
    where = f"prepared data cached in {directory}" if built else f"using prepared data from {directory}"
    return [corpus, f"vocabulary: {words}; {where}"]


def build_vocabulary(
    counts: Counter[str],
    min_freq: int,
    max_size: int | None,
    vector_words: list[str] | None,
    keep_words_with_vectors: bool,
    vectors_vocab_size: int,
    *,
    lowercase: bool,
) -> Vocabulary:
    """The training vocabulary of ``counts``, with the words of a vectors file (``vector_words``) when asked.

    ``keep_words_with_vectors`` keeps training words below ``min_freq`` that have a vector (exact, lowercase or
    capitalised); ``vectors_vocab_size`` adds the first N vectors-file words (lowercased for ``lowercase``).
    """
    keep: set[str] = set()
    extra: list[str] = []
    if vector_words is not None:
        if keep_words_with_vectors:
            known = set(vector_words)
            keep = {w for w in counts if w in known or w.lower() in known or w.capitalize() in known}
        extra = [w.lower() if lowercase else w for w in vector_words[:vectors_vocab_size]]
    return Vocabulary.build(counts, min_freq=min_freq, max_size=max_size, keep=keep, extra=extra)

"""fastText subword vectors for vocabulary words the model lacks (textclf.vectors.subwords, docs/vectors.md)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
from factories import cache_entries, forbid

from textclf import vectors as V
from textclf.data.cache import CacheEntry
from textclf.errors import TextclfError
from textclf.vectors import files as VF
from textclf.vectors import store as VS
from textclf.vectors import subwords as VW

SENTENCES = [["the", "good", "movie"], ["a", "bad", "film"], ["long", "films", "bore"]] * 5
OOV = ["movies", "filmmaker", "goodness", "Bored"]  # not in the model: their subword vectors
NO_NGRAMS = "\udcff"  # a lone surrogate (a corpus decoded with surrogateescape): not UTF-8, so no n-gram
VOCAB = ["<pad>", "<unk>", "movie", "Film", "films", *OOV, NO_NGRAMS]
SUBWORD_ROWS = [5, 6, 7, 8]


def _model(tmp_path: Path, name: str = "model.bin", **settings: int) -> Path:
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    kw = {"min_n": 3, "max_n": 5, "bucket": 1000, **settings}
    model = FastText(SENTENCES, vector_size=8, min_count=1, epochs=1, workers=1, seed=1, **kw)
    path = tmp_path / name
    save_facebook_model(model, str(path))
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return _model(tmp_path)


def _gensim(path: Path):
    from gensim.models.fasttext import load_facebook_vectors

    return load_facebook_vectors(str(path))


def _store_entry(cache: Path) -> Path:
    (name,) = cache_entries(cache, "vectors-store")
    return cache / "vectors-store" / name


def _check_rows(matrix: np.ndarray, path: Path, seed: int = 0) -> None:
    """Found words: the model's vectors; others: gensim's get_vector; <pad> zero; <unk> and NO_NGRAMS random."""
    kv = _gensim(path)
    assert matrix.dtype == np.float32 and matrix.shape == (len(VOCAB), 8)
    assert not matrix[0].any()
    np.testing.assert_array_equal(
        matrix[[2, 3, 4]], kv.vectors[[kv.key_to_index[w] for w in ("movie", "film", "films")]]
    )
    for i in SUBWORD_ROWS:
        assert VOCAB[i] not in kv.key_to_index
        np.testing.assert_allclose(matrix[i], kv.get_vector(VOCAB[i]), rtol=1e-6, atol=0)
    a = math.sqrt(3) * float(np.std(matrix[[2, 3, 4]], dtype=np.float64))
    expected = np.random.default_rng(seed).uniform(-a, a, size=(2, 8)).astype(np.float32)  # <unk>, NO_NGRAMS
    np.testing.assert_allclose(matrix[[1, 9]], expected, rtol=1e-6)


def test_words_missing_from_the_model_get_gensims_subword_vector(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_rows(V.build_embedding_matrix(model, VOCAB, seed=3)[0], model, seed=3)  # no cache
    cache = tmp_path / "cache"
    _check_rows(V.build_embedding_matrix(model, VOCAB, cache_dir=cache, seed=3)[0], model, seed=3)  # parsed now
    entry = _store_entry(cache)
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["subwords"] == {"min_n": 3, "max_n": 5, "bucket": 1000}
    assert np.load(entry / "ngrams.npy", allow_pickle=False).shape == (1000, 8)
    forbid(monkeypatch, VF, "read_vectors", "parsed again despite the cache")
    _check_rows(V.build_embedding_matrix(model, VOCAB, cache_dir=cache, seed=3)[0], model, seed=3)  # matrix hit
    _check_rows(V.build_embedding_matrix(model, VOCAB, cache_dir=cache, seed=3)[0], model, seed=3)
    other = [*VOCAB, "filmy"]  # another vocabulary: aligned from the memory-mapped store
    matrix, coverage = V.build_embedding_matrix(model, other, cache_dir=cache)
    np.testing.assert_allclose(matrix[-1], _gensim(model).get_vector("filmy"), rtol=1e-6, atol=0)
    assert coverage.types_subword == len(SUBWORD_ROWS) + 1


def test_stored_ngrams_are_memory_mapped_and_read_in_chunks(model: Path, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    V.vectors_vocabulary(model, cache_dir=cache)
    words = [VOCAB[i] for i in SUBWORD_ROWS]

    def subword_vectors(stored: VS.StoredVectors) -> tuple[np.ndarray, np.ndarray]:
        assert stored.subwords is not None and isinstance(stored.subwords.ngrams, np.memmap)
        return stored.subword_vectors([*words, NO_NGRAMS, ""])

    whole, has = VS.use_stored_vectors(model, cache, subword_vectors)
    assert has.tolist() == [True] * len(words) + [False, False] and not whole[-2:].any()
    monkeypatch.setattr(VW, "CHUNK_WORDS", 2)  # words averaged two at a time: the same vectors
    np.testing.assert_array_equal(VS.use_stored_vectors(model, cache, subword_vectors)[0], whole)


def test_coverage_counts_subword_types_and_tokens_apart(model: Path, caplog: pytest.LogCaptureFixture) -> None:
    counts = [0, 9, 10, 5, 0, 4, 3, 2, 1, 6]  # "films" never seen in training: not counted
    with caplog.at_level(logging.INFO, logger="textclf.vectors"):
        _, coverage = V.build_embedding_matrix(model, VOCAB, token_counts=counts)
    assert coverage == V.Coverage(2, 7, 15, 31, types_subword=4, tokens_subword=10)
    assert coverage.type_rate == pytest.approx(2 / 7) and coverage.subword_type_rate == pytest.approx(4 / 7)
    line = (
        "vectors cover 2/7 types (28.6%) and 48.4% of 31 tokens; "
        "4 more types (57.1%) and 32.3% more tokens from subwords"
    )
    text = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(line) for m in text), text
    assert any("aligned 8 words (4 from subwords)" in m for m in text), text
    # subword vectors do not hide a low coverage (any string has n-grams): the warning says how many there are
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        len(warnings) == 1
        and "only 28.6% of the vocabulary" in warnings[0]
        and "57.1% more from subwords" in warnings[0]
    )
    assert str(V.Coverage(3, 5, 3, 5)) == "vectors cover 3/5 types (60.0%) and 60.0% of 5 tokens"  # none: as before


@pytest.mark.parametrize("settings", [{"max_n": 0}, {"bucket": 0}])
def test_a_model_without_subwords_keeps_random_rows(tmp_path: Path, settings: dict[str, int]) -> None:
    path = _model(tmp_path, **settings)
    cache = tmp_path / "cache"
    for cache_dir in (None, cache, cache):
        matrix, coverage = V.build_embedding_matrix(path, VOCAB, cache_dir=cache_dir)
        found = matrix[[2, 3, 4]]
        a = math.sqrt(3) * float(np.std(found, dtype=np.float64))
        expected = np.random.default_rng(0).uniform(-a, a, size=(6, 8)).astype(np.float32)  # <unk> and 5 words
        np.testing.assert_allclose(matrix[[1, *SUBWORD_ROWS, 9]], expected, rtol=1e-6)
        assert coverage == V.Coverage(3, 8, 3, 8)
    entry = _store_entry(cache)
    assert json.loads((entry / "meta.json").read_text())["subwords"] is None
    assert not (entry / "ngrams.npy").exists()


def _damage(entry: Path, how: str) -> None:
    npy, meta_path = entry / "ngrams.npy", entry / "meta.json"
    ngrams = np.load(npy, allow_pickle=False)
    meta = json.loads(meta_path.read_text())
    if how == "wrong shape":
        np.save(npy, ngrams[:10])
    elif how == "float64":
        np.save(npy, ngrams.astype(np.float64))
    elif how == "nan":
        np.save(npy, np.full_like(ngrams, np.nan))
    elif how == "truncated":
        npy.write_bytes(npy.read_bytes()[:-64])
    elif how == "pickled":
        np.save(npy, np.array([{"a": 1}, 2], dtype=object), allow_pickle=True)
    elif how == "missing":
        npy.unlink()
    elif how == "bad settings":
        meta_path.write_text(json.dumps({**meta, "subwords": {"min_n": 3, "max_n": "5", "bucket": 1000}}))
    else:  # "older entry": written before subwords, without the key
        meta_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "subwords"}))
        npy.unlink()


@pytest.mark.parametrize(
    "how", ["wrong shape", "float64", "nan", "truncated", "pickled", "missing", "bad settings", "older entry"]
)
def test_a_damaged_ngram_matrix_is_rebuilt(
    model: Path, tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    V.vectors_vocabulary(model, cache_dir=cache)  # the store entry alone
    entry = _store_entry(cache)
    _damage(entry, how)
    with caplog.at_level(logging.WARNING):
        matrix, _ = V.build_embedding_matrix(model, VOCAB, cache_dir=cache)
    _check_rows(matrix, model)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "only" not in r.msg]
    assert len(warnings) == 1 and "vectors-store cache entry" in warnings[0] and str(entry) in warnings[0]
    assert np.load(entry / "ngrams.npy", allow_pickle=False).shape == (1000, 8)  # sound again


def test_a_model_whose_ngram_matrix_holds_nan_is_refused(tmp_path: Path) -> None:
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText(SENTENCES, vector_size=8, min_count=1, min_n=3, max_n=5, bucket=1000, epochs=1, workers=1, seed=1)
    model.wv.vectors_ngrams[999, 2] = np.nan  # a row no vocabulary word of this test uses
    path = tmp_path / "nan.bin"
    save_facebook_model(model, str(path))
    cache = tmp_path / "cache"
    for cache_dir in (None, cache):
        with pytest.raises(TextclfError, match=r"nan\.bin: a vector holds a non-finite value"):
            V.build_embedding_matrix(path, VOCAB, cache_dir=cache_dir)
    assert cache_entries(cache, "vectors-store") == []  # nothing stored


def _old_matrix_entry(cache: Path, path: Path, vocab: list[str], seed: int) -> Path:
    """A vectors-matrix entry as textclf wrote it before subwords: its key, bool found.npy, a marked matrix."""
    words = hashlib.sha256("\n".join(vocab).encode("utf-8", "surrogateescape")).hexdigest()
    settings = {"vectors": VS.vectors_identity(path), "vocab": [len(vocab), words], "seed": seed}
    entry = CacheEntry(cache, "vectors-matrix", settings)

    def build(folder: Path) -> None:
        np.save(folder / "matrix.npy", np.full((len(vocab), 8), 7, np.float32), allow_pickle=False)
        np.save(folder / "found.npy", np.array([False, False] + [True] * (len(vocab) - 2)), allow_pickle=False)
        (folder / "meta.json").write_text("{}")

    entry.get(build, lambda folder: None)
    return entry.path


def test_an_older_matrix_entry_of_a_fasttext_model_is_not_reused(model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old = _old_matrix_entry(cache, model, VOCAB, 0)
    matrix, coverage = V.build_embedding_matrix(model, VOCAB, cache_dir=cache)
    _check_rows(matrix, model)
    assert coverage.types_found == 3 and coverage.types_subword == 4
    assert len(cache_entries(cache, "vectors-matrix")) == 2 and old.is_dir()


def test_matrix_entries_of_other_formats_keep_their_key(tmp_path: Path) -> None:
    path = tmp_path / "glove.txt"
    path.write_text("movie 1 2 3 4 5 6 7 8\nfilm 8 7 6 5 4 3 2 1\n")
    vocab = ["<pad>", "<unk>", "movie", "film"]
    cache = tmp_path / "cache"
    _old_matrix_entry(cache, path, vocab, 0)
    matrix, coverage = V.build_embedding_matrix(path, vocab, cache_dir=cache)  # the older entry is still a hit
    assert (matrix == 7).all() and coverage == V.Coverage(2, 2, 2, 2)
    assert len(cache_entries(cache, "vectors-matrix")) == 1

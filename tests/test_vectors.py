import gzip
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import pytest
from factories import cache_entries, forbid

from textclf import vectors as V
from textclf.errors import TextclfError
from textclf.vectors import files as VF
from textclf.vectors import matrix as VM

WORDS = ["the", "movie", "Paris", "good", "bad", "NASA", "film", "great", ",", "."]
DIM = 4
# Multiples of 1/8: exact in float32 and in every text writer, so all formats must give identical vectors.
VECS = (np.random.default_rng(7).integers(-16, 17, size=(len(WORDS), DIM)) / 8).astype(np.float32)


def _text_lines() -> list[str]:
    return [w + " " + " ".join(repr(float(x)) for x in row) for w, row in zip(WORDS, VECS, strict=True)]


def _kv():
    from gensim.models import KeyedVectors

    kv = KeyedVectors(DIM)
    kv.add_vectors(WORDS, VECS)
    return kv


def _count_parses(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Record each parse of a vectors file (textclf.vectors.files.read_vectors, behind the store and the matrix)."""
    parses: list[tuple] = []
    real = VF.read_vectors

    def counted(*args, **kwargs):
        parses.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(VF, "read_vectors", counted)
    return parses


def _gz(src: Path, dst: Path) -> Path:
    dst.write_bytes(gzip.compress(src.read_bytes()))
    return dst


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """The same 10 x 4 vectors in every supported format."""
    d = tmp_path / "vec"
    d.mkdir()
    out = {"w2v.bin": d / "w2v.bin", "w2v.txt": d / "w2v.txt", "glove.txt": d / "glove.txt"}
    _kv().save_word2vec_format(str(out["w2v.bin"]), binary=True)
    out["w2v.txt"].write_text(f"{len(WORDS)} {DIM}\n" + "\n".join(_text_lines()) + "\n")
    out["glove.txt"].write_text("\n".join(_text_lines()) + "\n")
    out["w2v.txt.gz"] = _gz(out["w2v.txt"], d / "w2v.txt.gz")
    out["glove.txt.gz"] = _gz(out["glove.txt"], d / "glove.txt.gz")
    out["w2v.bin.gz"] = _gz(out["w2v.bin"], d / "w2v.bin.gz")
    out["binary-named.txt"] = d / "binary-named.txt"
    out["binary-named.txt"].write_bytes(out["w2v.bin"].read_bytes())
    out["gzip-named.txt"] = _gz(out["glove.txt"], d / "gzip-named.txt")
    out["plain-named.gz"] = d / "plain-named.txt.gz"
    out["plain-named.gz"].write_bytes(out["glove.txt"].read_bytes())
    out["ft.vec"] = d / "wiki-news.vec"
    out["ft.vec"].write_text(f"{len(WORDS)} {DIM}\n" + " \n".join(_text_lines()) + " \n")  # fastText: trailing space
    out["kv"] = d / "vectors.kv"
    _kv().save(str(out["kv"]))
    return out


EXPECTED_FORMAT = {
    "w2v.bin": "word2vec-binary",
    "w2v.bin.gz": "word2vec-binary",
    "binary-named.txt": "word2vec-binary",
    "w2v.txt": "word2vec-text",
    "w2v.txt.gz": "word2vec-text",
    "ft.vec": "word2vec-text",
    "glove.txt": "glove-text",
    "glove.txt.gz": "glove-text",
    "gzip-named.txt": "glove-text",
    "plain-named.gz": "glove-text",
    "kv": "keyedvectors",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FORMAT))
def test_detect_vectors_format(files: dict[str, Path], name: str) -> None:
    assert V.detect_vectors_format(files[name]) == EXPECTED_FORMAT[name]


@pytest.mark.parametrize("name", sorted(set(EXPECTED_FORMAT) - {"kv"}))  # a .kv pickle is refused: test_vectors_hostile
def test_every_format_loads_the_same_vectors(files: dict[str, Path], name: str) -> None:
    kv = V.load_keyed_vectors(files[name])
    assert list(kv.index_to_key) == WORDS
    assert kv.vector_size == DIM
    np.testing.assert_array_equal(kv.vectors, VECS)


def test_fasttext_binary_model(tmp_path: Path) -> None:
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText([["a", "good", "movie"], ["a", "bad", "film"]] * 5, vector_size=DIM, min_count=1, epochs=1)
    path = tmp_path / "model.bin"
    save_facebook_model(model, str(path))
    assert int.from_bytes(path.read_bytes()[:4], "little") == VF.FASTTEXT_MAGIC
    assert V.detect_vectors_format(path) == "fasttext-binary"
    kv = V.load_keyed_vectors(path)
    assert set(kv.index_to_key) == {"a", "good", "movie", "bad", "film"}
    np.testing.assert_allclose(kv["movie"], model.wv["movie"], rtol=1e-5)


@pytest.mark.parametrize(
    "content",
    [b"hello world, not vectors\n", b"\x00\x01\x02garbage\xff\xfe" * 50, b"1 2 3 x y\n", b"justoneword\n"],
)
def test_detect_vectors_format_rejects_garbage(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.txt"
    path.write_bytes(content)
    with pytest.raises(TextclfError, match=r"garbage\.txt") as e:
        V.detect_vectors_format(path)
    assert "glove-text" in str(e.value)


def test_detect_vectors_format_missing_file_and_broken_gzip(tmp_path: Path) -> None:
    with pytest.raises(TextclfError, match=r"nope\.txt"):
        V.detect_vectors_format(tmp_path / "nope.txt")
    broken = tmp_path / "broken.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 40)
    with pytest.raises(TextclfError, match=r"broken\.gz"):
        V.detect_vectors_format(broken)


def test_load_errors_name_the_file(tmp_path: Path, files: dict[str, Path]) -> None:
    bad = tmp_path / "bad-row.txt"
    lines = _text_lines()
    lines[3] = "good 0.5 0.25 0.125"  # 3 values instead of 4
    bad.write_text(f"{len(WORDS)} {DIM}\n" + "\n".join(lines) + "\n")
    with pytest.raises(TextclfError, match=r"bad-row\.txt"):
        V.load_keyed_vectors(bad)
    glove_bad = tmp_path / "glove-bad.txt"
    glove_bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(TextclfError, match=r"glove-bad\.txt"):
        V.load_keyed_vectors(glove_bad)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(files["w2v.bin"].read_bytes()[:-10])
    assert V.detect_vectors_format(truncated) == "word2vec-binary"
    with pytest.raises(TextclfError, match=r"truncated\.bin"):
        V.load_keyed_vectors(truncated)
    header_only = tmp_path / "header-only.txt"
    header_only.write_text("3 4\n")
    with pytest.raises(TextclfError, match=r"header-only\.txt"):
        V.load_keyed_vectors(header_only)
    with pytest.raises(TextclfError, match="unknown vectors format"):
        V.load_keyed_vectors(files["w2v.txt"], "csv")  # type: ignore[arg-type]


def test_binary_with_broken_utf8_word_loads(tmp_path: Path) -> None:
    # word2vec.c often cuts multibyte words mid-character; such files must still load
    row = np.array([0.5, -0.25], dtype=np.float32).tobytes()
    path = tmp_path / "broken-utf8.bin"
    path.write_bytes(b"2 2\n" + b"caf\xc3 " + row + b"\nok " + row + b"\n")
    assert V.detect_vectors_format(path) == "word2vec-binary"
    kv = V.load_keyed_vectors(path)
    assert len(kv.index_to_key) == 2 and "ok" in kv.key_to_index
    np.testing.assert_array_equal(kv["ok"], [0.5, -0.25])


def test_load_logs_format_size_and_time(files: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="textclf.vectors"):
        V.load_keyed_vectors(files["glove.txt.gz"])
    assert any("glove-text" in r.message and "10 words x 4 dims" in r.message for r in caplog.records)


VOCAB = ["<pad>", "<unk>", "the", "paris", "Movie", "zzz", "qqq", "NASA"]


def _row(word: str) -> np.ndarray:
    return VECS[WORDS.index(word)]


def test_matrix_alignment_pad_and_case_fallback(files: dict[str, Path]) -> None:
    matrix, _ = V.build_embedding_matrix(files["w2v.bin"], VOCAB)
    assert matrix.dtype == np.float32 and matrix.shape == (len(VOCAB), DIM)
    np.testing.assert_array_equal(matrix[0], np.zeros(DIM))
    np.testing.assert_array_equal(matrix[2], _row("the"))
    np.testing.assert_array_equal(matrix[3], _row("Paris"))  # capitalized fallback
    np.testing.assert_array_equal(matrix[4], _row("movie"))  # lowercase fallback
    np.testing.assert_array_equal(matrix[7], _row("NASA"))  # exact


def test_exact_match_wins_over_case_fallback(tmp_path: Path) -> None:
    path = tmp_path / "cased.txt"
    path.write_text("apple 1 1\nApple 2 2\n")
    matrix, cov = V.build_embedding_matrix(path, ["<pad>", "<unk>", "Apple", "apple", "APPLE"])
    assert matrix[2].tolist() == [2, 2] and matrix[3].tolist() == [1, 1] and matrix[4].tolist() == [1, 1]
    assert cov.types_found == 3


def test_missing_rows_are_seeded_and_bounded(files: dict[str, Path]) -> None:
    m1, _ = V.build_embedding_matrix(files["glove.txt"], VOCAB, seed=3)
    m2, _ = V.build_embedding_matrix(files["glove.txt"], VOCAB, seed=3)
    m3, _ = V.build_embedding_matrix(files["glove.txt"], VOCAB, seed=4)
    np.testing.assert_array_equal(m1, m2)
    found = VECS[[WORDS.index(w) for w in ("the", "Paris", "movie", "NASA")]]
    a = math.sqrt(3) * float(np.std(found.astype(np.float64)))
    missing = m1[[1, 5, 6]]  # <unk>, zzz, qqq
    assert np.all(np.abs(missing) <= a) and np.all(missing != 0)
    assert np.abs(missing).max() > a / 2  # drawn from the full range, not a tiny one
    assert not np.array_equal(m1[[1, 5, 6]], m3[[1, 5, 6]])
    np.testing.assert_array_equal(m1[[0, 2, 3, 4, 7]], m3[[0, 2, 3, 4, 7]])
    # exactly what the documented recipe gives: numpy Generator(seed).uniform(-a, a) for the missing rows in order
    expected = np.random.default_rng(3).uniform(-a, a, size=(3, DIM)).astype(np.float32)
    np.testing.assert_allclose(missing, expected, rtol=1e-6)


def test_nothing_found_uses_quarter_range(files: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="textclf.vectors"):
        matrix, cov = V.build_embedding_matrix(files["w2v.txt"], ["<pad>", "<unk>", "xx", "yy"])
    assert cov.types_found == 0 and cov.type_rate == 0.0
    assert np.all(np.abs(matrix[1:]) <= 0.25) and np.abs(matrix[1:]).max() > 0.1
    assert any(r.levelno == logging.WARNING and "0.0%" in r.message for r in caplog.records)


def test_coverage_numbers_exact(files: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    vocab = ["<pad>", "<unk>", "the", "paris", "Movie", "zzz", "qqq"]
    counts = [0, 5, 10, 3, 2, 7, 1]
    with caplog.at_level(logging.INFO, logger="textclf.vectors"):
        _, cov = V.build_embedding_matrix(files["w2v.txt"], vocab, token_counts=counts)
    assert cov == V.Coverage(types_found=3, types_total=5, tokens_found=15, tokens_total=23)
    assert cov.type_rate == pytest.approx(0.6) and cov.token_rate == pytest.approx(15 / 23)
    assert str(cov) == "vectors cover 3/5 types (60.0%) and 65.2% of 23 tokens"
    assert any(str(cov) in r.message for r in caplog.records)
    assert not any(r.levelno == logging.WARNING for r in caplog.records)  # 60% >= 50%: no warning
    _, cov_types = V.build_embedding_matrix(files["w2v.txt"], vocab)
    assert cov_types == V.Coverage(3, 5, 3, 5)


def test_coverage_str_thousands() -> None:
    cov = V.Coverage(types_found=12345, types_total=15000, tokens_found=1211111, tokens_total=1234567)
    assert str(cov) == "vectors cover 12,345/15,000 types (82.3%) and 98.1% of 1,234,567 tokens"


def test_dimension_mismatch(files: dict[str, Path], tmp_path: Path) -> None:
    for cache in (None, tmp_path / "cache", tmp_path / "cache"):  # miss, then miss+write, then cache hit
        if cache is not None:
            V.build_embedding_matrix(files["w2v.bin"], VOCAB, cache_dir=cache)
        with pytest.raises(TextclfError) as e:
            V.build_embedding_matrix(files["w2v.bin"], VOCAB, expected_dim=300, cache_dir=cache)
        msg = str(e.value)
        assert "dimension 4" in msg and "embedding_dim is 300" in msg and "w2v.bin" in msg


def test_cache_hit_skips_the_loader(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    calls = _count_parses(monkeypatch)
    m1, c1 = V.build_embedding_matrix(files["glove.txt.gz"], VOCAB, cache_dir=cache, seed=5)
    with caplog.at_level(logging.DEBUG, logger="textclf.vectors"):
        m2, c2 = V.build_embedding_matrix(files["glove.txt.gz"], VOCAB, cache_dir=cache, seed=5)
    assert len(calls) == 1
    np.testing.assert_array_equal(m1, m2)
    assert m2.dtype == np.float32 and c1 == c2
    assert any("loaded cached matrix" in r.message for r in caplog.records)
    # token counts are not part of the key: coverage is recomputed from them on a hit
    _, c3 = V.build_embedding_matrix(
        files["glove.txt.gz"], VOCAB, cache_dir=cache, seed=5, token_counts=[0, 0] + [1] * 6
    )
    assert c3 == V.Coverage(4, 6, 4, 6)
    assert len(calls) == 1
    (entry,) = cache_entries(cache, "vectors-matrix")  # one finished entry folder, no staging folder
    assert sorted(p.name for p in (cache / "vectors-matrix" / entry).iterdir()) == [
        "found.npy",
        "matrix.npy",
        "meta.json",
    ]
    # a different vocab, seed or file is a different entry
    m4, _ = V.build_embedding_matrix(files["glove.txt.gz"], VOCAB, cache_dir=cache, seed=6)
    assert not np.array_equal(m1[1], m4[1])
    V.build_embedding_matrix(files["glove.txt.gz"], VOCAB[:-1], cache_dir=cache, seed=6)
    V.build_embedding_matrix(files["glove.txt"], VOCAB, cache_dir=cache, seed=6)
    assert len(cache_entries(cache, "vectors-matrix")) == 4


def test_cache_invalidated_when_file_changes(files: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "changing.txt"
    path.write_text("the 1 1\n")
    cache = tmp_path / "cache"
    m1, _ = V.build_embedding_matrix(path, ["<pad>", "<unk>", "the"], cache_dir=cache)
    path.write_text("the 2 2 \n")
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    m2, _ = V.build_embedding_matrix(path, ["<pad>", "<unk>", "the"], cache_dir=cache)
    assert m1[2].tolist() == [1, 1] and m2[2].tolist() == [2, 2]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing", "wrong shape"])
def test_corrupt_cache_is_rebuilt_with_a_warning(
    files: dict[str, Path], tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    m1, _ = V.build_embedding_matrix(files["w2v.txt"], VOCAB, cache_dir=cache)
    (entry,) = cache_entries(cache, "vectors-matrix")
    npy = cache / "vectors-matrix" / entry / "matrix.npy"
    if damage == "garbage":
        npy.write_bytes(b"not numpy")
    elif damage == "truncated":
        npy.write_bytes(npy.read_bytes()[:-8])
    elif damage == "missing":
        npy.unlink()
    else:
        np.save(npy, m1[:3])
    parses = _count_parses(monkeypatch)
    with caplog.at_level(logging.WARNING):
        m2, _ = V.build_embedding_matrix(files["w2v.txt"], VOCAB, cache_dir=cache)
    np.testing.assert_array_equal(m1, m2)
    assert parses == []  # rebuilt from the parsed-vectors store ...
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "rebuilding unreadable vectors-matrix cache entry" in warnings[0]
    assert str(cache / "vectors-matrix" / entry) in warnings[0]
    m3, _ = V.build_embedding_matrix(files["w2v.txt"], VOCAB, cache_dir=cache)  # ... and readable again
    np.testing.assert_array_equal(m1, m3)
    assert parses == [] and cache_entries(cache, "vectors-matrix") == [entry]


def test_a_crash_during_the_build_leaves_no_entry_and_the_next_call_rebuilds(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    real_fill = VM._fill

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the worst case: not even an Exception

    monkeypatch.setattr(VM, "_fill", crash)
    with pytest.raises(KeyboardInterrupt):
        V.build_embedding_matrix(files["w2v.txt"], VOCAB, cache_dir=cache)
    assert cache_entries(cache, "vectors-matrix") == []  # neither an entry nor a staging folder
    monkeypatch.setattr(VM, "_fill", real_fill)
    matrix, _ = V.build_embedding_matrix(files["w2v.txt"], VOCAB, cache_dir=cache)
    np.testing.assert_array_equal(matrix, V.build_embedding_matrix(files["w2v.txt"], VOCAB)[0])
    assert len(cache_entries(cache, "vectors-matrix")) == 1


def test_failed_cache_write_warns_and_leaves_no_staging_folder(
    files: dict[str, Path], tmp_path: Path, monkeypatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    parses = _count_parses(monkeypatch)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(VM.np, "save", boom)
    with caplog.at_level(logging.WARNING):
        matrix, _ = V.build_embedding_matrix(files["w2v.txt"], VOCAB, cache_dir=cache)  # still works, warns
    assert matrix.shape == (len(VOCAB), DIM) and len(parses) == 1  # parsed once, not again after the failure
    assert any("cannot cache" in r.message and "disk full" in r.message for r in caplog.records)
    assert any("cannot store the parsed vectors" in r.message and "disk full" in r.message for r in caplog.records)
    assert cache_entries(cache, "vectors-matrix") == [] and cache_entries(cache, "vectors-store") == []


def test_bad_vocab_arguments(files: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="token_counts"):
        V.build_embedding_matrix(files["w2v.txt"], VOCAB, token_counts=[1, 2])
    with pytest.raises(ValueError, match="<pad>"):
        V.build_embedding_matrix(files["w2v.txt"], ["<pad>"])


def test_vectors_vocabulary(files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert V.vectors_vocabulary(files["w2v.bin"]) == WORDS
    cache = tmp_path / "cache"
    assert V.vectors_vocabulary(files["glove.txt"], cache_dir=cache) == WORDS
    (entry,) = cache_entries(cache, "vectors-store")
    assert json.loads((cache / "vectors-store" / entry / "words.json").read_text()) == WORDS

    forbid(monkeypatch, VF, "read_vectors", "parsed despite the cache")
    assert V.vectors_vocabulary(files["glove.txt"], cache_dir=cache) == WORDS


def test_vectors_vocabulary_cache_keeps_any_word(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    words = ["caf\u00e9", "line\nbreak", "\u00a0nbsp", "\U0001f600", "tab\tword"]  # word2vec binary allows them
    kv = KeyedVectors(2)
    kv.add_vectors(words, np.ones((len(words), 2), np.float32))
    kv.save_word2vec_format(str(tmp_path / "odd.bin"), binary=True)
    assert V.vectors_vocabulary(tmp_path / "odd.bin", cache_dir=tmp_path / "cache") == words
    assert V.vectors_vocabulary(tmp_path / "odd.bin", cache_dir=tmp_path / "cache") == words  # from the cache


# ---- resolve_vectors ------------------------------------------------------------------------------------------------


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import gensim.downloader

    def fail(*args, **kwargs):
        pytest.fail("gensim's downloader must not be called")

    monkeypatch.setattr(gensim.downloader, "load", fail)
    empty = tmp_path / "gensim-data"
    empty.mkdir()
    monkeypatch.setenv("GENSIM_DATA_DIR", str(empty))
    monkeypatch.delenv("TEXTCLF_VECTORS", raising=False)
    return empty


def test_resolve_existing_path(files: dict[str, Path], no_download: Path) -> None:
    assert V.resolve_vectors(files["w2v.bin"]) == files["w2v.bin"]
    assert V.resolve_vectors(str(files["w2v.bin"])) == files["w2v.bin"]


def test_resolve_release_name_in_textclf_vectors(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_download: Path
) -> None:
    local = tmp_path / "local"
    local.mkdir()
    _gz(files["glove.txt"], local / "glove.6B.50d.txt.gz")
    monkeypatch.setenv("TEXTCLF_VECTORS", str(local))
    path = V.resolve_vectors("glove-wiki-gigaword-50")
    assert path == local / "glove.6B.50d.txt.gz"
    matrix, _ = V.build_embedding_matrix("glove-wiki-gigaword-50", ["<pad>", "<unk>", "the"])
    np.testing.assert_array_equal(matrix[2], _row("the"))
    monkeypatch.setattr("gensim.downloader.load", _raise_no_network)  # 100d is not there: falls to the downloader
    with pytest.raises(TextclfError, match="glove-wiki-gigaword-100 not found locally"):
        V.resolve_vectors("glove-wiki-gigaword-100")


def _raise_no_network(*args, **kwargs):
    raise OSError("network unreachable")


def test_resolve_gensim_data_layout(files: dict[str, Path], tmp_path: Path, no_download: Path, monkeypatch) -> None:
    (no_download / "glove-wiki-gigaword-50").mkdir()
    target = _gz(files["w2v.txt"], no_download / "glove-wiki-gigaword-50" / "glove-wiki-gigaword-50.gz")
    assert V.resolve_vectors("glove-wiki-gigaword-50") == target
    assert V.detect_vectors_format(target) == "word2vec-text"
    # search_dirs and TEXTCLF_VECTORS come before gensim-data's own directory
    first = tmp_path / "first"
    first.mkdir()
    _gz(files["glove.txt"], first / "glove-wiki-gigaword-50.gz")
    assert V.resolve_vectors("glove-wiki-gigaword-50", search_dirs=[first]) == first / "glove-wiki-gigaword-50.gz"
    monkeypatch.setenv("TEXTCLF_VECTORS", str(first))
    assert V.resolve_vectors("glove-wiki-gigaword-50") == first / "glove-wiki-gigaword-50.gz"


def test_resolve_bare_file_name_in_search_dirs(files: dict[str, Path], no_download: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEXTCLF_VECTORS", str(files["w2v.bin"].parent))
    assert V.resolve_vectors("w2v.bin") == files["w2v.bin"]


def test_resolve_unknown_name(no_download: Path, tmp_path: Path) -> None:
    with pytest.raises(TextclfError, match="vectors file not found: no-such-vectors-300"):
        V.resolve_vectors("no-such-vectors-300")
    with pytest.raises(TextclfError, match="vectors file not found"):
        V.resolve_vectors(tmp_path / "missing.bin")
    with pytest.raises(TextclfError, match="directory"):
        V.resolve_vectors(tmp_path)


def test_resolve_download_failure_explains(no_download: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("gensim.downloader.load", _raise_no_network)
    monkeypatch.setenv("TEXTCLF_VECTORS", str(tmp_path / "mine"))
    with pytest.raises(TextclfError) as e:
        V.resolve_vectors("word2vec-google-news-300", search_dirs=[tmp_path / "extra"])
    msg = str(e.value)
    assert "word2vec-google-news-300" in msg and "network unreachable" in msg and "TEXTCLF_VECTORS" in msg
    assert str(tmp_path / "extra") in msg and str(tmp_path / "mine") in msg and str(no_download) in msg
    assert "GoogleNews-vectors-negative300.bin" in msg and "\n" not in msg


def test_resolve_uses_downloader_path(no_download: Path, files: dict[str, Path], monkeypatch) -> None:
    monkeypatch.setattr("gensim.downloader.load", lambda name, return_path=False: str(files["w2v.bin"]))
    assert V.resolve_vectors("glove-twitter-25") == files["w2v.bin"]


def test_gensim_is_imported_lazily() -> None:
    import ast

    for module in (V, VF, VM):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = [a.name for n in top for a in n.names] + [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert names and not any(name.startswith("gensim") for name in names), module.__name__


# ---- real files (slow) ----------------------------------------------------------------------------------------------


def _real(name: str) -> Path:
    root = os.environ.get("TEXTCLF_VECTORS")
    if not root or not (Path(root) / name).is_file():
        pytest.skip(f"set TEXTCLF_VECTORS to a directory containing {name} to run this test")
    return Path(root) / name


SMALL_VOCAB = ["<pad>", "<unk>", "the", "movie", "zzzqqq"]


@pytest.mark.slow
def test_real_glove_6b_50d(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _real("glove.6B.50d.txt.gz")
    assert V.detect_vectors_format(path) == "glove-text"
    assert V.resolve_vectors("glove-wiki-gigaword-50") == path  # found locally via TEXTCLF_VECTORS
    start = time.perf_counter()
    matrix, cov = V.build_embedding_matrix(path, SMALL_VOCAB, expected_dim=50, cache_dir=tmp_path)
    print(f"\nloading + aligning glove.6B.50d (400k words) took {time.perf_counter() - start:.1f}s")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        word, *values = f.readline().split()
    assert word == "the"
    np.testing.assert_array_equal(matrix[2], np.array(values, dtype=np.float32))
    assert matrix.shape == (5, 50) and not matrix[0].any()
    assert cov == V.Coverage(2, 3, 2, 3)

    forbid(monkeypatch, VF, "read_vectors", "parsed again despite the cache")
    again, _ = V.build_embedding_matrix(path, SMALL_VOCAB, cache_dir=tmp_path)
    np.testing.assert_array_equal(matrix, again)


@pytest.mark.slow
def test_real_glove_vocabulary_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _real("glove.6B.50d.txt.gz")
    words = V.vectors_vocabulary(path, cache_dir=tmp_path)
    assert len(words) == 400_000 and words[:3] == ["the", ",", "."] and "Movie" not in words

    forbid(monkeypatch, VF, "read_vectors", "parsed again despite the cache")
    start = time.perf_counter()
    assert V.vectors_vocabulary(path, cache_dir=tmp_path) == words
    print(f"\ncached vocabulary of glove.6B.50d read in {time.perf_counter() - start:.2f}s")


@pytest.mark.slow
def test_real_googlenews_subset() -> None:
    path = _real("GoogleNews-vectors-negative300.subset-13k.bin")
    assert V.detect_vectors_format(path) == "word2vec-binary"
    kv = V.load_keyed_vectors(path)
    assert kv.vector_size == 300 and len(kv.index_to_key) > 10_000
    matrix, cov = V.build_embedding_matrix(path, [*SMALL_VOCAB, "paris"], token_counts=[0, 0, 100, 10, 1, 5])
    assert matrix.shape == (6, 300) and not matrix[0].any()
    np.testing.assert_array_equal(matrix[3], kv["movie"])
    if "Paris" in kv.key_to_index and "paris" not in kv.key_to_index:
        np.testing.assert_array_equal(matrix[5], kv["Paris"])
    found = 2 + ("paris" in kv.key_to_index or "Paris" in kv.key_to_index)
    assert cov.types_found == found and cov.types_total == 4
    with pytest.raises(TextclfError, match="dimension 300 but embedding_dim is 50"):
        V.build_embedding_matrix(path, SMALL_VOCAB, expected_dim=50)

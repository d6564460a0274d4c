"""The parsed-vectors store: a vectors file is parsed once per file, not once per vocabulary (textclf.vectors.store)."""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from factories import cache_entries

from textclf import vectors as V
from textclf.errors import TextclfError
from textclf.vectors import files as VF
from textclf.vectors import progress as VP
from textclf.vectors import store as VS

WORDS = ["the", "movie", "Paris", "good", "bad", "NASA", "film", "great", ",", "."]
DIM = 4
VECS = (np.random.default_rng(7).integers(-16, 17, size=(len(WORDS), DIM)) / 8).astype(np.float32)  # exact floats
VOCAB_A = ["<pad>", "<unk>", "the", "paris", "Movie", "zzz", "NASA"]
VOCAB_B = ["<pad>", "<unk>", "film", "GREAT", "Good", "qqq", ",", "the"]


def _lines() -> list[str]:
    return [w + " " + " ".join(repr(float(x)) for x in row) for w, row in zip(WORDS, VECS, strict=True)]


def _binary(words: list[str], vectors: np.ndarray) -> bytes:
    rows = b"".join(w.encode() + b" " + v.astype("<f4").tobytes() + b"\n" for w, v in zip(words, vectors, strict=True))
    return f"{len(words)} {vectors.shape[1]}\n".encode() + rows


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """The same 10 x 4 vectors as word2vec text, GloVe text, word2vec binary, and each gzipped."""
    d = tmp_path / "vec"
    d.mkdir()
    raw = {
        "w2v.txt": f"{len(WORDS)} {DIM}\n".encode() + "\n".join(_lines()).encode() + b"\n",
        "glove.txt": "\n".join(_lines()).encode() + b"\n",
        "w2v.bin": _binary(WORDS, VECS),
    }
    out = {}
    for name, data in raw.items():
        (d / name).write_bytes(data)
        (d / f"{name}.gz").write_bytes(gzip.compress(data))
        out[name], out[f"{name}.gz"] = d / name, d / f"{name}.gz"
    return out


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The vectors files parsed during the test (each call of textclf.vectors.files.read_vectors)."""
    calls: list[Path] = []
    real = VF.read_vectors

    def counted(path, *args, **kwargs):
        calls.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(VF, "read_vectors", counted)
    return calls


def _reference(path: Path, vocab: list[str], seed: int = 0) -> tuple[np.ndarray, list[bool]]:
    """docs/vectors.md's recipe, from gensim KeyedVectors of the strict readers: exact, lowercase, capitalised;
    a fastText model's subword vector (gensim's); <pad> zero; the rest U(-a, a), a = sqrt(3) * std of the found
    values, from default_rng(seed)."""
    kv = V.load_keyed_vectors(path)
    rows = [next((kv.key_to_index[k] for k in (w, w.lower(), w.capitalize()) if k in kv.key_to_index), -1)
            for w in vocab]  # fmt: skip
    rows[0] = rows[1] = -1
    matrix = np.zeros((len(vocab), kv.vector_size), np.float32)
    found = [r >= 0 for r in rows]
    for i, r in enumerate(rows):
        if r >= 0:
            matrix[i] = kv.vectors[r]
    a = math.sqrt(3) * float(np.std(matrix[found], dtype=np.float64))
    subword = [i for i, r in enumerate(rows) if r < 0 and i > 1 and getattr(kv, "bucket", 0)]
    for i in subword:
        matrix[i] = kv.get_vector(vocab[i])
    missing = [i for i, f in enumerate(found) if not f and i > 0 and i not in subword]
    matrix[missing] = np.random.default_rng(seed).uniform(-a, a, size=(len(missing), kv.vector_size))
    return matrix, found


def _staging(cache: Path) -> list[str]:  # staging folders left by a build that did not finish
    return [p.name for p in cache.rglob(".tmp-*")]


def _entry(cache: Path) -> Path:
    (name,) = cache_entries(cache, "vectors-store")
    return cache / "vectors-store" / name


@pytest.mark.parametrize("name", ["w2v.txt", "glove.txt", "w2v.bin", "w2v.txt.gz", "glove.txt.gz", "w2v.bin.gz"])
def test_a_new_vocabulary_is_aligned_from_the_store_without_parsing(
    files: dict[str, Path], tmp_path: Path, parses: list[Path], name: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    counts = [0, 3, 5, 2, 1, 4, 0]
    with caplog.at_level(logging.INFO, logger="textclf.vectors"):
        a, cov_a = V.build_embedding_matrix(files[name], VOCAB_A, cache_dir=cache, seed=2, token_counts=counts)
    assert parses == [files[name]]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="textclf.vectors"):
        b, cov_b = V.build_embedding_matrix(files[name], VOCAB_B, cache_dir=cache, seed=2)
    assert parses == [files[name]]  # the second vocabulary did not parse the file again
    for vocab, matrix in ((VOCAB_A, a), (VOCAB_B, b)):
        np.testing.assert_array_equal(matrix, _reference(files[name], vocab, seed=2)[0])
        assert matrix.dtype == np.float32
    # the coverage as a direct parse (no cache) gives it: NASA has no training token, zzz has no vector
    assert cov_a == V.build_embedding_matrix(files[name], VOCAB_A, token_counts=counts)[1] == V.Coverage(3, 4, 8, 12)
    assert cov_b == V.build_embedding_matrix(files[name], VOCAB_B)[1] == V.Coverage(5, 6, 5, 6)
    text = [r.getMessage() for r in caplog.records]
    assert (
        f"vectors: {files[name].name} already parsed (10 words x 4 dims, cache {_entry(cache)}); aligned 6 words"
        in text[0]
        and text[0].endswith(" s")
    )
    assert text[1].startswith("vectors cover 5/6 types")


def test_store_entry_holds_plain_arrays_and_the_first_parse_is_logged(
    files: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="textclf.vectors"):
        V.build_embedding_matrix(files["glove.txt.gz"], VOCAB_A, cache_dir=cache)
    entry = _entry(cache)
    assert sorted(p.name for p in entry.iterdir()) == ["meta.json", "vectors.npy", "words.json"]
    stored = np.load(entry / "vectors.npy", mmap_mode="r", allow_pickle=False)
    assert isinstance(stored, np.memmap) and stored.dtype == np.float32
    np.testing.assert_array_equal(stored, VECS)
    assert json.loads((entry / "words.json").read_text()) == WORDS
    assert json.loads((entry / "meta.json").read_text())["format"] == "glove-text"
    text = [r.getMessage() for r in caplog.records]
    assert (
        text[0].startswith(f"vectors: parsing {files['glove.txt.gz']} (") and f"once into the cache {entry}" in text[0]
    )
    assert text[1].startswith("vectors: parsed glove.txt.gz (glove-text): 10 words x 4 dims in ")
    assert text[2].startswith(f"vectors: glove.txt.gz parsed (10 words x 4 dims, cache {entry}); aligned 5 words in ")
    assert _staging(cache) == []


def test_vectors_vocabulary_comes_from_the_same_store(
    files: dict[str, Path], tmp_path: Path, parses: list[Path]
) -> None:
    cache = tmp_path / "cache"
    assert V.vectors_vocabulary(files["w2v.bin"], cache_dir=cache) == WORDS
    V.build_embedding_matrix(files["w2v.bin"], VOCAB_A, cache_dir=cache)
    assert V.vectors_vocabulary(files["w2v.bin"], cache_dir=cache) == WORDS
    assert parses == [files["w2v.bin"]]


def test_odd_words_survive_the_store(tmp_path: Path) -> None:
    words = ["caf\u00e9", "line\nbreak", "nul\x00byte", "tab\tword", "\U0001f600", "\ufffd"]
    path = tmp_path / "odd.bin"
    path.write_bytes(_binary(words, np.arange(12, dtype=np.float32).reshape(6, 2)))
    cache = tmp_path / "cache"
    assert V.vectors_vocabulary(path, cache_dir=cache) == words
    matrix, _ = V.build_embedding_matrix(path, ["<pad>", "<unk>", "nul\x00byte", "line\nbreak"], cache_dir=cache)
    assert matrix[2].tolist() == [4, 5] and matrix[3].tolist() == [2, 3]


@pytest.mark.parametrize("how", ["moved onto the path", "rewritten in place"])
def test_a_replaced_file_at_the_same_path_is_parsed_again(tmp_path: Path, parses: list[Path], how: str) -> None:
    path, cache, vocab = tmp_path / "vectors.txt", tmp_path / "cache", ["<pad>", "<unk>", "the"]
    path.write_text("the 1.5 2.5\n")
    stat = path.stat()
    assert V.build_embedding_matrix(path, vocab, cache_dir=cache)[0][2].tolist() == [1.5, 2.5]
    if how == "moved onto the path":  # mv keeps the mtime of the file it brings
        new = tmp_path / "new.txt"
        new.write_text("the 7.5 8.5\n")
        os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(new, path)
    else:  # same size, same inode, mtime set back
        path.write_text("the 7.5 8.5\n")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert V.build_embedding_matrix(path, vocab, cache_dir=cache)[0][2].tolist() == [7.5, 8.5]
    assert V.vectors_vocabulary(path, cache_dir=cache) == ["the"]
    assert parses == [path, path]


def _damage(entry: Path, how: str, tmp_path: Path) -> None:
    npy, words, meta = entry / "vectors.npy", entry / "words.json", entry / "meta.json"
    if how == "garbage vectors":
        npy.write_bytes(b"not numpy")
    elif how == "truncated vectors":
        npy.write_bytes(npy.read_bytes()[:-8])
    elif how == "float64 vectors":
        np.save(npy, VECS.astype(np.float64))
    elif how == "wrong shape":
        np.save(npy, VECS[:3])
    elif how == "nan in a row":
        bad = VECS.copy()
        bad[0, 1] = np.nan
        np.save(npy, bad)
    elif how == "pickled objects":
        np.save(npy, np.array([_Boom(tmp_path / "ran"), 1], dtype=object), allow_pickle=True)
    elif how == "missing words":
        words.unlink()
    elif how == "too few words":
        words.write_text(json.dumps(WORDS[:-1]))
    elif how == "repeated words":
        words.write_text(json.dumps([*WORDS[:-1], "the"]))
    elif how == "numbers as words":
        words.write_text(json.dumps([1] * len(WORDS)))
    else:
        meta.write_text(json.dumps({"words": -1, "dim": DIM, "format": "glove-text"}))


class _Boom:  # creates a file when unpickled: the store must never unpickle
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


DAMAGES = ["garbage vectors", "truncated vectors", "float64 vectors", "wrong shape", "nan in a row", "pickled objects",
           "missing words", "too few words", "repeated words", "numbers as words", "bad meta"]  # fmt: skip


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_store_entry_is_rebuilt_never_trusted(
    files: dict[str, Path], tmp_path: Path, parses: list[Path], how: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    V.vectors_vocabulary(files["glove.txt"], cache_dir=cache)  # the store entry alone (no matrix entry yet)
    entry = _entry(cache)
    _damage(entry, how, tmp_path)
    with caplog.at_level(logging.WARNING):
        matrix, _ = V.build_embedding_matrix(files["glove.txt"], VOCAB_A, cache_dir=cache)
    np.testing.assert_array_equal(matrix, _reference(files["glove.txt"], VOCAB_A)[0])
    assert parses == [files["glove.txt"]] * 2  # parsed again: the damaged entry was not used
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "vectors-store cache entry" in warnings[0] and str(entry) in warnings[0]
    assert not (tmp_path / "ran").exists()
    assert V.vectors_vocabulary(files["glove.txt"], cache_dir=cache) == WORDS and len(parses) == 2  # sound again
    assert cache_entries(cache, "vectors-store") == [entry.name]


def test_a_killed_parse_leaves_no_entry(files: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as a kill in the middle of writing the entry

    monkeypatch.setattr(VS, "_write", killed)
    with pytest.raises(KeyboardInterrupt):
        V.build_embedding_matrix(files["w2v.bin"], VOCAB_A, cache_dir=cache)
    assert cache_entries(cache, "vectors-store") == [] and _staging(cache) == []
    monkeypatch.undo()
    V.build_embedding_matrix(files["w2v.bin"], VOCAB_A, cache_dir=cache)
    assert len(cache_entries(cache, "vectors-store")) == 1


def test_errors_of_a_bad_file_are_unchanged_and_store_nothing(files: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "truncated.bin"
    bad.write_bytes(files["w2v.bin"].read_bytes()[:-10])
    cache = tmp_path / "cache"
    with pytest.raises(TextclfError) as direct:
        V.load_keyed_vectors(bad)
    with pytest.raises(TextclfError) as stored:
        V.build_embedding_matrix(bad, VOCAB_A, cache_dir=cache)
    assert str(stored.value) == str(direct.value) and "truncated.bin" in str(direct.value)
    assert cache_entries(cache, "vectors-store") == []
    pickle = tmp_path / "vectors.kv"
    pickle.write_bytes(b"\x80\x04" + b"x" * 64)
    with pytest.raises(TextclfError, match="refusing to load"):
        V.vectors_vocabulary(pickle, cache_dir=cache)


def test_threads_asking_at_once_parse_once_into_one_entry(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, calls, real = tmp_path / "cache", [], VF.read_vectors

    def slow(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)  # without the lock, the other thread would start its own parse meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(VF, "read_vectors", slow)
    results: list[np.ndarray] = []
    vocabs = (VOCAB_A, VOCAB_B)
    threads = [threading.Thread(target=lambda v=v: results.append(V.build_embedding_matrix(
        files["w2v.txt.gz"], v, cache_dir=cache)[0])) for v in vocabs]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and len(calls) == 1
    assert len(cache_entries(cache, "vectors-store")) == 1 and _staging(cache) == []


def test_fasttext_models_go_through_the_store(tmp_path: Path, parses: list[Path]) -> None:
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText([["a", "good", "movie"], ["a", "bad", "film"]] * 5, vector_size=DIM, min_count=1, epochs=1)
    path = tmp_path / "model.bin"
    save_facebook_model(model, str(path))
    cache = tmp_path / "cache"
    for vocab in (["<pad>", "<unk>", "movie", "Film", "nope"], ["<pad>", "<unk>", "bad", "a"]):
        matrix, _ = V.build_embedding_matrix(path, vocab, cache_dir=cache)
        np.testing.assert_array_equal(matrix, _reference(path, vocab)[0])
    assert parses == [path]


def test_progress_counts_rows_and_estimates_the_total_from_bytes(tmp_path: Path, capsys) -> None:
    path = tmp_path / "v.txt"
    path.write_bytes(b"x" * 1000)
    stream = io.BytesIO(b"x" * 1000)
    with VP.ParseProgress(path, enabled=True) as progress:
        stream.seek(250)
        progress(100, stream, None)  # a quarter of the file held 100 rows: about 400 in all
        assert (progress.bar.n, progress.bar.total) == (100, 400)
        progress(7, stream, 30)  # a word2vec header announces the total
        assert (progress.bar.n, progress.bar.total) == (7, 30)
    gz = tmp_path / "v.txt.gz"
    gz.write_bytes(gzip.compress(os.urandom(300_000)))
    with gzip.open(gz, "rb") as handle:
        handle.read(200_000)
        assert 0 < VP._position(handle) <= gz.stat().st_size  # the compressed position, not the 200,000 read


def test_the_bar_is_drawn_on_a_terminal(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    with VP.ParseProgress(files["glove.txt"], enabled=True) as progress:
        VF.read_vectors(files["glove.txt"], progress=progress)
        assert progress.bar.n == len(WORDS)
    assert "parsing glove.txt" in capsys.readouterr().err


def test_the_new_modules_import_no_gensim_or_tqdm_at_the_top() -> None:
    import ast

    for module in (VS, VP):
        tree = ast.parse(Path(module.__file__ or "").read_text())
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = [a.name for n in top for a in n.names] + [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
        assert not any(name.startswith(("gensim", "tqdm")) for name in names), module.__name__

"""Vectors files a stranger could hand over: pickles that run code, and every kind of malformed or odd content."""

import gzip
import logging
import os
import pathlib
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from factories import write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textclf import FileDataModule
from textclf import vectors as V
from textclf.errors import TextclfError
from textclf.vectors import files as VF
from textclf.vectors.binary import read_word2vec_binary
from textclf.vectors.text import read_text_vectors

# ---- files that must never be unpickled ----------------------------------------------------------------------------


class _Touch:
    """Unpickling this creates ``marker`` (Path.touch): proof that the file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


class _System:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def _evil(kind: str, marker: Path, path: Path) -> Path:
    """A file whose loading with pickle (or torch.load / numpy.load(allow_pickle=True)) creates ``marker``."""
    payload = _Touch(marker) if kind != "system" else _System(marker)
    if kind == "torch":
        import torch

        torch.save({"vectors": payload}, path)
    elif kind == "npy":
        with path.open("wb") as f:
            np.save(f, np.array([payload], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=0 if kind == "protocol0" else 4))
    return path


def test_the_payloads_are_live(tmp_path: Path) -> None:
    """The control: unpickling these files does create the marker, so its absence below means something."""
    for kind in ("touch", "system", "protocol0"):
        marker = tmp_path / f"marker-{kind}"
        pickle.loads(_evil(kind, marker, tmp_path / f"{kind}.pkl").read_bytes())
        assert marker.exists()


def _entry_points(path: Path, cache: Path):
    """Every way textclf opens a vectors file, each expected to fail (or to only name the format)."""
    yield "detect", lambda: V.detect_vectors_format(path)
    yield "load", lambda: V.load_keyed_vectors(path)
    for fmt in V.VECTORS_FORMATS:
        yield f"load as {fmt}", lambda fmt=fmt: V.load_keyed_vectors(path, fmt)
    yield "vocabulary", lambda: V.vectors_vocabulary(path, cache_dir=cache)
    yield "matrix", lambda: V.build_embedding_matrix(path, ["<pad>", "<unk>", "good"], cache_dir=cache)


@pytest.mark.parametrize("kind", ["touch", "system", "protocol0", "torch", "npy"])
@pytest.mark.parametrize("name", ["x.kv", "x.bin", "x.txt", "x.kv.gz", "x.txt.gz", "x.bin.gz"])
def test_no_entry_point_unpickles_a_vectors_file(tmp_path: Path, kind: str, name: str) -> None:
    marker = tmp_path / "marker"
    path = _evil(kind, marker, tmp_path / name.removesuffix(".gz"))
    if name.endswith(".gz"):
        path = path.rename(tmp_path / name)
        path.write_bytes(gzip.compress(path.read_bytes()))
    for what, call in _entry_points(path, tmp_path / "cache"):
        try:
            fmt = call()
            assert what == "detect" and fmt == "keyedvectors", what  # only naming a pickle succeeds
        except TextclfError as e:
            assert str(path) in str(e) and "\n" not in str(e), what
        assert not marker.exists(), what


@pytest.mark.parametrize("keep", [True, False])
def test_data_module_with_evil_vectors_does_not_unpickle(tmp_path: Path, keep: bool) -> None:
    marker = tmp_path / "marker"
    evil = _evil("touch", marker, tmp_path / "vectors.kv")
    data = FileDataModule(
        str(write_csv(tmp_path / "train.csv", rows=20)),
        vectors=str(evil),
        keep_words_with_vectors=keep,  # True: the vectors' word list is read while preparing the vocabulary
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(TextclfError, match="refusing to load vectors file"):
        data.prepare()
        _ = data.embeddings
    assert not marker.exists()


def test_keyedvectors_file_is_refused_with_a_conversion_recipe(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(2)
    kv.add_vectors(["good", "bad"], np.ones((2, 2), np.float32))
    kv.save(str(tmp_path / "mine.kv"))
    assert V.detect_vectors_format(tmp_path / "mine.kv") == "keyedvectors"
    with pytest.raises(TextclfError) as e:
        V.load_keyed_vectors(tmp_path / "mine.kv")
    msg = str(e.value)
    assert "refusing" in msg and "pickle" in msg and "mine.kv" in msg and "\n" not in msg
    assert "save_word2vec_format('mine.bin', binary=True)" in msg


def test_zip_and_npy_files_are_named_not_loaded(tmp_path: Path) -> None:
    for kind, what in (("torch", "zip archive"), ("npy", "numpy .npy")):
        path = _evil(kind, tmp_path / "marker", tmp_path / f"{kind}.bin")
        with pytest.raises(TextclfError, match=what):
            V.detect_vectors_format(path)
        with pytest.raises(TextclfError, match=f"refusing.*{what}"):
            V.load_keyed_vectors(path)


def test_fasttext_reader_never_unpickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText([["a", "good", "movie"]] * 5, vector_size=4, min_count=1, epochs=1)
    save_facebook_model(model, str(tmp_path / "model.bin"))

    def no_pickle(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_pickle)
    monkeypatch.setattr(np, "load", no_pickle)
    kv = V.load_keyed_vectors(tmp_path / "model.bin")
    assert set(kv.index_to_key) == {"a", "good", "movie"}
    text = _write(tmp_path, "text.bin", "the 1 2\n")
    with pytest.raises(TextclfError, match="not a fastText binary model"):  # a forced format must match the bytes
        V.load_keyed_vectors(text, "fasttext-binary")


@pytest.mark.parametrize("cut", ["header", "word", "matrix"])
def test_truncated_fasttext_model_is_an_error_not_a_hang(tmp_path: Path, cut: str) -> None:
    import signal

    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText([["a", "good", "movie"]] * 5, vector_size=4, min_count=1, epochs=1, bucket=100)
    save_facebook_model(model, str(tmp_path / "model.bin"))
    data = (tmp_path / "model.bin").read_bytes()
    end = {"header": 40, "word": data.index(b"good") + 2, "matrix": data.index(b"a\0") + 200}[cut]  # 1st matrix
    path = _write(tmp_path, "cut.bin", data[:end])

    def hang(*args):
        raise AssertionError("gensim's reader loops for ever on a file that ends inside a word")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(30)
    try:
        msg = _fails(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert f"ends at byte {end} inside" in msg if cut != "matrix" else "cannot load fasttext-binary" in msg


# ---- anomalies in text files -------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _fails(path: Path, *parts: str) -> str:
    with pytest.raises(TextclfError) as e:
        V.load_keyed_vectors(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg, msg
    for part in parts:
        assert part in msg, msg
    return msg


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_word_with_spaces_on_the_first_line_is_text_not_binary(tmp_path: Path) -> None:
    path = _write(tmp_path, "spaced.vec", "3 4\nnew york 0.5 0.25 1 2\nthe 1 2 3 4\n. . . 4 3 2 1\n")
    assert V.detect_vectors_format(path) == "word2vec-text"
    kv = V.load_keyed_vectors(path)
    assert kv.index_to_key == ["new york", "the", ". . ."]
    assert kv["new york"].tolist() == [0.5, 0.25, 1, 2] and kv[". . ."].tolist() == [4, 3, 2, 1]
    tabbed = _write(tmp_path, "tabbed.vec", "2 2\nnew\tyork\t0.5\t0.25\nthe 1 2\n")  # the original separator kept
    assert V.load_keyed_vectors(tabbed).index_to_key == ["new\tyork", "the"]


def test_glove_dimension_is_the_most_common_count(tmp_path: Path) -> None:
    path = _write(tmp_path, "glove.txt", "new york 0.5 0.25\nthe 1 2\nfilm 3 4\n")
    kv = V.load_keyed_vectors(path)
    assert kv.vector_size == 2 and kv.index_to_key == ["new york", "the", "film"]


@pytest.mark.parametrize("header", ["3 2\n", ""])
def test_repeated_words_keep_the_first_vector_and_warn_once(
    tmp_path: Path, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, "dup.vec", header + "the 1 1\nfilm 2 2\nthe 3 3\n")
    with caplog.at_level(logging.WARNING, logger="textclf.vectors"):
        assert V.vectors_vocabulary(path) == ["the", "film"]  # was: None in the list, then a TypeError in base.py
        kv = V.load_keyed_vectors(path)
    assert kv["the"].tolist() == [1, 1] and len(kv.vectors) == 2
    line = 3 + bool(header)
    assert _warnings(caplog)[0] == f"{path}: 1 repeated word(s) ignored, the first vector of each is kept " \
        f"(first repeat: 'the' at line {line})"  # fmt: skip


def test_repeated_words_do_not_break_the_data_module(tmp_path: Path) -> None:
    vectors = _write(tmp_path, "dup.txt", "good 1 1\nbad 2 2\ngood 3 3\nfilm 4 4\n")
    corpus = write_csv(tmp_path / "train.csv", rows=20)
    for options in ({"keep_words_with_vectors": True}, {"vectors_vocab_size": 3}):
        data = FileDataModule(str(corpus), vectors=str(vectors), cache_dir=str(tmp_path / "cache"), **options)
        data.prepare()
        assert data.embeddings is not None and data.embeddings.shape[1] == 2


def test_binary_words_equal_after_replacing_bad_bytes_are_repeats(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    row = np.array([0.5, -0.25], dtype=np.float32).tobytes()
    path = _write(tmp_path, "bad-utf8.bin", b"3 2\n" + b"caf\xc3 " + row + b"\ncaf\xc4 " + row + b"\nok " + row)
    with caplog.at_level(logging.WARNING, logger="textclf.vectors"):
        assert V.vectors_vocabulary(path) == ["caf\ufffd", "ok"]
    assert _warnings(caplog) == [
        f"{path}: 2 word(s) are not valid UTF-8; their invalid bytes were replaced by U+FFFD (first: byte 4)",
        f"{path}: 1 repeated word(s) ignored, the first vector of each is kept (first repeat: 'caf\ufffd' at byte 18)",
    ]


def test_undecodable_text_words_are_replaced_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "latin1.txt", "caf\xe9 1 2\nok 3 4\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="textclf.vectors"):
        assert V.load_keyed_vectors(path).index_to_key == ["caf\ufffd", "ok"]
    assert _warnings(caplog) == [
        f"{path}: 1 word(s) are not valid UTF-8; their invalid bytes were replaced by U+FFFD (first: line 1)"
    ]


def test_blank_lines_are_skipped_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "blank.vec", "3 4\nthe 1 2 3 4\n\nfilm 1 2 3 4\n  \ngood 4 3 2 1\n\n\n")
    with caplog.at_level(logging.WARNING, logger="textclf.vectors"):
        kv = V.load_keyed_vectors(path)  # was: could not broadcast input array from shape (0,) into shape (4,)
    assert kv.index_to_key == ["the", "film", "good"] and kv["good"].tolist() == [4, 3, 2, 1]
    assert _warnings(caplog) == [f"{path}: skipped 2 blank line(s) (first: line 3)"]  # trailing ones are fine
    caplog.clear()
    trailing = _write(tmp_path, "trailing.txt", "the 1 2\nfilm 3 4\n\n \n")
    with caplog.at_level(logging.WARNING, logger="textclf.vectors"):
        assert V.load_keyed_vectors(trailing).index_to_key == ["the", "film"]
    assert _warnings(caplog) == []


def test_uneven_rows_name_the_line(tmp_path: Path) -> None:
    vec = _write(tmp_path, "uneven.vec", "3 4\nthe 1 2 3 4\nfilm 1 2 3\ngood 1 2 3 4\n")
    _fails(vec, "line 3", "expected a word and 4 numbers (the header, line 1), got 4 fields")
    glove = _write(tmp_path, "uneven.txt", "the 1 2 3 4\nfilm 1 2 3 4\ngood 1 2 3\n")
    _fails(glove, "line 3", "expected a word and 4 numbers")
    more = _write(tmp_path, "more.vec", "2 4\nthe 1 2 3 4\ngood 1 2 3 4 5\n")
    _fails(more, "line 3", "5 numbers, expected 4")


def test_header_with_the_wrong_dimension_is_text_with_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "wrong-dim.vec", "2 5\nthe 1 2 3 4\nfilm 1 2 3 4\n")
    assert V.detect_vectors_format(path) == "word2vec-text"  # was: word2vec-binary
    _fails(path, "line 2", "expected a word and 5 numbers (the header, line 1), got 5 fields")


def test_header_count_must_match_the_lines(tmp_path: Path) -> None:
    fewer = _write(tmp_path, "fewer.vec", "4 2\nthe 1 2\nfilm 3 4\n")
    _fails(fewer, "ends at line 3 after 2 of the 4 vectors its header (line 1) announces")
    more = _write(tmp_path, "more.vec", "1 2\nthe 1 2\nfilm 3 4\n")
    _fails(more, "line 3", "more vectors than the 1 the header (line 1) announces")
    huge = _write(tmp_path, "huge.vec", "99999999999 300\nthe 1 2\n")
    _fails(huge, "line 1", "the header announces 99999999999 vectors")
    wide = _write(tmp_path, "wide.vec", "1 100000000\n" + "".join(f"w{i} 1 2\n" for i in range(1000)))
    _fails(wide, "line 2", "expected a word and 100000000 numbers")  # no (1000 x 1e8) allocation on the way


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "1e39"])
def test_non_finite_values_name_the_line(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, "nan.txt", f"the 1 2\nfilm 3 {value}\n")
    _fails(path, "line 2", "not finite")


def test_a_value_that_is_not_a_number_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "nonnum.vec", "2 2\nthe 1 2\nfilm 3 x4\n")
    _fails(path, "line 3", "'x4' is not a number")


def test_truncated_gzip_names_where(tmp_path: Path) -> None:
    lines = "".join(f"w{i} {i} {i + 1}\n" for i in range(20000))
    path = _write(tmp_path, "cut.txt.gz", gzip.compress(lines.encode())[:-2000])
    _fails(path, "truncated or corrupt after", "uncompressed bytes")


# ---- a byte-order mark, an empty file ----------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"
W2V_TEXT, GLOVE_TEXT = b"2 3\nthe 0.1 0.2 0.3\ncat 0.4 0.5 0.6\n", b"the 0.1 0.2 0.3\ncat 0.4 0.5 0.6\n"
BOM_ROWS = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], dtype=np.float32)


def _maybe_gzip(data: bytes, gz: bool) -> bytes:
    return gzip.compress(data) if gz else data


@pytest.mark.parametrize("gz", [False, True])
def test_the_readers_drop_a_byte_order_mark(tmp_path: Path, gz: bool) -> None:
    cases = [
        (W2V_TEXT, lambda p: read_text_vectors(p, gz, header=True)),  # was: "line 1: expected a '<count> <dim>' ..."
        (GLOVE_TEXT, lambda p: read_text_vectors(p, gz, header=False)),  # was: the word '\ufeffthe', silently
        (_binary([b"the", b"cat"], BOM_ROWS), lambda p: read_word2vec_binary(p, gz)),
    ]
    for i, (data, read) in enumerate(cases):
        parsed = read(_write(tmp_path, f"{i}.vec", _maybe_gzip(BOM + data, gz)))
        assert parsed.words == ["the", "cat"]
        np.testing.assert_array_equal(parsed.vectors, BOM_ROWS)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("data", [b"", BOM])
def test_the_readers_say_an_empty_file_is_empty(tmp_path: Path, gz: bool, data: bytes) -> None:
    path = _write(tmp_path, "empty.vec", _maybe_gzip(data, gz))
    for read in (
        lambda: read_text_vectors(path, gz, header=True),
        lambda: read_text_vectors(path, gz, header=False),
        lambda: read_word2vec_binary(path, gz),
    ):
        with pytest.raises(TextclfError, match=rf"^vectors file {re.escape(str(path))} is empty$"):
            read()


@pytest.mark.parametrize("gz", [False, True])
def test_a_byte_order_mark_is_dropped_from_detection_to_loading(tmp_path: Path, gz: bool) -> None:
    for name, data, fmt in (("w.vec", W2V_TEXT, "word2vec-text"), ("g.txt", GLOVE_TEXT, "glove-text")):
        path = _write(tmp_path, name, _maybe_gzip(BOM + data, gz))
        assert V.detect_vectors_format(path) == fmt
        kv = V.load_keyed_vectors(path)
        assert kv.index_to_key == ["the", "cat"]
        np.testing.assert_array_equal(kv.vectors, BOM_ROWS)


@pytest.mark.parametrize("gz", [False, True])
def test_an_empty_vectors_file_is_called_empty(tmp_path: Path, gz: bool) -> None:
    path = _write(tmp_path, "empty.vec", _maybe_gzip(b"", gz))
    _fails(path, "is empty")  # was: "unrecognised vectors file"
    with pytest.raises(TextclfError, match="is empty"):
        V.detect_vectors_format(path)


# ---- anomalies in word2vec binary files ------------------------------------------------------------------------


def _binary(words: list[bytes], rows: np.ndarray, header: bytes | None = None) -> bytes:
    head = header if header is not None else f"{len(words)} {rows.shape[1]}\n".encode()
    return head + b"".join(w + b" " + r.astype("<f4").tobytes() + b"\n" for w, r in zip(words, rows, strict=True))


def test_binary_ending_mid_vector_names_the_byte(tmp_path: Path) -> None:
    data = _binary([b"the", b"film"], np.ones((2, 3)))
    path = _write(tmp_path, "cut.bin", data[:-5])
    _fails(path, f"ends at byte {len(data) - 5} inside the vector of a word (vector 2 of the 2", "from byte 21")
    path = _write(tmp_path, "cut-word.bin", data[:-14])
    _fails(path, "inside a word (vector 2 of the 2")
    path = _write(tmp_path, "cut.bin.gz", gzip.compress(data)[:-12])
    _fails(path, "truncated or corrupt")


def test_binary_non_finite_and_trailing_garbage(tmp_path: Path) -> None:
    rows = np.ones((2, 2), np.float32)
    rows[1, 1] = np.inf
    _fails(_write(tmp_path, "inf.bin", _binary([b"the", b"film"], rows)), "byte 17", "not finite")
    data = _binary([b"the"], np.ones((1, 2))) + b"extra"
    _fails(_write(tmp_path, "extra.bin", data), f"byte {len(data) - 5}: data after the 1 vectors")
    _fails(_write(tmp_path, "huge.bin", b"99999999999 300\nthe " + bytes(1200)), "byte 0", "announces 99999999999")
    _fails(_write(tmp_path, "nospace.bin", b"1 2\n" + b"x" * 70000), "byte 4: no space within")


# ---- any word round-trips ------------------------------------------------------------------------------------------

NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")  # what textclf takes for a value, not a word
_FIELD = st.text(st.characters(exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=8).filter(
    lambda w: not any(c.isspace() for c in w)
)
_ANY = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda w: not any(c.isspace() for c in w)
)  # control characters too


def _spaced(fields: list[str]) -> str:
    return " ".join(fields)


_SPACED = (
    st.lists(_FIELD, min_size=2, max_size=3).map(_spaced).filter(lambda w: not NUMBER.fullmatch(w.split()[-1].encode()))
)


def _vectors(n: int, dim: int = 3) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32)


def _kv(words: list[str]):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(3)
    kv.add_vectors(words, _vectors(len(words)))
    return kv


_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_SETTINGS
@given(words=st.lists(_ANY, min_size=1, max_size=6, unique=True))
def test_any_word_round_trips_through_gensim_binary(tmp_path: Path, words: list[str]) -> None:
    path = tmp_path / "any.bin"
    _kv(words).save_word2vec_format(str(path), binary=True)
    kv = V.load_keyed_vectors(path)
    assert kv.index_to_key == words
    np.testing.assert_array_equal(kv.vectors, _vectors(len(words)))


@_SETTINGS
@given(words=st.lists(_ANY | _SPACED, min_size=1, max_size=6, unique=True))
def test_any_word_round_trips_through_gensim_text(tmp_path: Path, words: list[str]) -> None:
    path = tmp_path / "any.vec"
    _kv(words).save_word2vec_format(str(path), binary=False)
    assert VF.detect_vectors_format(path) == "word2vec-text"
    kv = V.load_keyed_vectors(path)
    assert kv.index_to_key == words
    np.testing.assert_array_equal(kv.vectors, _vectors(len(words)))


@_SETTINGS
@given(words=st.lists(_FIELD, min_size=3, max_size=8, unique=True), spaced=_SPACED, gz=st.booleans())
def test_any_word_round_trips_through_handwritten_glove(
    tmp_path: Path, words: list[str], spaced: str, gz: bool
) -> None:
    words = [*words[:1], spaced, *words[1:]] if spaced not in words else words  # one spaced word among plain ones
    rows = _vectors(len(words))
    text = "".join(w + " " + " ".join(repr(float(x)) for x in r) + "\n" for w, r in zip(words, rows, strict=True))
    path = tmp_path / "any.txt"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    assert VF.detect_vectors_format(path) == "glove-text"
    kv = V.load_keyed_vectors(path)
    assert kv.index_to_key == words
    np.testing.assert_array_equal(kv.vectors, rows)

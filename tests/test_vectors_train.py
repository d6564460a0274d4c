"""``textclf vectors train``: word vectors trained on your own text, in files that textclf's readers (and recipes) take.

Every corpus here is a few hundred tiny lines made by the test; vectors are 8-dimensional and train for an epoch or two.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import random
import re
import signal
import stat
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from factories import RECIPES, write_csv, write_file
from fixtures_documents import write_imdb

from textclf.cli import main as textclf
from textclf.errors import TextclfError
from textclf.tokenize import Tokenizer
from textclf.vectors import build_embedding_matrix, detect_vectors_format, load_keyed_vectors
from textclf.vectors_training.corpus import write_tokens
from textclf.vectors_training.output import sidecar_path, staging_path, write_outputs
from textclf.vectors_training.sources import file_source
from textclf.vectors_training.train import train_vectors

SMALL = ["--dim", "8", "--epochs", "1", "--workers", "1", "--min-count", "1"]


def corpus(path: Path, lines: int = 200, seed: int = 0, extra: str = "") -> Path:
    """``lines`` texts of 6 to 12 words from a 300-word pool (``w0`` ... ``w299``), each followed by ``extra``."""
    rng = random.Random(seed)
    texts = [" ".join(f"w{rng.randrange(300)}" for _ in range(rng.randint(6, 12))) + extra for _ in range(lines)]
    return write_file(path, "\n".join(texts) + "\n")


def run(*args: str) -> None:
    textclf(["vectors", "train", *args])


def cli_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """The one line ``textclf vectors train ARGS`` ends with (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        run(*args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("textclf: error: ")
    return err[-1]


@pytest.fixture
def messages() -> Iterator[list[str]]:
    """The textclf log lines (whatever handlers an earlier CLI test set up)."""
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("textclf")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# ---- what is written ---------------------------------------------------------------------------------------------


def test_word2vec_is_word2vec_binary_that_textclf_reads_and_recipes_take(tmp_path: Path) -> None:
    text = write_file(tmp_path / "text.txt", "The film was GOOD .\nthe film was bad\nA rare word\n" * 3 + "once\n")
    out = tmp_path / "out" / "w2v.bin"
    run("--input", str(text), "-o", str(out), "--dim", "8", "--min-count", "2", "--epochs", "1", "--workers", "1")
    assert detect_vectors_format(out) == "word2vec-binary"
    kv = load_keyed_vectors(out)
    assert kv.vector_size == 8
    # basic tokenizer: lowercased, punctuation a token; "once" (seen once) is below --min-count 2
    assert set(kv.index_to_key) == {"the", "film", "was", "good", ".", "bad", "a", "rare", "word"}
    matrix, _ = build_embedding_matrix(out, ["<pad>", "<unk>", "film", "unseen"])
    assert matrix.shape == (4, 8) and np.array_equal(matrix[2], kv["film"])
    assert not list(out.parent.glob(".part-*")), "no temporary file is left beside the output"


def test_fasttext_keeps_its_subwords(tmp_path: Path) -> None:
    text = corpus(tmp_path / "text.txt", extra=" filming filmed films")
    out = tmp_path / "ft.bin"
    run("--input", str(text), "-o", str(out), "--model", "fasttext", "--bucket", "2000", *SMALL)
    assert detect_vectors_format(out) == "fasttext-binary"
    kv = load_keyed_vectors(out)  # gensim's load_facebook_vectors: no pickle
    assert "filmz" not in kv.key_to_index and "filming" in kv.key_to_index
    assert kv.vector_size == 8 and np.linalg.norm(kv["filmz"]) > 0  # an unseen word: built from its n-grams
    assert kv.vectors_ngrams.shape == (2000, 8)


def test_the_python_api_reports_what_it_wrote_and_the_sidecar_holds_the_same(
    tmp_path: Path, messages: list[str]
) -> None:
    text = corpus(tmp_path / "text.txt")
    tokens, distinct = len(text.read_text().split()), len(set(text.read_text().split()))
    trained = train_vectors(tmp_path / "v.bin", inputs=[text], dim=8, epochs=2, workers=1, min_count=1, seed=3,
                            report_every=0.0)  # fmt: skip
    assert trained.path == tmp_path / "v.bin" and trained.format == "word2vec-binary"
    assert trained.words == 2 * tokens and 0 < trained.effective_words <= trained.words
    assert trained.vocab_size == len(load_keyed_vectors(trained.path).index_to_key) and trained.dim == 8
    assert trained.words_per_second > 0 and trained.seconds >= trained.train_seconds > 0
    sidecar = json.loads((tmp_path / "v.bin.json").read_text())
    assert sidecar["settings"] == {"model": "word2vec", "sg": True, "dim": 8, "window": 5, "min_count": 1,
                                   "epochs": 2, "negative": 5, "workers": 1, "seed": 3, "phrases": False,
                                   "phrases_min_count": 5, "phrases_threshold": 10.0}  # fmt: skip
    assert sidecar["sources"] == [{"input": str(text), "texts": 200, "tokens": tokens}]
    assert sidecar["tokenizer"] == {"mode": "basic", "max_length": None}
    assert (sidecar["tokens"], sidecar["words_trained"], sidecar["vocab_size"]) == (tokens, 2 * tokens, distinct)
    assert sidecar["format"] == "word2vec-binary" and sidecar["gensim"] and sidecar["words_per_second"] > 0
    # progress: a line per epoch (and, every report_every seconds, within it) with % done, words/s and ETA
    epochs = [m for m in messages if m.startswith("epoch ") and " done in " in m]
    assert len(epochs) == 2 and "100.0% done" in epochs[-1] and "words/s, ETA" in epochs[-1]
    assert any(m.startswith("epoch 1/2: ") and "words/s, ETA" in m for m in messages)
    final = [m for m in messages if m.startswith("trained ")]
    assert (
        final[0].startswith(f"trained {2 * tokens:,} words (2 epochs of {tokens:,} tokens")
        and f"{distinct} words x 8" in final[0]
    )
    assert f"wrote {tmp_path / 'v.bin'} (word2vec-binary)" in final[0]


# ---- the tokenizer is the classifier's ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "words"),
    [("basic", {"paris", "don't", ",", "hello"}), ("cased", {"Paris", "don't", ",", "Hello"}),
     ("whitespace", {"Paris", "don't,", "Hello"})],
)  # fmt: skip
def test_the_tokenizer_is_the_classifiers(tmp_path: Path, mode: str, words: set[str]) -> None:
    text = write_file(tmp_path / "text.txt", "Paris don't, Hello\n" * 5)
    run("--input", str(text), "-o", str(tmp_path / "v.bin"), "--tokenizer", mode, *SMALL)
    assert set(load_keyed_vectors(tmp_path / "v.bin").index_to_key) == words


def test_the_data_configs_tokenizer_is_used_and_a_different_one_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_csv(tmp_path / "train.csv", [["Paris is Lovely", "pos"], ["London is Grey", "neg"]] * 3)
    val, test = write_csv(tmp_path / "val.csv", [["Val", "pos"]]), write_csv(tmp_path / "test.csv", [["Test", "neg"]])
    config = write_file(tmp_path / "data.yaml", yaml.safe_dump({
        "class_path": "textclf.FileDataModule",
        "init_args": {"train": str(train), "val": str(val), "test": str(test), "tokenizer": "cased", "max_length": 1},
    }))  # fmt: skip
    run("--data", str(config), "-o", str(tmp_path / "v.bin"), *SMALL)
    # cased, as the data says; max_length cuts the classifier's texts, never the vectors' corpus
    assert set(load_keyed_vectors(tmp_path / "v.bin").index_to_key) == {"Paris", "is", "Lovely", "London", "Grey"}
    line = cli_error(capsys, "--data", str(config), "--tokenizer", "basic", "-o", str(tmp_path / "w.bin"), *SMALL)
    assert "--tokenizer basic differs from the tokenizer of --data" in line and "(cased)" in line


# ---- corpora: --data with --split train / unlabelled --------------------------------------------------------------


@pytest.fixture
def imdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny aclImdb_v1.tar.gz under $TEXTCLF_DATA/imdb, so that recipes/imdb/data.yaml reads it as it is."""
    write_imdb(tmp_path / "data" / "imdb")
    monkeypatch.setenv("TEXTCLF_DATA", str(tmp_path / "data"))
    return RECIPES / "imdb" / "data.yaml"


def test_a_recipes_data_config_gives_its_unlabelled_or_training_texts(tmp_path: Path, imdb: Path) -> None:
    run("--data", str(imdb), "--split", "unlabelled", "-o", str(tmp_path / "unsup.bin"), *SMALL)
    unsup = set(load_keyed_vectors(tmp_path / "unsup.bin").index_to_key)
    assert unsup == {"unlabelled", "review", "0", "1", "2", "with", "a", "break"}  # <br /> is cleaned away
    run("--data", str(imdb), "--split", "train", "-o", str(tmp_path / "train.bin"), *SMALL)
    train = set(load_keyed_vectors(tmp_path / "train.bin").index_to_key)
    assert {"great", "dull", "café", "train"} <= train
    assert "test" not in train and "unlabelled" not in train  # never the test split's texts
    sidecar = json.loads((tmp_path / "train.bin.json").read_text())
    # 12 training reviews, of which fit holds 2 out for validation (val_fraction 0.1, stratified)
    assert sidecar["sources"] == [{"data": str(imdb), "class": "textclf.data.corpora.documents.IMDB", "split": "train",
                                   "texts": 10, "tokens": sidecar["tokens"]}]  # fmt: skip


def test_a_recipe_and_several_sources_combine(tmp_path: Path, imdb: Path) -> None:
    extra = write_file(tmp_path / "more.txt", "zebra crossing\n")
    recipe = RECIPES / "imdb" / "bilstm_max.yaml"  # data: data.yaml, read relative to the recipe
    run("--data", str(recipe), "--split", "train", "--split", "unlabelled", "--input", str(extra),
        "-o", str(tmp_path / "v.bin"), *SMALL)  # fmt: skip
    assert {"great", "unlabelled", "zebra"} <= set(load_keyed_vectors(tmp_path / "v.bin").index_to_key)
    sources = json.loads((tmp_path / "v.bin.json").read_text())["sources"]
    assert [s.get("split", s.get("input")) for s in sources] == [str(extra), "train", "unlabelled"]


def test_a_corpus_without_unlabelled_text_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_csv(tmp_path / "train.csv", 10)
    config = write_file(tmp_path / "data.yaml", f"class_path: textclf.FileDataModule\ninit_args:\n  train: {train}\n")
    line = cli_error(capsys, "--data", str(config), "--split", "unlabelled", "-o", str(tmp_path / "v.bin"))
    assert (
        line.startswith("textclf: error: --split unlabelled: FileDataModule has no unlabelled text") and "IMDB" in line
    )
    assert not (tmp_path / "v.bin").exists()


def test_a_class_path_outside_textclf_is_refused_and_never_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    write_file(tmp_path / "evil_data.py", f"open({str(marker)!r}, 'w').close()\nclass Data: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for class_path in ("evil_data.Data", "Data", "textclf_evil.Data"):
        config = write_file(tmp_path / "data.yaml", f"class_path: {class_path}\n")
        line = cli_error(capsys, "--data", str(config), "-o", str(tmp_path / "v.bin"))
        assert f"class_path {class_path} is not one of textclf's data modules" in line
    assert not marker.exists() and "evil_data" not in sys.modules


# ---- one-line errors, and nothing on disk is lost -----------------------------------------------------------------


def test_bad_inputs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "v.bin")
    missing = tmp_path / "nowhere.txt"
    assert cli_error(capsys, "--input", str(missing), "-o", out) == f"textclf: error: --input {missing}: no such file"
    bad = write_file(tmp_path / "bad.txt", b"fine\ncaf\xe9 latin-1\n")
    assert cli_error(capsys, "--input", str(bad), "-o", out) == (
        f"textclf: error: {bad}, line 2: byte 8 is not valid UTF-8"
    )
    blank = write_file(tmp_path / "blank.txt", "\n  \n\n")
    assert "no tokens to train on in" in cli_error(capsys, "--input", str(blank), "-o", out)
    rare = write_file(tmp_path / "rare.txt", "every word once\n")
    assert "no word occurs min_count=5 times" in cli_error(capsys, "--input", str(rare), "-o", out)
    assert "nothing to train on" in cli_error(capsys, "-o", out)
    assert "--dim: 'x' is not a whole number" in cli_error(capsys, "--input", str(rare), "-o", out, "--dim", "x")
    assert "min_n (7) must not exceed max_n (6)" in cli_error(capsys, "--input", str(rare), "-o", out, "--min-n", "7")
    not_yaml = write_file(tmp_path / "data.yaml", "class_path: [unclosed\n")
    assert "not a YAML file" in cli_error(capsys, "--data", str(not_yaml), "-o", out)
    assert not list(tmp_path.glob("*.bin*")) and not list(tmp_path.glob(".part-*"))


def test_an_existing_output_is_refused_untouched_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = corpus(tmp_path / "text.txt")
    out = write_file(tmp_path / "v.bin", b"precious")
    line = cli_error(capsys, "--input", str(text), "-o", str(out), *SMALL)
    assert line == f"textclf: error: {out} already exists: pass --force (force=True) to replace it"
    assert out.read_bytes() == b"precious" and not (tmp_path / "v.bin.json").exists()
    run("--input", str(text), "-o", str(out), *SMALL, "--force")
    assert load_keyed_vectors(out).vector_size == 8
    sidecar = (tmp_path / "v.bin.json").read_text()
    with pytest.raises(TextclfError, match=r"v\.bin\.json already exists"):  # the sidecar is an output too
        out.unlink()
        train_vectors(out, inputs=[text], dim=8, min_count=1)
    assert (tmp_path / "v.bin.json").read_text() == sidecar


# ---- determinism ------------------------------------------------------------------------------------------------


def test_one_worker_and_a_seed_repeat_a_run_exactly_in_any_process(tmp_path: Path) -> None:
    text = corpus(tmp_path / "text.txt")
    args = ["--input", str(text), "--dim", "8", "--epochs", "2", "--workers", "1", "--min-count", "1"]
    run(*args, "-o", str(tmp_path / "a.bin"), "--seed", "7")
    run(*args, "-o", str(tmp_path / "b.bin"), "--seed", "7")
    run(*args, "-o", str(tmp_path / "c.bin"), "--seed", "8")
    script = "import sys; from textclf.cli import main; main(sys.argv[1:])"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONWARNINGS": "ignore"}  # another str hash than ours
    other = ["vectors", "train", *args, "-o", str(tmp_path / "d.bin"), "--seed", "7"]
    subprocess.run([sys.executable, "-c", script, *other], check=True, env=env, capture_output=True, timeout=300)
    first = (tmp_path / "a.bin").read_bytes()
    assert first == (tmp_path / "b.bin").read_bytes() == (tmp_path / "d.bin").read_bytes()
    assert first != (tmp_path / "c.bin").read_bytes()


# ---- phrases ----------------------------------------------------------------------------------------------------


def test_phrases_join_a_frequent_word_pair(tmp_path: Path) -> None:
    text = corpus(tmp_path / "text.txt", lines=300, extra=" new york")
    run("--input", str(text), "-o", str(tmp_path / "p.bin"), "--phrases", "--phrases-threshold", "1", *SMALL)
    words = set(load_keyed_vectors(tmp_path / "p.bin").index_to_key)
    assert "new_york" in words and "new" not in words and "york" not in words
    run("--input", str(text), "-o", str(tmp_path / "n.bin"), *SMALL)
    assert {"new", "york"} <= set(load_keyed_vectors(tmp_path / "n.bin").index_to_key)


# ---- start-up -----------------------------------------------------------------------------------------------------


def test_help_is_light(tmp_path: Path) -> None:
    script = (
        "import sys; from textclf.cli import main\n"
        "try:\n    main(['vectors', 'train', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('MODULES', *sorted(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300)
    assert "--phrases-threshold" in out.stdout
    modules = set(out.stdout.rsplit("MODULES ", 1)[1].split())
    assert not modules & {"torch", "lightning", "gensim", "datasets"}


def test_max_texts_trains_on_the_first_texts_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_file(tmp_path / "texts.txt", "alpha beta\n\ngamma delta\nepsilon zeta\n")
    run("--input", str(source), "-o", str(tmp_path / "v.bin"), *SMALL, "--max-texts", "2")
    sidecar = json.loads((tmp_path / "v.bin.json").read_text())
    assert sidecar["texts"] == 2 and sidecar["tokens"] == 4  # the empty line is not a text
    assert set(load_keyed_vectors(tmp_path / "v.bin").index_to_key) == {"alpha", "beta", "gamma", "delta"}
    error = cli_error(capsys, "--input", str(source), "-o", str(tmp_path / "w.bin"), "--max-texts", "0")
    assert error.endswith("max_texts must be at least 1, got 0") and not (tmp_path / "w.bin").exists()


# ---- the output: checked before any work, never a device, written together with OUT.json ---------------------------


def test_an_output_that_is_not_a_regular_file_is_refused_even_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = corpus(tmp_path / "text.txt", lines=20)
    fifo = tmp_path / "fifo.bin"
    os.mkfifo(fifo)
    for force in ([], ["--force"]):
        line = cli_error(capsys, "--input", str(text), "-o", str(fifo), *SMALL, *force)
        assert line == (f"textclf: error: {fifo} exists and is not a regular file (a device, FIFO or socket): it is "
                        "never replaced, --force or not; give another path")  # fmt: skip
        assert stat.S_ISFIFO(fifo.lstat().st_mode)
    os.mkfifo(tmp_path / "v.bin.json")  # OUT.json is an output too
    assert "v.bin.json exists and is not a regular file" in cli_error(
        capsys, "--input", str(text), "-o", str(tmp_path / "v.bin"), *SMALL, "--force"
    )
    if os.geteuid() == 0:  # a character device like /dev/null (1, 3), made here: never the real one
        null = tmp_path / "null"
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        assert "is not a regular file" in cli_error(capsys, "--input", str(text), "-o", str(null), "--force")
        assert stat.S_ISCHR(null.lstat().st_mode)
    target = write_file(tmp_path / "target.bin", b"kept")  # a symlink to a regular file: the link is replaced
    (tmp_path / "link.bin").symlink_to(target)
    run("--input", str(text), "-o", str(tmp_path / "link.bin"), *SMALL, "--force")
    assert target.read_bytes() == b"kept" and not (tmp_path / "link.bin").is_symlink()
    assert load_keyed_vectors(tmp_path / "link.bin").vector_size == 8


def test_bad_outputs_are_found_before_any_text_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], messages: list[str]
) -> None:
    text = corpus(tmp_path / "text.txt", lines=20)
    (tmp_path / "v.bin.json").mkdir()
    line = cli_error(capsys, "--input", str(text), "-o", str(tmp_path / "v.bin"), *SMALL, "--force")
    assert line == f"textclf: error: {tmp_path / 'v.bin.json'} is a folder: give the path of the vectors file to write"
    line = cli_error(capsys, "--input", str(text), "-o", str(tmp_path / "new") + "/", *SMALL)
    assert line.endswith("new/ ends in a path separator: give the path of the vectors file to write in it")
    line = cli_error(capsys, "--input", str(text), "-o", str(tmp_path / "ft.bin.gz"), "--model", "fasttext")
    assert "Facebook's fastText .bin format is not compressed: drop .gz" in line
    too_long = tmp_path / ("a" * 252)  # the system refuses the name itself
    line = cli_error(capsys, "--input", str(text), "-o", str(too_long))
    assert re.search(r"is too long \(252 bytes; 2\d\d with .json and the temporary name beside it, at most 255\)", line)
    # a name that fits, but not with the temporary name beside it (.part-PID-NAME.json): found by the probe
    line = cli_error(capsys, "--input", str(text), "-o", str(tmp_path / "deep" / ("b" * 240)))
    assert (
        line.startswith(f"textclf: error: cannot write in {tmp_path / 'deep'}: the name of ") and "at most 255" in line
    )
    assert not any(m.startswith("tokenised") for m in messages)  # all found before tokenising
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.txt", "v.bin.json"]  # "deep" was removed again
    if os.geteuid() != 0:  # root writes in read-only folders
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        line = cli_error(capsys, "--input", str(text), "-o", str(locked / "v.bin"))
        assert line == f"textclf: error: cannot write in {locked}: Permission denied"


def test_a_failed_run_removes_the_folders_it_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blank = write_file(tmp_path / "blank.txt", "\n\n")
    line = cli_error(capsys, "--input", str(blank), "-o", str(tmp_path / "a" / "b" / "v.bin"), *SMALL)
    assert "no tokens to train on" in line and not (tmp_path / "a").exists()


def test_outputs_are_staged_together_and_a_failed_sidecar_replaces_nothing(tmp_path: Path) -> None:
    out = write_file(tmp_path / "v.bin", b"old vectors")
    staged_sidecar = staging_path(sidecar_path(out))
    staged_sidecar.mkdir()  # OUT.json cannot be staged
    with pytest.raises(TextclfError, match=rf"^cannot write {tmp_path / 'v.bin.json'}: Is a directory$"):
        write_outputs(out, lambda staging: staging.write_bytes(b"new vectors"), lambda: {"a": 1})
    assert out.read_bytes() == b"old vectors" and not staging_path(out).exists()
    staged_sidecar.rmdir()
    write_outputs(out, lambda staging: staging.write_bytes(b"new vectors"), lambda: {"a": 1})
    assert out.read_bytes() == b"new vectors" and json.loads(sidecar_path(out).read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.bin", "v.bin.json"]


def test_a_full_temporary_folder_is_one_line(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    text = corpus(tmp_path / "text.txt", lines=2000)  # more than a write buffer
    with pytest.raises(TextclfError, match=r"^no space left in the temporary folder /dev after writing .* of tokens"):
        write_tokens([file_source(text)], Tokenizer("basic"), Path("/dev/full"))  # writes fail with ENOSPC


# ---- settings --------------------------------------------------------------------------------------------------


def test_settings_out_of_range_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, out = corpus(tmp_path / "text.txt", lines=20), str(tmp_path / "v.bin")
    line = cli_error(capsys, "--input", str(text), "-o", out, "--seed", str(2**32))
    assert line.endswith("seed must be at most 2**32 - 1 = 4294967295, got 4294967296")
    for value in ("inf", "nan", "0"):
        line = cli_error(capsys, "--input", str(text), "-o", out, "--phrases", "--phrases-threshold", value)
        assert "phrases_threshold must be a finite number above 0" in line
    run("--input", str(text), "-o", out, *SMALL, "--seed", str(2**32 - 1))  # the largest seed numpy takes
    assert json.loads((tmp_path / "v.bin.json").read_text())["settings"]["seed"] == 2**32 - 1


def test_a_config_file_is_refused_and_errors_point_at_train_help(capsys: pytest.CaptureFixture[str]) -> None:
    line = cli_error(capsys, "-c", "f.yaml", "-o", "v.bin")
    assert line == ("textclf: error: textclf vectors train takes options only, no -c/--config file (see textclf "
                    "vectors train --help)")  # fmt: skip
    assert cli_error(capsys, "-o", "v.bin", "--bogus") == (
        "textclf: error: unrecognized arguments: --bogus (see textclf vectors train --help)"
    )


def test_fasttext_settings_given_to_word2vec_are_a_warning_and_the_log_counts_right(
    tmp_path: Path, messages: list[str]
) -> None:
    text = corpus(tmp_path / "text.txt", lines=20)
    run("--input", str(text), "-o", str(tmp_path / "v.bin"), *SMALL, "--bucket", "100", "--min-n", "2")
    assert "--min-n 2, --bucket 100: fastText settings, ignored by word2vec (use --model fasttext)" in messages
    assert any(" seen at least 1 time (of " in m and ", 1 epoch with 1 worker" in m for m in messages)
    assert any(m.startswith("trained ") and " (1 epoch of " in m for m in messages)


def test_the_sidecar_holds_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus(tmp_path / "text.txt", lines=20)
    monkeypatch.chdir(tmp_path)
    run("--input", "text.txt", "-o", "out/v.bin", *SMALL)
    sidecar = json.loads((tmp_path / "out" / "v.bin.json").read_text())
    assert sidecar["path"] == str((tmp_path / "out" / "v.bin").resolve())
    assert sidecar["sources"][0]["input"] == str((tmp_path / "text.txt").resolve())


def test_a_class_path_that_is_no_data_module_is_one_short_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_file(tmp_path / "data.yaml", "class_path: textclf.os.system\ninit_args:\n  command: touch x\n")
    line = cli_error(capsys, "--data", str(config), "-o", str(tmp_path / "v.bin"))
    assert line == (
        f"textclf: error: --data {config}: class_path textclf.os.system is not one of textclf's data modules (e.g. "
        "textclf.IMDB, textclf.FileDataModule); textclf vectors train imports nothing else"
    )


# ---- inputs: long lines, gzip, FIFOs and stdin -------------------------------------------------------------------


@pytest.mark.parametrize("gzipped", [False, True])
def test_long_lines_are_cut_alike_in_plain_and_gzip_files_in_bounded_memory(
    tmp_path: Path, messages: list[str], gzipped: bool
) -> None:
    content = b"ab " * 3_000_000 + b"\nshort line\n"  # a first line of 9 MB
    path = tmp_path / ("text.gz" if gzipped else "text.txt")
    write_file(path, gzip.compress(content) if gzipped else content)
    tracemalloc.start()
    try:
        result = write_tokens([file_source(path)], Tokenizer("basic"), tmp_path / "tokens.txt")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    lines = (tmp_path / "tokens.txt").read_text().splitlines()
    cut = (1 << 20) // 3 + 1  # the first MiB: 349,525 "ab " and an "a"
    assert lines[-1] == "short line" and sum(len(line.split()) for line in lines[:-1]) == cut == result.tokens - 2
    assert f"{path}: 1 line (1) longer than 1,048,576 bytes, cut to their first 1,048,576" in messages
    assert peak < 60_000_000, f"{peak:,} bytes"  # the 9 MB line is never held whole (its tokens are ~50 MB)


def test_invalid_utf8_names_the_same_byte_in_plain_and_gzip_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = b"fine\ncaf\xe9 latin-1\n"
    for path in (write_file(tmp_path / "bad.txt", content), write_file(tmp_path / "bad.gz", gzip.compress(content))):
        line = cli_error(capsys, "--input", str(path), "-o", str(tmp_path / "v.bin"))
        assert line == f"textclf: error: {path}, line 2: byte 8 is not valid UTF-8"  # offset in the (decompressed) text


def test_a_fifo_of_gzip_text_and_stdin_are_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = corpus(tmp_path / "text.txt", lines=50)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(gzip.compress(text.read_bytes())), daemon=True)
    writer.start()
    try:
        run("--input", str(fifo), "-o", str(tmp_path / "fifo.bin"), *SMALL)
    finally:
        if writer.is_alive():  # the run did not read it all: let the writer finish
            fifo.read_bytes()
        writer.join(timeout=30)
    stdin = type("Stdin", (), {"buffer": io.BufferedReader(io.BytesIO(text.read_bytes()))})()
    monkeypatch.setattr(sys, "stdin", stdin)
    run("--input", "-", "-o", str(tmp_path / "stdin.bin"), *SMALL)
    expected = set(text.read_text().split())
    for name in ("fifo", "stdin"):
        assert set(load_keyed_vectors(tmp_path / f"{name}.bin").index_to_key) == expected
    assert json.loads((tmp_path / "stdin.bin.json").read_text())["sources"][0]["input"] == "-"


# ---- --split train is what fit trains on --------------------------------------------------------------------------


def test_split_train_holds_out_what_fit_holds_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [[f"common u{i}", "pos" if i % 2 else "neg"] for i in range(40)]
    train = write_csv(tmp_path / "train.csv", rows)  # no val, no test file: fit carves both from train
    config = write_file(tmp_path / "data.yaml", f"class_path: textclf.FileDataModule\ninit_args:\n  train: {train}\n")
    run("--data", str(config), "-o", str(tmp_path / "v.bin"), *SMALL)
    words = set(load_keyed_vectors(tmp_path / "v.bin").index_to_key) - {"common"}
    assert len(words) == 32 and json.loads((tmp_path / "v.bin.json").read_text())["texts"] == 32  # 10% + 10% out
    from textclf.data.splits import carve_missing_splits, clean_split
    from textclf.vectors_training.sources import data_module

    module = data_module(config)
    splits = carve_missing_splits({"train": clean_split(module.read_splits()["train"])}, 0.1, 0.1, module.seed)
    assert words == {text.split()[1] for text in splits["train"].texts}  # the very texts fit trains on
    missing = write_file(tmp_path / "missing.yaml", yaml.safe_dump({
        "class_path": "textclf.FileDataModule", "init_args": {"train": str(train), "test": str(tmp_path / "no.csv")},
    }))  # fmt: skip
    line = cli_error(capsys, "--data", str(missing), "-o", str(tmp_path / "w.bin"))
    assert line.startswith(f"textclf: error: --data {missing} --split train (read with the corpus's other splits")
    assert f"file not found: {tmp_path / 'no.csv'}" in line


# ---- interrupted runs leave nothing behind -----------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "status", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C")])
def test_an_interrupted_run_leaves_nothing_and_ends_with_one_line(
    tmp_path: Path, sig: int, status: int, name: str
) -> None:
    text = corpus(tmp_path / "text.txt", lines=2000)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "v.bin"
    script = "import sys; from textclf.cli import main; main(sys.argv[1:])"
    args = ["vectors", "train", "--input", str(text), "-o", str(out), *SMALL, "--epochs", "2000"]
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen([sys.executable, "-c", script, *args], env=env, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("textclf: epoch 1/2000 done"):  # training, with the token file in $TMPDIR
            process.send_signal(sig)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=60) == status
    assert rest.strip().splitlines()[-1] == f"textclf: error: interrupted ({name}); nothing was written to {out}"
    assert "Traceback" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.txt", "tmp"] and not list(scratch.iterdir())

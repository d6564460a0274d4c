"""Phrases: vectors trained with ``vectors train --phrases`` and a classifier that joins the same word pairs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import tiny_model, write_csv, write_file

from textclf import FileDataModule, TextclfError, Tokenizer, Vocabulary
from textclf.cli import main as textclf
from textclf.tokenize import join_phrases
from textclf.vectors import load_keyed_vectors
from textclf.vectors.sidecar import sidecar_path, sidecar_phrases

SMALL = ["--dim", "8", "--epochs", "1", "--workers", "1", "--min-count", "1"]


def gensim_joined(sentences: list[list[str]], min_count: int, threshold: float) -> tuple[list[list[str]], set[str]]:
    """What gensim's own frozen Phrases makes of ``sentences``, and its phrase table."""
    from gensim.models.phrases import Phrases

    frozen = Phrases(sentences, min_count=min_count, threshold=threshold, delimiter="_").freeze()
    return [frozen[s] for s in sentences], set(frozen.phrasegrams)


def test_joining_is_gensims_on_overlapping_pairs() -> None:
    rng = random.Random(0)
    pool = ["new", "york", "city", "hot", "dog", "stand", "a", "b"]
    sentences = [[rng.choice(pool) for _ in range(rng.randint(0, 12))] for _ in range(2000)]
    expected, table = gensim_joined(sentences, min_count=1, threshold=0.004)
    assert len(table) > 10  # chains such as "new york city" overlap two phrases
    assert [join_phrases(s, frozenset(table)) for s in sentences] == expected


def test_joining_is_gensims_on_real_sentences(real_data: Path) -> None:
    lines = (real_data / "sst2" / "stsa.binary.train").read_text(encoding="latin-1").splitlines()
    sentences = [line.split()[1:] for line in lines]
    expected, table = gensim_joined(sentences, min_count=5, threshold=10.0)
    tokenizer = Tokenizer("whitespace", phrases=tuple(sorted(table)))
    assert [tokenizer(" ".join(s)) for s in sentences] == expected
    assert sum(len(a) != len(b) for a, b in zip(expected, sentences, strict=True)) > 100


def test_phrases_are_joined_before_max_length_cuts() -> None:
    tokenizer = Tokenizer("basic", max_length=3, phrases=("new_york", "york_city"))
    assert tokenizer("New York City is big") == ["new_york", "city", "is"]
    assert Tokenizer("basic", phrases=("new_york",))("new new york york") == ["new", "new_york", "york"]


@pytest.mark.parametrize("bad", ["new york", "new_", "_york", "newyork", "", "new_\tyork", 5, None])
def test_a_phrase_that_is_not_a_joined_pair_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="is not two words joined by '_'"):
        Tokenizer(phrases=("new_york", bad))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Tokenizer.from_dict({"mode": "basic", "max_length": None, "phrases": "new_york"})


def test_settings_round_trip_and_keep_older_keys() -> None:
    assert Tokenizer().to_dict() == {"mode": "basic", "max_length": None}  # prepared-data caches keep their keys
    tokenizer = Tokenizer("cased", 7, ("New_York",))
    settings = json.loads(json.dumps(tokenizer.to_dict()))
    assert settings["phrases"] == ["New_York"] and Tokenizer.from_dict(settings) == tokenizer
    assert Tokenizer.from_dict({"mode": "basic", "max_length": None}) == Tokenizer()  # a checkpoint from before


def phrase_corpus(path: Path) -> Path:
    rng = random.Random(1)
    texts = [" ".join(f"w{rng.randrange(50)}" for _ in range(8)) + " new york" for _ in range(300)]
    return write_file(path, "\n".join(texts) + "\n")


@pytest.fixture
def phrase_vectors(tmp_path: Path) -> Path:
    """Word2vec trained with --phrases on texts that all end in "new york"."""
    out = tmp_path / "phrases.bin"
    textclf(["vectors", "train", "--input", str(phrase_corpus(tmp_path / "text.txt")), "-o", str(out),
             "--phrases", "--phrases-threshold", "1", *SMALL])  # fmt: skip
    return out


def test_the_sidecar_lists_the_phrases_that_have_a_vector(phrase_vectors: Path) -> None:
    listed = json.loads(sidecar_path(phrase_vectors).read_text())["phrases"]
    words = set(load_keyed_vectors(phrase_vectors).index_to_key)
    assert "new_york" in listed and set(listed) <= words
    assert sidecar_phrases(phrase_vectors) == tuple(listed)


def csv_data(tmp_path: Path, vectors: Path, **options: object) -> FileDataModule:
    rows = [(f"I moved to New York in {year}", "pos" if year % 2 else "neg") for year in range(1990, 2030)]
    train = write_csv(tmp_path / "train.csv", rows)
    return FileDataModule(train=str(train), vectors=str(vectors), cache_dir=str(tmp_path / "cache"), **options)


def test_the_classifier_joins_the_phrases_of_its_vectors(tmp_path: Path, phrase_vectors: Path) -> None:
    data = csv_data(tmp_path, phrase_vectors)
    assert "new_york" in data.tokenizer.phrases
    assert data.tokenizer("I moved to New York") == ["i", "moved", "to", "new_york"]
    vocab = data.vocab
    assert "new_york" in vocab.tokens and "york" not in vocab.tokens
    row = data.embeddings[vocab.tokens.index("new_york")].numpy()  # type: ignore[index]
    np.testing.assert_allclose(row, load_keyed_vectors(phrase_vectors)["new_york"], rtol=1e-6)


def test_a_checkpoint_keeps_the_phrases_for_prediction_and_fine_tuning(tmp_path: Path) -> None:
    tokenizer = Tokenizer(phrases=("new_york",))
    model = tiny_model(Vocabulary(["<pad>", "<unk>", "new_york", "i"]), tokenizer=tokenizer)
    saved: dict[str, object] = {}
    model.on_save_checkpoint(saved)
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": model.state_dict(), **saved}, path)
    restored = type(model).load_from_checkpoint(path)
    assert restored.tokenizer == tokenizer
    assert model.hparams["tokenizer"]["phrases"] == 1  # loggers' hparams.yaml get a count, not the list
    fine_tune = csv_data(tmp_path, tmp_path / "absent.bin", init_vocab_from=str(path))
    assert fine_tune.tokenizer.phrases == ("new_york",)  # the checkpoint's, which its vocabulary needs
    saved["textclf"]["tokenizer"]["phrases"] = ["new york"]  # type: ignore[index]
    torch.save({"state_dict": model.state_dict(), **saved}, bad := tmp_path / "bad.ckpt")
    with pytest.raises(TextclfError, match=r"tokenizer: phrase 'new york' is not two words joined by '_'"):
        type(model).load_from_checkpoint(bad)


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ("{not json", "not a JSON vectors sidecar"),
        ("[1, 2]", "not a JSON vectors sidecar (a list, not an object)"),
        ('{"phrases": "new_york"}', "phrases: phrases must be a list of joined word pairs, got str"),
        ('{"phrases": ["new york"]}', "phrases: phrase 'new york' is not two words joined by '_'"),
        ('{"phrases": {"a_b": 1}}', "phrases: phrases must be a list of joined word pairs, got dict"),
        ("[" * 100_000 + "]" * 100_000, "not a JSON vectors sidecar (nested too deeply)"),
        ('{"phrases": ["a_\\ud800b"]}', "phrases: phrase 'a_\\ud800b' is not two words"),  # no UTF-8: export fails
        ('{"phrases": ["' + "x" * 100_000 + '"]}', "phrases: phrase 'xxxxx"),
    ],
)
def test_a_broken_sidecar_is_one_line_naming_it(
    tmp_path: Path, phrase_vectors: Path, sidecar: str, message: str
) -> None:
    side = write_file(sidecar_path(phrase_vectors), sidecar)
    with pytest.raises(TextclfError) as error:
        csv_data(tmp_path, phrase_vectors).tokenizer  # noqa: B018
    assert str(error.value).startswith(f"{side}: {message}") and "\n" not in str(error.value)
    assert len(str(error.value)) < 300  # a long phrase is shown cut


def test_a_sidecar_that_is_not_a_file_is_refused(tmp_path: Path, phrase_vectors: Path) -> None:
    side = sidecar_path(phrase_vectors)
    side.unlink()
    side.mkdir()
    with pytest.raises(TextclfError, match=r"phrases\.bin\.json: not a regular file"):
        csv_data(tmp_path, phrase_vectors).tokenizer  # noqa: B018


def test_a_link_to_vectors_finds_the_sidecar_beside_its_target(tmp_path: Path, phrase_vectors: Path) -> None:
    link = tmp_path / "links" / "renamed.bin"
    link.parent.mkdir()
    link.symlink_to(phrase_vectors)
    assert "new_york" in sidecar_phrases(link)


def test_mismatches_are_warned(tmp_path: Path, phrase_vectors: Path, caplog: pytest.LogCaptureFixture) -> None:
    side = sidecar_path(phrase_vectors)
    about = json.loads(side.read_text())
    side.write_text(json.dumps({**about, "tokenizer": {"mode": "cased", "max_length": None}}))
    with caplog.at_level("WARNING", logger="textclf"):
        assert "new_york" in csv_data(tmp_path, phrase_vectors).tokenizer.phrases
    assert "tokenised in cased mode, this data in basic mode" in caplog.text
    model = tiny_model(Vocabulary(["<pad>", "<unk>", "i"]))
    saved: dict[str, object] = {}
    model.on_save_checkpoint(saved)
    torch.save({"state_dict": model.state_dict(), **saved}, path := tmp_path / "plain.ckpt")
    caplog.clear()
    with caplog.at_level("WARNING", logger="textclf"):
        tokenizer = csv_data(tmp_path, phrase_vectors, init_vocab_from=str(path)).tokenizer
    assert tokenizer.phrases == () and "that the checkpoint's tokenizer does not join" in caplog.text


def test_vectors_without_phrases_leave_the_tokenizer_alone(tmp_path: Path) -> None:
    out = tmp_path / "plain.bin"
    textclf(["vectors", "train", "--input", str(phrase_corpus(tmp_path / "text.txt")), "-o", str(out), *SMALL])
    assert json.loads(sidecar_path(out).read_text())["phrases"] == []
    assert csv_data(tmp_path, out).tokenizer == Tokenizer()
    assert sidecar_phrases("glove-wiki-gigaword-50") == () and sidecar_phrases(tmp_path / "absent.bin") == ()


def test_vectors_train_on_a_recipe_with_phrase_vectors_reads_no_sidecar(
    tmp_path: Path, phrase_vectors: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path / "train.csv", [(f"in new york {i} times", "pos" if i % 2 else "neg") for i in range(60)])
    config = tmp_path / "data.yaml"
    config.write_text(f"class_path: textclf.FileDataModule\ninit_args:\n  train: {tmp_path / 'train.csv'}\n"
                      f"  vectors: {phrase_vectors}\n  vectors_vocab_size: 10\n")  # fmt: skip
    write_file(sidecar_path(phrase_vectors), "{broken")  # read, it would stop the run
    with caplog.at_level("INFO", logger="textclf"):
        textclf(["vectors", "train", "--data", str(config), "--split", "train", "-o", str(tmp_path / "v.bin"), *SMALL])
    assert "joins the" not in caplog.text  # the texts are tokenised unjoined, for Phrases to find their own pairs
    assert {"new", "york"} <= set(load_keyed_vectors(tmp_path / "v.bin").index_to_key)

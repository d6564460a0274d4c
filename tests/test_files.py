import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import cache_entries, forbid, leftovers, write_csv

from textclf import FileDataModule, TextclfError
from textclf.data import prepare
from textclf.tokenize import Tokenizer

CLASSES = {
    "neg": ["bad", "dull", "awful", "boring"],
    "neutral": ["okay", "average", "fine", "plain"],
    "pos": ["good", "great", "superb", "lovely"],
}
FILLER = ["the", "film", "was", "a", "plot", "and", "really"]


def corpus_rows(n_per_class: int = 10, seed: int = 0) -> list[tuple[str, str]]:
    """``3 * n_per_class`` (text, label) rows, the classes interleaved, texts of 2 to 12 words."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_per_class):
        for label, cues in CLASSES.items():
            words = list(rng.choice(FILLER, size=rng.integers(1, 10))) + list(rng.choice(cues, size=2))
            if i % 4 == 1:
                words.append(f"rare{i}{label}")  # seen once
            rng.shuffle(words)
            rows.append((" ".join(words).capitalize() + ("!" if i % 3 == 0 else "."), label))
    return rows


@pytest.fixture
def train_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "train.csv", corpus_rows())


def module(tmp_path: Path, train, **kwargs) -> FileDataModule:
    kwargs.setdefault("cache_dir", str(tmp_path / "cache"))
    kwargs.setdefault("batch_size", 4)
    return FileDataModule(str(train), **kwargs)


# ---- preparation ---------------------------------------------------------------------------------------------


def test_prepare_builds_vocab_labels_and_counts(tmp_path, train_csv):
    dm = module(tmp_path, train_csv)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.labels == ["neg", "neutral", "pos"]
    assert dm.num_classes == 3
    assert dm.label_counts == [8, 8, 8]  # 10 per class, minus one test and one val example each
    vocab = dm.vocab
    assert vocab.tokens[:2] == ["<pad>", "<unk>"]
    assert {"good", "bad", "okay", "the", "film", "."} <= set(vocab.tokens)
    assert "Good" not in vocab.index  # the basic tokenizer lowercases
    assert dm.embeddings is None


def test_missing_val_and_test_are_held_out_stratified(tmp_path, train_csv):
    dm = module(tmp_path, train_csv)
    sizes = {name: len(dm.split(name)) for name in ("train", "val", "test")}
    assert sizes == {"train": 24, "val": 3, "test": 3}
    for name in ("val", "test"):
        assert sorted(dm.split(name).targets.tolist()) == [0, 1, 2]  # one of each class


def test_larger_fractions_hold_out_more(tmp_path, train_csv):
    dm = module(tmp_path, train_csv, val_fraction=0.2, test_fraction=0.3)
    # fractions of the original 10 per class: test 3, val 2 per class
    assert [len(dm.split(name)) for name in ("train", "val", "test")] == [15, 6, 9]


def test_given_val_and_test_files_are_used_as_they_are(tmp_path, train_csv):
    val = write_csv(tmp_path / "val.csv", corpus_rows(2, seed=1))
    test = write_csv(tmp_path / "test.csv", corpus_rows(3, seed=2))
    dm = module(tmp_path, train_csv, val=str(val), test=str(test))
    assert [len(dm.split(name)) for name in ("train", "val", "test")] == [30, 6, 9]
    assert dm.label_counts == [10, 10, 10]


def test_only_the_missing_split_is_held_out(tmp_path, train_csv):
    test = write_csv(tmp_path / "test.csv", corpus_rows(3, seed=2))
    dm = module(tmp_path, train_csv, test=str(test))
    assert [len(dm.split(name)) for name in ("train", "val", "test")] == [27, 3, 9]


def test_cached_ids_are_the_tokenised_and_encoded_texts(tmp_path, train_csv):
    rows = [("Good zebra!", "pos"), ("Bad, BAD film.", "neg"), ("The plot", "neutral")]
    val = write_csv(tmp_path / "val.csv", rows)
    dm = module(tmp_path, train_csv, val=str(val), test=str(val))
    dataset, vocab, tokenizer = dm.split("val"), dm.vocab, Tokenizer("basic")
    for i, (text, label) in enumerate(rows):
        ids = dataset.ids[dataset.offsets[i] : dataset.offsets[i + 1]].tolist()
        assert ids == vocab.encode(tokenizer(text))
        assert dataset.targets[i] == dm.labels.index(label)
    assert vocab.unk_index in dataset.ids[: dataset.offsets[1]].tolist()  # "zebra" is not a training word


def test_min_freq_and_max_vocab_size_shape_the_vocabulary(tmp_path, train_csv):
    full = module(tmp_path, train_csv).vocab
    frequent = module(tmp_path, train_csv, min_freq=2).vocab
    small = module(tmp_path, train_csv, max_vocab_size=5).vocab
    assert any(token.startswith("rare") for token in full.tokens)
    assert not any(token.startswith("rare") for token in frequent.tokens)
    assert frequent.tokens == [t for t in full.tokens if not t.startswith("rare")]
    assert len(small) == 7
    assert small.tokens[2:] == full.tokens[2:7]


def test_fixed_label_order(tmp_path, train_csv):
    dm = module(tmp_path, train_csv, labels=["pos", "neg", "neutral"])
    assert dm.labels == ["pos", "neg", "neutral"]
    assert dm.label_counts == [8, 8, 8]


def test_empty_texts_are_dropped_with_a_logged_count(tmp_path, caplog):
    rows = corpus_rows()
    rows[4] = ("   ", rows[4][1])
    rows[7] = ("", rows[7][1])
    path = write_csv(tmp_path / "train.csv", rows)
    with caplog.at_level(logging.WARNING, logger="textclf"):
        dm = module(tmp_path, path)
        total = sum(len(dm.split(name)) for name in ("train", "val", "test"))
    assert total == 28
    assert "dropped 2 empty or whitespace-only texts (rows 5, 8)" in caplog.text


def test_other_formats_through_the_module(tmp_path):
    lines = tmp_path / "train.txt"
    lines.write_text("".join(f"__label__{label} {text}\n" for text, label in corpus_rows()))
    assert module(tmp_path, lines).labels == ["neg", "neutral", "pos"]

    folder = tmp_path / "folder"
    for i, (text, label) in enumerate(corpus_rows()):
        (folder / label).mkdir(parents=True, exist_ok=True)
        (folder / label / f"{i:03d}.txt").write_text(text)
    dm = module(tmp_path, folder)
    assert dm.labels == ["neg", "neutral", "pos"]
    assert dm.label_counts == [8, 8, 8]


def test_jsonl_labels_mixing_number_types_and_spaces_give_one_class_each(tmp_path):
    # the label types a JSONL file written by hand or by several tools mixes; FileDataModule streams the texts
    kinds = [lambda c: c, float, str, lambda c: f" {c} "]
    rows = [{"text": text, "label": kinds[i % 4](i % 2)} for i, (text, _) in enumerate(corpus_rows())]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    dm = module(tmp_path, path)
    assert dm.labels == ["0", "1"]
    assert dm.label_counts == [11, 11]  # 30 rows, 4 held out as test and 4 as val


# ---- cache ---------------------------------------------------------------------------------------------------


def test_the_cache_is_reused_by_an_identical_module(tmp_path, train_csv, monkeypatch, caplog):
    first = module(tmp_path, train_csv)
    first.prepare_data()
    assert len(cache_entries(tmp_path / "cache")) == 1
    entry = cache_entries(tmp_path / "cache")[0]
    files = {p.name for p in (tmp_path / "cache" / "data" / entry).iterdir()}
    assert {"meta.json", "train.ids.npy", "train.offsets.npy", "train.labels.npy"} <= files

    forbid(monkeypatch, FileDataModule, "read_splits", "read_splits called although the cache holds this corpus")
    second = module(tmp_path, train_csv, batch_size=16, num_workers=0)  # loader settings are not in the key
    with caplog.at_level(logging.INFO, logger="textclf"):
        second.setup("fit")
    assert "using prepared data" in caplog.text
    assert second.vocab == first.vocab
    assert second.labels == first.labels
    assert second.label_counts == first.label_counts
    for name in ("train", "val", "test"):
        assert np.array_equal(second.split(name).ids, first.split(name).ids)
    assert cache_entries(tmp_path / "cache") == [entry]


@pytest.mark.parametrize(
    "change",
    [
        {"min_freq": 2},
        {"max_vocab_size": 10},
        {"tokenizer": "cased"},
        {"max_length": 3},
        {"seed": 1},
        {"val_fraction": 0.2},
        {"labels": ["pos", "neutral", "neg"]},
    ],
)
def test_a_changed_setting_makes_a_new_cache_entry(tmp_path, train_csv, change):
    module(tmp_path, train_csv).prepare()
    changed = module(tmp_path, train_csv, **change)
    changed.prepare()
    assert len(cache_entries(tmp_path / "cache")) == 2


def test_a_changed_file_makes_a_new_cache_entry(tmp_path, train_csv):
    assert module(tmp_path, train_csv).label_counts == [8, 8, 8]
    write_csv(train_csv, corpus_rows(20))
    assert module(tmp_path, train_csv).label_counts == [16, 16, 16]
    assert len(cache_entries(tmp_path / "cache")) == 2


def test_a_failing_read_leaves_no_partial_cache(tmp_path, train_csv):
    test = write_csv(tmp_path / "test.csv", [("Good film.", "pos"), ("Some text.", "mixed")])
    dm = module(tmp_path, train_csv, test=str(test))
    with pytest.raises(TextclfError, match=r"test\.csv, row 2: label 'mixed' is not in the training split"):
        dm.prepare()
    cache = tmp_path / "cache"
    assert leftovers(cache) == []


def test_a_failure_while_writing_leaves_no_partial_cache(tmp_path, train_csv, monkeypatch):
    real_write = prepare._write_ids

    def fail_on_test(source, target, *args):
        if target.name.startswith("test."):
            raise OSError("disk full")
        return real_write(source, target, *args)

    monkeypatch.setattr(prepare, "_write_ids", fail_on_test)
    with pytest.raises(OSError, match="disk full"):
        module(tmp_path, train_csv).prepare()
    assert not list((tmp_path / "cache").rglob(".tmp-*"))
    assert cache_entries(tmp_path / "cache") == []

    monkeypatch.setattr(prepare, "_write_ids", real_write)
    assert module(tmp_path, train_csv).labels == ["neg", "neutral", "pos"]
    assert len(cache_entries(tmp_path / "cache")) == 1


# ---- paths ---------------------------------------------------------------------------------------------------


def test_a_missing_file_names_the_path_and_data_dir(tmp_path):
    dm = module(tmp_path, "corpus/train.csv", data_dir=str(tmp_path / "data"))
    with pytest.raises(TextclfError, match="file not found") as info:
        dm.prepare()
    message = str(info.value)
    assert str(tmp_path / "data" / "corpus" / "train.csv") in message
    assert f"relative to data_dir {tmp_path / 'data'}" in message
    assert "TEXTCLF_DATA" in message


def test_a_missing_absolute_path_is_named(tmp_path):
    with pytest.raises(TextclfError, match=re.escape(f"file not found: {tmp_path / 'nope.csv'}")):
        module(tmp_path, tmp_path / "nope.csv").prepare()


def test_relative_paths_resolve_against_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("TEXTCLF_DATA", raising=False)
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data" / "mine.csv", corpus_rows())
    dm = module(tmp_path, "mine.csv", data_dir=str(tmp_path / "data"))
    assert dm.resolve("mine.csv") == tmp_path / "data" / "mine.csv"
    assert dm.labels == ["neg", "neutral", "pos"]


def test_relative_paths_resolve_against_textclf_data(tmp_path, monkeypatch):
    (tmp_path / "env").mkdir()
    write_csv(tmp_path / "env" / "mine.csv", corpus_rows())
    monkeypatch.setenv("TEXTCLF_DATA", str(tmp_path / "env"))
    dm = module(tmp_path, "mine.csv")
    assert dm.resolve("mine.csv") == tmp_path / "env" / "mine.csv"
    assert dm.labels == ["neg", "neutral", "pos"]
    # an explicit data_dir wins over the environment
    (tmp_path / "explicit").mkdir()
    other = module(tmp_path, "mine.csv", data_dir=str(tmp_path / "explicit"))
    with pytest.raises(TextclfError, match="explicit"):
        other.resolve("mine.csv")


def test_relative_paths_default_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("TEXTCLF_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "here.csv", corpus_rows())
    assert module(tmp_path, "here.csv").resolve("here.csv").resolve() == (tmp_path / "here.csv").resolve()


def test_absolute_paths_ignore_data_dir(tmp_path, train_csv):
    dm = module(tmp_path, train_csv, data_dir=str(tmp_path / "elsewhere"))
    assert dm.resolve(str(train_csv)) == train_csv


# ---- loaders -------------------------------------------------------------------------------------------------


def test_train_dataloader_batches(tmp_path, train_csv):
    dm = module(tmp_path, train_csv, batch_size=5)
    dm.setup("fit")
    seen = []
    for batch in dm.train_dataloader():
        assert set(batch) == {"token_ids", "lengths", "targets", "index"}
        token_ids, lengths = batch["token_ids"], batch["lengths"]
        assert token_ids.dtype == torch.int64 and token_ids.dim() == 2
        assert token_ids.shape[0] == lengths.shape[0] == batch["targets"].shape[0] <= 5
        assert token_ids.shape[1] == int(lengths.max())
        positions = torch.arange(token_ids.shape[1])[None, :]
        assert (token_ids[positions >= lengths[:, None]] == 0).all()
        assert (token_ids[positions < lengths[:, None]] > 0).all()  # no padding inside a text
        assert batch["targets"].dtype == torch.int64 and set(batch["targets"].tolist()) <= {0, 1, 2}
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(24))


def test_eval_dataloaders_are_sorted_and_use_the_eval_batch_size(tmp_path, train_csv):
    dm = module(tmp_path, train_csv, batch_size=1, eval_batch_size=2, val_fraction=0.3)
    dm.setup("validate")
    batches = list(dm.val_dataloader())
    assert [len(b["lengths"]) for b in batches][:-1] == [2] * (len(batches) - 1)
    lengths = [int(n) for b in batches for n in b["lengths"]]
    assert lengths == sorted(lengths)
    assert sum(len(b["lengths"]) for b in dm.test_dataloader()) == len(dm.split("test"))


def test_max_length_truncates_the_cached_ids(tmp_path, train_csv):
    full = module(tmp_path, train_csv)
    cut = module(tmp_path, train_csv, max_length=3)
    for name in ("train", "val", "test"):
        assert np.array_equal(cut.split(name).lengths, np.minimum(full.split(name).lengths, 3))
        assert cut.split(name).lengths.max() == 3
    batch = next(iter(cut.train_dataloader()))
    assert batch["token_ids"].shape[1] <= 3


def test_invalid_tokenizer_is_a_user_error(tmp_path, train_csv):
    with pytest.raises(TextclfError, match="unknown tokenizer mode"):
        module(tmp_path, train_csv, tokenizer="spacy")


# ---- real corpora (slow) -------------------------------------------------------------------------------------

TREC_PATTERN = r"^(?P<label>[^:\s]+):\S+\s+(?P<text>.*)$"


@pytest.mark.slow
def test_trec(real_data, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="textclf"):
        dm = FileDataModule(
            "trec/TREC.train",
            test="trec/TREC.test",
            format="lines",
            line_pattern=TREC_PATTERN,
            data_dir=str(real_data),
            cache_dir=str(tmp_path / "cache"),
        )
        dm.prepare()
    assert dm.labels == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    sizes = {name: len(dm.split(name)) for name in ("train", "val", "test")}
    assert sizes["test"] == 500
    assert sizes["train"] + sizes["val"] == 5452
    assert 500 < sizes["val"] < 600  # 10% of train, stratified
    assert sum(dm.label_counts) == sizes["train"]
    assert "TREC.train is not UTF-8" in caplog.text  # the one latin-1 byte, decoded with a warning


@pytest.mark.slow
def test_trec_non_ascii_byte_decodes(real_data):
    from textclf.data.readers import read_lines

    texts, labels = read_lines(real_data / "trec" / "TREC.train", TREC_PATTERN)
    assert len(texts) == 5452
    assert sorted(set(labels)) == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    non_ascii = [text for text in texts if not text.isascii()]
    assert len(non_ascii) == 1
    assert "\ufffd" not in non_ascii[0]
    assert "sister\u00f0city" in non_ascii[0]  # byte 0xF0, as latin-1 / cp1252 read it


@pytest.mark.slow
def test_sst2(real_data, tmp_path):
    dm = FileDataModule(
        "sst2/stsa.binary.train",
        val="sst2/stsa.binary.dev",
        test="sst2/stsa.binary.test",
        format="lines",
        tokenizer="whitespace",
        data_dir=str(real_data),
        cache_dir=str(tmp_path / "cache"),
    )
    assert dm.labels == ["0", "1"]
    assert [len(dm.split(name)) for name in ("train", "val", "test")] == [6920, 872, 1821]


@pytest.mark.slow
def test_mr_lines_with_nel_bytes(real_data):
    from textclf.data.readers import read_lines

    path = real_data / "mr" / "rt-polarity.pos"
    assert path.read_bytes().count(b"\x85") > 0  # the NEL bytes that str.splitlines would split on
    texts, labels = read_lines(path, r"^(?P<text>.+)$")
    assert labels is None
    assert len(texts) == 5331
    # read as latin-1 the NEL bytes become U+0085, which str.splitlines() would treat as line breaks
    texts, _ = read_lines(path, r"^(?P<text>.+)$", encoding="latin-1")
    assert len(texts) == 5331
    assert sum("\x85" in text for text in texts) > 0


def test_vectors_vocab_size_adds_the_most_frequent_vector_words(tmp_path, train_csv):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{w} 0.1 0.2\n" for w in ["Zebra", "the", "quokka", "axolotl"]))
    dm = module(tmp_path, train_csv, vectors=str(vectors), vectors_vocab_size=3)
    tokens = dm.vocab.tokens
    assert "zebra" in tokens and "quokka" in tokens  # lowercased like the basic tokenizer's output
    assert "axolotl" not in tokens  # only the first 3 words of the file
    assert tokens.index("zebra") > tokens.index("the")  # appended after the training words
    assert dm.prepare()["token_counts"][tokens.index("zebra")] == 0
    assert dm.embeddings is not None and dm.embeddings[tokens.index("quokka")].tolist() == pytest.approx([0.1, 0.2])


def test_naming_a_data_module_reads_nothing(tmp_path: Path) -> None:
    """Lightning's ``str(datamodule)`` built every loader: an error message naming the module read the corpus (and
    logged its search) once more per loader."""
    data = FileDataModule(str(tmp_path / "missing.csv"))
    assert str(data) == "FileDataModule"

"""The sentence benchmarks of Kim (2014): original-format readers, the Hub path, splits, real-corpus counts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import datasets
import pytest
from factories import HUB_SHARD, leftovers, write_hub_repo
from fixtures_sentences import (
    write_cr,
    write_glue_sst2,
    write_mpqa,
    write_mr,
    write_pair,
    write_sst2,
    write_sst5,
    write_subj,
)

from textclf import CR, MPQA, MR, SST2, SST5, TREC, GlueSST2, Subj, TextclfError
from textclf.data.public import PublicCorpus

# ---- original files (tiny corpora written by the tests) -------------------------------------------------------


def sizes(corpus: PublicCorpus) -> dict[str, int]:
    return {name: len(split.texts) for name, split in corpus.read_splits().items()}


def test_sst_files_map_integer_labels_to_names(tmp_path: Path) -> None:
    sst2 = SST2(data_dir=str(write_sst2(tmp_path / "sst2")), cache_dir=str(tmp_path / "cache"))
    assert sst2.resolved_source() == "files" and sizes(sst2) == {"train": 8, "val": 2, "test": 4}
    train = sst2.read_splits()["train"]
    assert train.labels[0] == "negative" and "bad" in train.texts[0] and "caf\xe9" in train.texts[0]
    assert sst2.labels == ["negative", "positive"] and sst2.prepare()["sizes"] == {"train": 8, "val": 2, "test": 4}
    sst5 = SST5(data_dir=str(write_sst5(tmp_path / "sst5")), cache_dir=str(tmp_path / "cache"))
    splits = sst5.read_splits()
    five = ["very negative", "negative", "neutral", "positive", "very positive"]
    assert sst5.labels == five
    assert Counter(splits["test"].labels) == {label: 2 for label in sst5.labels}
    train = splits["train"]
    assert all("superb" in t or "great" in t for t, y in zip(train.texts, train.labels, strict=True) if y == five[4])


def test_sst_bad_label_and_missing_file_are_named(tmp_path: Path) -> None:
    directory = write_sst2(tmp_path / "sst2")
    with (directory / "stsa.binary.dev").open("a") as handle:
        handle.write("2 a neutral line\n")
    with pytest.raises(TextclfError, match=r"stsa\.binary\.dev, row 3: unexpected label '2' \(expected 0\.\.1"):
        SST2(data_dir=str(directory), cache_dir=str(tmp_path / "cache")).prepare()
    (directory / "stsa.binary.test").unlink()
    with pytest.raises(TextclfError, match=r"lacks stsa\.binary\.test of the original files stsa\.binary"):
        SST2(source="files", data_dir=str(directory), cache_dir=str(tmp_path / "cache")).prepare()
    with pytest.raises(TextclfError, match=r"nowhere \(data_dir\) does not exist: expected the original files stsa"):
        SST5(source="files", data_dir=str(tmp_path / "nowhere"), cache_dir=str(tmp_path / "cache")).prepare()
    assert leftovers(tmp_path / "cache") == []


def test_glue_tsv_with_labelled_test(tmp_path: Path) -> None:
    corpus = GlueSST2(data_dir=str(write_glue_sst2(tmp_path / "glue")), cache_dir=str(tmp_path / "cache"))
    splits = corpus.read_splits()
    assert sizes(corpus) == {"train": 12, "val": 4, "test": 4}
    assert splits["test"].labels == ["negative", "negative", "positive", "positive"]  # the CRLF file
    assert not any("\r" in text for text in splits["test"].texts)
    assert splits["train"].texts[0].startswith("the film 0 was bad")


def test_glue_unlabelled_test_is_held_out_and_bad_columns_are_named(tmp_path: Path) -> None:
    directory = write_glue_sst2(tmp_path / "glue")
    (directory / "test.tsv").write_text("index\tsentence\n0\tthe film was good .\n1\tthe film was bad .\n")
    corpus = GlueSST2(data_dir=str(directory), cache_dir=str(tmp_path / "cache"))
    assert set(corpus.read_splits()) == {"train", "val"}
    assert corpus.prepare()["sizes"] == {"train": 10, "val": 4, "test": 2}  # 1 of each class held out from train
    (directory / "test.tsv").unlink()
    assert set(GlueSST2(data_dir=str(directory)).read_splits()) == {"train", "val"}
    (directory / "dev.tsv").write_text("text\tlabel\nthe film was good .\t1\n")
    with pytest.raises(TextclfError, match=r"dev\.tsv: no text column 'sentence' \(columns: text, label\)"):
        GlueSST2(data_dir=str(directory), cache_dir=str(tmp_path / "cache2")).prepare()
    (directory / "dev.tsv").write_text("sentence\n the film was good .\n")
    with pytest.raises(TextclfError, match=r"dev\.tsv: no column 'label' \(expected the header sentence<TAB>label"):
        GlueSST2(data_dir=str(directory), cache_dir=str(tmp_path / "cache2")).prepare()
    (directory / "dev.tsv").write_text("sentence\tlabel\nthe film was good .\tpositive\n")
    with pytest.raises(TextclfError, match=r"dev\.tsv, row 1: unexpected label 'positive'"):
        GlueSST2(data_dir=str(directory), cache_dir=str(tmp_path / "cache2")).prepare()
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "cache2").rglob("*"))


@pytest.mark.parametrize(
    ("cls", "writer", "labels", "count"),
    [
        (MR, write_mr, ("negative", "positive"), 7),
        (Subj, write_subj, ("objective", "subjective"), 6),
        (CR, write_cr, ("negative", "positive"), 6),
        (MPQA, write_mpqa, ("negative", "positive"), 6),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_polarity_files_one_per_class(cls: type[PublicCorpus], writer: Any, labels: tuple, count: int, tmp_path):
    corpus = cls(data_dir=str(writer(tmp_path / "c")), cache_dir=str(tmp_path / "cache"))
    splits = corpus.read_splits()
    assert set(splits) == {"train"} and corpus.labels == list(labels)
    train = splits["train"]
    assert Counter(train.labels) == {label: count for label in labels}
    assert all(text == text.strip() for text in train.texts)  # the Cornell files end lines with a space
    assert any("caf\xe9" in text for text in train.texts)  # latin-1, Windows-1252 or UTF-8, decoded alike
    if cls is MR:  # 0x85 is an ellipsis in Windows-1252 (NEL in latin-1): inside its line, not a line break
        assert "hmm\u2026 the film was ok" in train.texts and not any("\x85" in text for text in train.texts)


def decoded(corpus: PublicCorpus, name: str) -> set[str]:
    """The prepared texts of a split, as space-joined tokens (every word is in the vocabulary, from the vectors)."""
    dataset, tokens = corpus.split(name), corpus.vocab.tokens
    bounds = zip(dataset.offsets[:-1], dataset.offsets[1:], strict=True)
    return {" ".join(tokens[i] for i in dataset.ids[start:end]) for start, end in bounds}


def test_polarity_default_holdout_and_ten_fold_cross_validation(tmp_path: Path) -> None:
    directory = write_pair(tmp_path / "mr", ("rt-polarity.neg", "rt-polarity.pos"), "cp1252", count=20)
    words = {
        w for name in ("rt-polarity.neg", "rt-polarity.pos") for w in (directory / name).read_text("cp1252").split()
    }
    (tmp_path / "v.txt").write_text("".join(f"{word} 0.5 -0.5\n" for word in sorted(words)), encoding="utf-8")
    options = {"data_dir": str(directory), "cache_dir": str(tmp_path / "cache"), "tokenizer": "whitespace",
               "vectors": str(tmp_path / "v.txt"), "vectors_vocab_size": len(words)}  # fmt: skip
    default = MR(**options)
    assert default.prepare()["sizes"] == {"train": 32, "val": 4, "test": 4}  # seeded stratified 80/10/10
    assert decoded(MR(**options), "test") == decoded(default, "test")  # same seed, same split
    assert decoded(MR(**options, seed=7), "test") != decoded(default, "test")
    folds = [MR(**options, fold=k, num_folds=10) for k in range(10)]
    tests = [decoded(fold, "test") for fold in folds]
    assert all(fold.prepare()["sizes"] == {"train": 32, "val": 4, "test": 4} for fold in folds)
    assert len(set().union(*tests)) == 40  # the ten test folds partition the corpus
    assert decoded(folds[3], "test").isdisjoint(decoded(folds[3], "train") | decoded(folds[3], "val"))
    with pytest.raises(TextclfError, match=r"data.fold is 10, not in \[0, 9\]"):
        MR(**options, fold=10).prepare()


# ---- the Hub path, against local directories laid out like the Hub repositories ----------------------------------


def write_hub(directory: Path, columns: dict[str, Any], splits: dict[str, dict[str, list]], config: str = "") -> Path:
    """``<split>-00000-of-00001.parquet`` files, like a Parquet-backed Hub dataset repository.

    Without ``config``: under ``data/`` (found by convention). With one: under ``<config>/``, declared in the
    README's ``configs`` metadata, as in ``nyu-mll/glue``.
    """
    write_hub_repo(directory, columns, splits, HUB_SHARD.replace("data/", f"{config}/") if config else HUB_SHARD)
    if config:
        files = "".join(f"  - split: {split}\n    path: {config}/{split}-*\n" for split in splits)
        (directory / "README.md").write_text(f"---\nconfigs:\n- config_name: {config}\n  data_files:\n{files}---\n")
    return directory


TEXT, INT = datasets.Value("string"), datasets.Value("int64")


def setfit(texts: list[str], labels: list[int], names: tuple[str, ...]) -> dict[str, list]:
    return {"text": texts, "label": labels, "label_text": [names[y] for y in labels]}


def test_hub_sst_and_glue(tmp_path: Path) -> None:
    five = ("very negative", "negative", "neutral", "positive", "very positive")
    columns = {"text": TEXT, "label": INT, "label_text": TEXT}
    rows = setfit([f"s{i}" for i in range(10)], [0, 1, 2, 3, 4] * 2, five)
    repo = write_hub(tmp_path / "sst5", columns, {"train": rows, "validation": rows, "test": rows})
    splits = SST5(source="hub", hub_id=str(repo)).read_splits()
    assert set(splits) == {"train", "val", "test"} and splits["val"].labels[:5] == list(five)

    glue = {
        "sentence": TEXT,
        "label": datasets.ClassLabel(names=["negative", "positive"]),
        "idx": datasets.Value("int32"),
    }
    train = {"sentence": [f"t{i}" for i in range(20)], "label": [0, 1] * 10, "idx": list(range(20))}
    test = {"sentence": ["u0", "u1"], "label": [-1, -1], "idx": [0, 1]}  # GLUE's test labels are hidden
    repo = write_hub(tmp_path / "glue", glue, {"train": train, "validation": train, "test": test}, "sst2")
    corpus = GlueSST2(source="hub", hub_id=str(repo), cache_dir=str(tmp_path / "cache"))
    assert set(corpus.read_splits()) == {"train", "val"}
    assert corpus.prepare()["sizes"] == {"train": 18, "val": 20, "test": 2}

    repo = write_hub(tmp_path / "bad", {"sentence": TEXT, "label": INT}, {"train": {"sentence": ["a"], "label": [0]}})
    with pytest.raises(TextclfError, match=r"\[train\]: no column text \(columns: sentence, label\)"):
        SST2(source="hub", hub_id=str(repo), cache_dir=str(tmp_path / "c")).prepare()


def test_hub_polarity_corpora_pool_every_split(tmp_path: Path) -> None:
    whole = {"text": ["bad", "good", "awful", "great"], "label": [0, 1, 0, 1]}  # SentEval copies: one "test" split
    repo = write_hub(tmp_path / "mr", {"text": TEXT, "label": INT}, {"test": whole})
    splits = MR(source="hub", hub_id=str(repo)).read_splits()
    assert set(splits) == {"train"} and splits["train"].labels == ["negative", "positive"] * 2

    names = ("subjective", "objective")  # read by name: the order of the Hub's integers does not matter
    columns = {"text": TEXT, "label": INT, "label_text": TEXT}
    parts = {"train": setfit(["a", "b", "c"], [0, 1, 0], names), "test": setfit(["d"], [1], names)}
    train = Subj(source="hub", hub_id=str(write_hub(tmp_path / "subj", columns, parts))).read_splits()["train"]
    assert train.texts == ["a", "b", "c", "d"] and train.labels == [
        "subjective",
        "objective",
        "subjective",
        "objective",
    ]

    parts = {"train": {"sentence": ["x", "y"], "label": [1, 0]}, "test": {"sentence": ["z"], "label": [1]}}
    repo = write_hub(tmp_path / "mpqa", {"sentence": TEXT, "label": INT}, parts)
    train = MPQA(source="hub", hub_id=str(repo)).read_splits()["train"]
    assert train.texts == ["x", "y", "z"] and train.labels == ["positive", "negative", "positive"]
    assert train.source.endswith("[train+test]")


# ---- the real corpora and Hub datasets -----------------------------------------------------------------------------

README_COUNTS = [
    (SST2, "sst2", {"train": 6920, "val": 872, "test": 1821}, {}),
    (SST5, "sst5", {"train": 8544, "val": 1101, "test": 2210}, {}),
    (GlueSST2, "glue-sst2", {"train": 67349, "val": 872, "test": 1821}, {}),
    (MR, "mr", {"train": 5331 + 5331}, {"negative": 5331, "positive": 5331}),
    (Subj, "subj", {"train": 5000 + 5000}, {"objective": 5000, "subjective": 5000}),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cls", "folder", "expected", "per_class"), README_COUNTS, ids=lambda v: getattr(v, "__name__", None)
)
def test_real_corpus_counts(cls, folder, expected, per_class, real_data: Path) -> None:
    if not (real_data / folder).is_dir():
        pytest.skip(f"TEXTCLF_DATA has no {folder}/")
    splits = cls(source="files").read_splits()
    assert {name: len(split.texts) for name, split in splits.items()} == expected
    labels = Counter(label for split in splits.values() for label in split.labels)
    assert set(labels) == set(cls.label_names) and all(labels[k] == v for k, v in per_class.items())


@pytest.mark.slow
def test_real_mr_folds(real_data: Path, tmp_path: Path) -> None:
    if not (real_data / "mr").is_dir():
        pytest.skip("TEXTCLF_DATA has no mr/")
    sizes = MR(fold=0, num_folds=10, cache_dir=str(tmp_path)).prepare()["sizes"]
    assert sizes["test"] in (1066, 1067) and sum(sizes.values()) == 10662 and sizes["val"] == 1066


# docs/corpora.md's sizes of a default run (val_fraction 0.1, test_fraction 0.1, seed 42), as prepare() keeps them
DEFAULT_RUN_SIZES = [
    (TREC, {"train": 4909, "val": 543, "test": 500}),
    (MR, {"train": 8530, "val": 1066, "test": 1066}),
    (Subj, {"train": 8000, "val": 1000, "test": 1000}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("cls", "expected"), DEFAULT_RUN_SIZES, ids=lambda v: getattr(v, "__name__", None))
def test_real_default_run_sizes_are_the_documented_ones(cls, expected, real_data: Path, tmp_path: Path) -> None:
    if cls(source="auto").missing_files():
        pytest.skip(f"TEXTCLF_DATA has no {cls.folder}/")
    assert cls(source="files", cache_dir=str(tmp_path)).prepare()["sizes"] == expected


HUB = [
    (SST2, {"train": 6920, "val": 872, "test": 1821}),
    (SST5, {"train": 8544, "val": 1101, "test": 2210}),
    (GlueSST2, {"train": 67349, "val": 872}),
    (MR, {"train": 10662}),
    (Subj, {"train": 10000}),
    (CR, {"train": 3775}),
    (MPQA, None),  # the LM-BFF copy: about 10,600 phrases
]


@pytest.mark.network
@pytest.mark.parametrize(("cls", "expected"), HUB, ids=lambda v: getattr(v, "__name__", None))
def test_real_hub_dataset(cls, expected, hub_online) -> None:
    splits = cls(source="hub").read_splits()
    found = {name: len(split.texts) for name, split in splits.items()}
    assert found == expected if expected else 10000 < found["train"] < 11000
    assert set(splits["train"].labels) == set(cls.label_names)

"""Document corpora: IMDB and 20 Newsgroups from their tar archives, the Zhang et al. (2015) CSV sets, the Hub path."""

from __future__ import annotations

import logging
import re
import tarfile
from pathlib import Path

import datasets
import pytest
from factories import leftovers, write_hub_repo
from fixtures_documents import (
    GROUPS,
    NEGATIVE,
    POSITIVE,
    WRITERS,
    add_file,
    write_20newsgroups,
    write_class_csv,
    write_imdb,
)

from textclf import TextclfError
from textclf.data.corpora.documents import (
    IMDB,
    AGNews,
    AmazonFull,
    AmazonPolarity,
    DBpedia14,
    TwentyNewsgroups,
    YahooAnswers,
    YelpFull,
    YelpPolarity,
)
from textclf.data.splits import TextStream

ZHANG = [AGNews, YelpPolarity, YelpFull, DBpedia14, YahooAnswers, AmazonPolarity, AmazonFull]
# (train, test) of the original releases
SIZES = {
    IMDB: (25000, 25000),
    AGNews: (120000, 7600),
    YelpPolarity: (560000, 38000),
    YelpFull: (650000, 50000),
    DBpedia14: (560000, 70000),
    YahooAnswers: (1400000, 60000),
    AmazonPolarity: (3600000, 400000),
    AmazonFull: (3000000, 650000),
    TwentyNewsgroups: (11314, 7532),
}


def name(cls: type) -> str:
    return cls.__name__


# ---- IMDB ----------------------------------------------------------------------------------------------------


def test_imdb_reads_the_archive_without_unpacking(tmp_path: Path) -> None:
    directory = write_imdb(tmp_path / "imdb")
    corpus = IMDB(data_dir=str(directory), cache_dir=str(tmp_path / "cache"))
    assert corpus.resolved_source() == "files"
    splits = corpus.read_splits()
    train, test = splits["train"], splits["test"]
    assert train.labels == ["neg"] * 6 + ["pos"] * 6 and test.labels == ["neg", "neg", "pos", "pos"]
    assert train.meta["id"] == [0, 1, 2, 3, 4, 5] * 2 and train.meta["rating"][:2] == [2, 3]
    assert train.texts[0] == "a dull film (train 0).  caf\u00e9 review"  # <br /> -> space, UTF-8
    assert not any("<br" in text for text in train.texts + test.texts)
    assert list(corpus.unlabelled_texts()) == [f"unlabelled review {i} with a break" for i in range(3)]
    assert [p.name for p in directory.iterdir()] == ["aclImdb_v1.tar.gz"]  # nothing unpacked
    meta = corpus.prepare()
    assert meta["labels"] == ["neg", "pos"]
    assert (meta["sizes"]["train"] + meta["sizes"]["val"], meta["sizes"]["test"]) == (12, 4)
    assert corpus.split_meta("test") == {"id": [0, 1, 0, 1], "rating": [2, 3, 9, 10]}


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not-an-archive"])
def test_a_damaged_imdb_archive_is_one_clear_error_and_leaves_no_cache(tmp_path: Path, damage: str) -> None:
    directory = write_imdb(tmp_path / "imdb", train_per_class=200)
    archive = directory / "aclImdb_v1.tar.gz"
    data = archive.read_bytes()
    if damage == "truncated":
        archive.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "corrupt":
        archive.write_bytes(data[:200] + bytes(400) + data[600:])
    else:
        archive.write_bytes(b"<html>404 Not Found</html>\n" * 20)
    cache = tmp_path / "cache"
    expected = re.escape(f"{archive}: cannot read the archive (") + r".*download it again"
    with pytest.raises(TextclfError, match=expected):
        IMDB(data_dir=str(directory), cache_dir=str(cache)).prepare()
    assert leftovers(cache) == []
    with pytest.raises(TextclfError, match=expected):
        list(IMDB(data_dir=str(directory)).unlabelled_texts())


def test_imdb_layout_and_location_errors_say_what_was_expected(tmp_path: Path) -> None:
    directory = write_imdb(tmp_path / "imdb", test_per_class=0)
    with pytest.raises(TextclfError, match=r"no reviews in aclImdb/test/neg/ \(expected the layout aclImdb/\{train"):
        IMDB(data_dir=str(directory)).read_splits()
    nowhere = IMDB(source="files", data_dir=str(tmp_path / "nowhere"))
    expected = r"nowhere \(data_dir\) does not exist: expected the original files aclImdb_v1.tar.gz there"
    with pytest.raises(TextclfError, match=expected + r"; .*, or source: hub"):
        nowhere.read_splits()
    with pytest.raises(TextclfError, match=expected):
        next(nowhere.unlabelled_texts())


TWO_REVIEWS = ("bad<br />film", "good<br /><br />film")  # distinct texts: copies of a text never straddle splits


def test_imdb_from_a_hub_layout_is_cleaned_the_same_way(tmp_path: Path) -> None:
    features = {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    repo = write_hub_repo(
        tmp_path / "repo",
        features,
        {
            "train": {"text": [t + end for end in ("", " a", " b") for t in TWO_REVIEWS], "label": [0, 1] * 3},
            "test": {"text": ["dull<br/>film", "fine film"], "label": [0, 1]},
            "unsupervised": {"text": ["some<br />review"], "label": [-1]},
        },
    )
    corpus = IMDB(source="hub", hub_id=str(repo), cache_dir=str(tmp_path / "cache"))
    splits = corpus.read_splits()
    assert splits["train"].texts[:2] == ["bad film", "good  film"] and splits["train"].labels[:2] == ["neg", "pos"]
    assert splits["test"].texts == ["dull film", "fine film"]
    assert list(corpus.unlabelled_texts()) == ["some review"]
    assert corpus.prepare()["sizes"]["test"] == 2


# ---- Zhang et al. (2015) ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ZHANG, ids=name)
def test_zhang_sets_read_their_csvs(cls: type, tmp_path: Path) -> None:
    directory = WRITERS[cls.__name__](tmp_path / cls.folder)
    splits = cls(data_dir=str(directory)).read_splits()
    classes = len(cls.label_names)
    assert (len(splits["train"].texts), len(splits["test"].texts)) == (4 * classes, classes)
    assert splits["train"].labels[:classes] == list(cls.label_names)  # class index k is label_names[k - 1]
    # row "1", 'The "test" title 0\n' + cue, "second field 1", "an answer" (the fields the corpus has)
    expected = {
        1: f'The "test" title 0\n{POSITIVE[0]}',
        2: f'The "test" title 0\n{POSITIVE[0]} second field 1',
        3: f'The "test" title 0\n{POSITIVE[0]} an answer',  # the empty question content is skipped
    }[len(cls.fields)]
    assert next(iter(splits["test"].texts)) == expected  # the texts stream from the file (a TextStream)


def test_zhang_csv_quoting_and_preparation(tmp_path: Path) -> None:
    rows = [["3", 'Wall St. "Bears", again', "line one\nline two\\nthree"]] + [
        [str(k), f"title {i}", (POSITIVE if k % 2 else NEGATIVE)[i]] for i in range(4) for k in (1, 2, 3, 4)
    ]
    write_class_csv(tmp_path / "ag" / "train.csv", rows)
    write_class_csv(tmp_path / "ag" / "test.csv", [["2", "a title", "a description"]])
    corpus = AGNews(data_dir=str(tmp_path / "ag"), cache_dir=str(tmp_path / "cache"))
    train = corpus.read_splits()["train"]
    assert isinstance(train.texts, TextStream)  # only the labels are held: Amazon's train.csv is 1.5 GB
    assert next(iter(train.texts)) == 'Wall St. "Bears", again line one\nline two\nthree'
    assert train.labels[0] == "Business"
    meta = corpus.prepare()
    assert meta["labels"] == ["World", "Sports", "Business", "Sci/Tech"]
    assert (meta["sizes"]["train"] + meta["sizes"]["val"], meta["sizes"]["test"]) == (17, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('"1","only a title"\n', r"line 1: 2 columns, expected 3: class index \(1..4\), title, description"),
        ('"1","t","d"\n"5","t","d"\n', r"line 2: class index '5' is not one of 1..4"),
        ('"World","t","d"\n', r"line 1: class index 'World' is not one of 1..4"),
        ('"1","t","d\n"2","t","d"\n', r"line 2: malformed CSV \(.*\); expected rows: class index"),
        ("", r"no rows \(expected rows: class index, title, description\)"),
    ],
    ids=["columns", "class-index", "class-name", "quoting", "empty"],
)
def test_malformed_zhang_csvs_name_file_line_and_expected_columns(tmp_path: Path, content: str, message: str) -> None:
    WRITERS["AGNews"](tmp_path)
    (tmp_path / "train.csv").write_text(content)
    cache = tmp_path / "cache"
    with pytest.raises(TextclfError, match=re.escape(str(tmp_path / "train.csv")) + ".*" + message):
        AGNews(data_dir=str(tmp_path), cache_dir=str(cache)).prepare()
    assert leftovers(cache) == []


def test_zhang_missing_files_and_wrong_classes_file(tmp_path: Path) -> None:
    WRITERS["AGNews"](tmp_path)
    (tmp_path / "classes.txt").write_text("World\nSports\nBusiness\nScience\n")
    with pytest.raises(TextclfError, match=r"classes.txt: lists the classes .*'Science'.*expected .*'Sci/Tech'"):
        AGNews(data_dir=str(tmp_path)).read_splits()
    (tmp_path / "test.csv").unlink()
    with pytest.raises(TextclfError, match=r"AGNews: .* \(data_dir\) lacks test.csv of the original files train.csv"):
        AGNews(source="files", data_dir=str(tmp_path)).read_splits()


def test_zhang_csv_that_is_not_utf8_falls_back_with_a_warning(tmp_path: Path, caplog) -> None:
    WRITERS["YelpPolarity"](tmp_path)
    (tmp_path / "test.csv").write_bytes(b'"2","caf\xe9 \x93great\x94"\n')
    with caplog.at_level(logging.WARNING):
        test = YelpPolarity(data_dir=str(tmp_path)).read_splits()["test"]
    assert list(test.texts) == ["caf\u00e9 \u201cgreat\u201d"] and test.labels == ["positive"]
    assert "is not utf-8-sig" in caplog.text and "reading it as cp1252" in caplog.text


HUB_ROWS = {
    YelpPolarity: (
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["1", "2"])},
        {"text": ["good\\nfood", "cold food"], "label": [1, 0]},
        ["good\nfood", "cold food"],
        ["positive", "negative"],
    ),
    DBpedia14: (
        {
            "label": datasets.ClassLabel(names=list(DBpedia14.label_names)),
            "title": datasets.Value("string"),
            "content": datasets.Value("string"),
        },
        {"label": [13, 0], "title": ["A Book", "A Firm"], "content": ["is a novel.", "makes things."]},
        ["A Book is a novel.", "A Firm makes things."],
        ["WrittenWork", "Company"],
    ),
    YahooAnswers: (
        {
            "id": datasets.Value("int32"),
            "topic": datasets.ClassLabel(names=list(YahooAnswers.label_names)),
            "question_title": datasets.Value("string"),
            "question_content": datasets.Value("string"),
            "best_answer": datasets.Value("string"),
        },
        {
            "id": [0, 1],
            "topic": [5, 2],
            "question_title": ["who won?", "why?"],
            "question_content": ["", "because\\nreally"],
            "best_answer": ["them", "sleep"],
        },
        ["who won? them", "why? because\nreally sleep"],
        ["Sports", "Health"],
    ),
}


@pytest.mark.parametrize("cls", list(HUB_ROWS), ids=name)
def test_zhang_sets_from_a_hub_layout(cls: type, tmp_path: Path) -> None:
    features, columns, texts, labels = HUB_ROWS[cls]
    repo = write_hub_repo(tmp_path / "repo", features, {"train": columns, "test": columns})
    splits = cls(source="hub", hub_id=str(repo)).read_splits()
    assert splits["test"].texts == texts and splits["test"].labels == labels


def test_amazon_full_has_no_known_hub_copy_but_takes_one(tmp_path: Path) -> None:
    no_hub = r"AmazonFull: .*none \(data_dir\) does not exist: .*, and no Hub dataset is known for this corpus; "
    with pytest.raises(TextclfError, match=no_hub + r".*or give hub_id"):
        AmazonFull(data_dir=str(tmp_path / "none"), cache_dir=str(tmp_path)).prepare()
    features = {
        "label": datasets.ClassLabel(num_classes=5),
        "title": datasets.Value("string"),
        "content": datasets.Value("string"),
    }
    columns = {"label": [4, 0], "title": ["Great", "Awful"], "content": ["loved it", "broke"]}
    repo = write_hub_repo(tmp_path / "repo", features, {"train": columns, "test": columns})
    test = AmazonFull(source="hub", hub_id=str(repo)).read_splits()["test"]
    assert test.texts == ["Great loved it", "Awful broke"] and test.labels == ["5 stars", "1 star"]


# ---- 20 Newsgroups ----------------------------------------------------------------------------------------------


def test_20newsgroups_reads_the_bydate_archive(tmp_path: Path) -> None:
    directory = write_20newsgroups(tmp_path / "20ng")
    corpus = TwentyNewsgroups(data_dir=str(directory), cache_dir=str(tmp_path / "cache"))
    splits = corpus.read_splits()
    train, test = splits["train"], splits["test"]
    assert train.labels == [g for g in GROUPS for _ in range(4)] and test.labels == list(GROUPS)
    assert train.meta["id"][:4] == sorted(train.meta["id"][:4])
    assert train.texts[0].startswith("From: someone@example.edu") and "caf\u00e9 au lait" in train.texts[0]
    assert len(corpus.fixed_labels()) == 20 and corpus.fixed_labels()[:2] == ["alt.atheism", "comp.graphics"]
    stripped = TwentyNewsgroups(data_dir=str(directory), remove=["headers", "footers", "quotes"])
    first = stripped.read_splits()["train"].texts[0]  # the highest number was written first: sorted
    assert first == f"alt.atheism {NEGATIVE[1]} number 3, caf\u00e9 au lait.\n"
    assert stripped._cache_path() != corpus._cache_path()  # what is stripped is part of the cache key
    headers_only = TwentyNewsgroups(data_dir=str(directory), remove=["headers"]).read_splits()["test"].texts[0]
    assert headers_only.startswith("In article") and headers_only.endswith("signature line\n")
    assert corpus.prepare()["sizes"]["test"] == 3


def test_20newsgroups_counts_the_documents_stripping_empties(tmp_path: Path, caplog) -> None:
    """Messages left empty by stripping are dropped with a logged count, not silently lost."""
    directory = write_20newsgroups(tmp_path / "20ng", emptied=2)
    assert len(TwentyNewsgroups(data_dir=str(directory)).read_splits()["train"].texts) == 14  # nothing stripped
    stripped = TwentyNewsgroups(data_dir=str(directory), remove=["headers", "footers", "quotes"]).read_splits()
    assert len(stripped["train"].texts) == 12 and 60000 not in stripped["train"].meta["id"]
    assert (
        "[20news-bydate-train]: dropped 2 documents left empty by stripping headers, footers and quotes "
        "(e.g. sci.space/60000); 12 documents kept"
    ) in caplog.text
    assert "20news-bydate-test" not in caplog.text
    caplog.clear()
    one = write_20newsgroups(tmp_path / "one", emptied=1)
    TwentyNewsgroups(data_dir=str(one), remove=["quotes", "headers"]).read_splits()
    assert "dropped 1 document left empty by stripping quotes and headers" in caplog.text


def test_20newsgroups_errors(tmp_path: Path) -> None:
    with pytest.raises(TextclfError, match=r"remove accepts headers, footers, quotes; got \['signatures'\]"):
        TwentyNewsgroups(remove=["signatures"])
    directory = write_20newsgroups(tmp_path / "20ng")
    with tarfile.open(directory / "20news-bydate.tar.gz", "w:gz") as archive:
        add_file(archive, "20news-bydate-train/comp.misc/1", b"Subject: x\n\ntext\n")
    with pytest.raises(
        TextclfError, match=r"unexpected folder 20news-bydate-train/comp.misc/ \(expected 20news-bydate"
    ):
        TwentyNewsgroups(data_dir=str(directory)).read_splits()


def test_20newsgroups_from_a_hub_layout(tmp_path: Path) -> None:
    features = {
        "text": datasets.Value("string"),
        "label": datasets.Value("int64"),
        "label_text": datasets.Value("string"),
    }
    columns = {"text": ["about god", "about cars"], "label": [0, 7], "label_text": ["alt.atheism", "rec.autos"]}
    repo = write_hub_repo(tmp_path / "repo", features, {"train": columns, "test": columns})
    test = TwentyNewsgroups(source="hub", hub_id=str(repo)).read_splits()["test"]
    assert test.texts == ["about god", "about cars"] and test.labels == ["alt.atheism", "rec.autos"]


# ---- the real corpora and Hub ids ------------------------------------------------------------------------------


@pytest.mark.slow
def test_imdb_from_the_original_archive(real_data: Path) -> None:
    if not (real_data / "imdb" / "aclImdb_v1.tar.gz").exists():
        pytest.skip(f"no imdb/aclImdb_v1.tar.gz under TEXTCLF_DATA={real_data}")
    corpus = IMDB(source="files", data_dir=str(real_data / "imdb"))
    splits = corpus.read_splits()
    for split in splits.values():
        assert len(split.texts) == 25000 and split.labels.count("pos") == 12500
        assert not any("<br />" in text for text in split.texts)
        ratings = dict(zip(split.meta["rating"], split.labels, strict=True))
        assert all((label == "neg") == (rating <= 4) for rating, label in ratings.items())
    assert sum(1 for _ in corpus.unlabelled_texts()) == 50000


@pytest.mark.slow
@pytest.mark.parametrize("cls", [c for c in SIZES if c is not IMDB], ids=name)
def test_original_files_have_the_published_sizes(cls: type, real_data: Path) -> None:
    corpus = cls(source="files", data_dir=str(real_data / cls.folder))
    if corpus.missing_files():
        pytest.skip(f"{cls.__name__}: no {', '.join(cls.files)} under {real_data / cls.folder}")
    splits = corpus.read_splits()
    assert (len(splits["train"].texts), len(splits["test"].texts)) == SIZES[cls]


@pytest.mark.network
@pytest.mark.parametrize("cls", [c for c in SIZES if c.hub], ids=name)
def test_hub_dataset_has_the_expected_columns_and_sizes(cls: type, hub_online: None) -> None:
    builder = datasets.load_dataset_builder(cls.hub, cls.hub_config)
    features = builder.info.features
    if features is None:  # no dataset_info in the card: look at one streamed row
        features = next(iter(datasets.load_dataset(cls.hub, cls.hub_config, split="test", streaming=True)))
    assert {*cls.hub_text, cls.hub_label} <= set(features)
    names = getattr(features[cls.hub_label], "names", None)
    assert names is None or len(names) == len(cls.label_names)
    if builder.info.splits:
        assert tuple(builder.info.splits[split].num_examples for split in ("train", "test")) == SIZES[cls]

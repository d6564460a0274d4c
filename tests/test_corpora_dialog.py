"""MRDA and SwDA: the per-conversation files, conversation meta, the Hub path (a local Parquet-export layout)."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pytest
from factories import leftovers, write_hub_repo
from fixtures_dialog import MRDA_MEETING, SWDA_CONVERSATION, write_mrda, write_swda

from textclf import TextclfError
from textclf.data.corpora import MRDA, SwDA

REAL = Path(os.environ.get("TEXTCLF_DATA", "/nonexistent"))
SILICONE_SWDA = ["sd", "b", "sv", "%", "aa", "+", 'fo_o_fw_by_bc_"', "x", "qw", "ny"]


def write_parquet_export(directory: Path, config: str, columns: dict[str, list], names: list[str], label: str) -> Path:
    """A local directory laid out like a Hub Parquet export (``<config>/<split>/0000.parquet``), SILICONE columns."""
    types = {c: datasets.ClassLabel(names=names) if c == label else datasets.Value("string") for c in columns}
    splits = dict.fromkeys(("train", "validation", "test"), columns)
    return write_hub_repo(directory, types, splits, shard=f"{config}/{{split}}/0000.parquet")


def silicone_mrda(directory: Path, label_column: str = "Label") -> Path:
    columns = {
        "Speaker": ["fe016", "me011", "fe016", "me011"],
        "Dialogue_ID": ["Bdb001", "Bdb001", "Bdb001", "Bed002"],
        "Utterance": ["okay.", "so what is it?", "uh-huh.", "the plot -"],
        label_column: [3, 4, 2, 1],  # ClassLabel s d b f q
    }
    return write_parquet_export(directory, "mrda", columns, list("sdbfq"), label_column)


def silicone_swda(directory: Path, extra: list[str] = ()) -> Path:  # type: ignore[assignment]
    names = SILICONE_SWDA + list(extra)
    columns = {
        "From_Caller": ["1", "2", "1", "2", "1"],
        "Dialogue_ID": ["7", "7", "7", "9", "9"],
        "Utterance": ["Okay.", "Yeah.", "and then some", "Hmm.", "What?"],
        "Label": [names.index(t) for t in ('fo_o_fw_by_bc_"', "aa", "+", extra[0] if extra else "x", "qw")],
    }
    return write_parquet_export(directory, "swda", columns, names, "Label")


# ---- original files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels", ["basic", "general", "full"])
def test_mrda_reads_meetings_with_each_label_set(tmp_path: Path, labels: str) -> None:
    splits = MRDA(labels=labels, data_dir=str(write_mrda(tmp_path / "mrda"))).read_splits()
    column = ["basic", "general", "full"].index(labels) + 2
    assert [len(s.texts) for s in splits.values()] == [3 * len(MRDA_MEETING), len(MRDA_MEETING), len(MRDA_MEETING)]
    assert splits["test"].labels == [row[column] for row in MRDA_MEETING]
    assert splits["test"].texts[4] == "was the plot | the acting bad?"  # a '|' inside the utterance is kept
    meta = splits["train"].meta
    assert meta["conversation"][:8] == ["Bdb001"] * 7 + ["Bed002"]
    assert meta["speaker"][:3] == ["fe016", "fe016", "me011"] and meta["position"][:8] == [*range(7), 0]


def test_split_meta_follows_the_cleaned_prepared_split(tmp_path: Path) -> None:
    corpus = MRDA(data_dir=str(write_mrda(tmp_path / "mrda")), cache_dir=str(tmp_path / "cache"))
    assert corpus.labels == ["S", "B", "D", "F", "Q"]
    meta = corpus.split_meta("test")
    assert len(corpus.split("test")) == len(meta["position"]) == len(MRDA_MEETING) - 1  # the empty one is dropped
    assert meta["position"] == [0, 1, 2, 4, 5, 6]  # positions in the original file: a gap where it was
    assert set(meta) == {"conversation", "speaker", "position"}
    again = MRDA(data_dir=str(tmp_path / "mrda"), cache_dir=str(tmp_path / "cache"))
    assert again.split_meta("test") == meta  # from the cache
    full = MRDA(labels="full", data_dir=str(tmp_path / "mrda"), cache_dir=str(tmp_path / "cache"))
    assert len(full.labels) == 52 and full.labels[:3] == ["s", "b", "fh"]


def test_swda_reads_conversations(tmp_path: Path) -> None:
    corpus = SwDA(data_dir=str(write_swda(tmp_path / "swda")), cache_dir=str(tmp_path / "cache"))
    splits = corpus.read_splits()
    assert [len(s.texts) for s in splits.values()] == [3 * len(SWDA_CONVERSATION), *[len(SWDA_CONVERSATION)] * 2]
    assert splits["val"].labels == [row[2] for row in SWDA_CONVERSATION]
    assert splits["val"].meta == {
        "conversation": ["2010"] * 6,
        "speaker": [row[0] for row in SWDA_CONVERSATION],
        "position": list(range(6)),
    }
    assert len(corpus.labels) == 41 and corpus.labels[:3] == ["sd", "b", "sv"]
    assert corpus.prepare()["sizes"] == {"train": 18, "val": 6, "test": 6}


def test_bad_files_are_named(tmp_path: Path) -> None:
    directory = write_swda(tmp_path / "swda")
    with pytest.raises(TextclfError, match=r"nowhere \(data_dir\) does not exist: expected the original files train"):
        SwDA(source="files", data_dir=str(tmp_path / "nowhere"), cache_dir=str(tmp_path)).prepare()
    (directory / "val" / "2010.txt").unlink()
    with pytest.raises(TextclfError, match=r"swda/val: no conversation files"):
        SwDA(data_dir=str(directory)).read_splits()
    (directory / "val" / "2010.txt").write_text("A|Okay.|b\nB no separators here\n")
    with pytest.raises(TextclfError, match=r"2010.txt, line 2: expected 3 '\|'-separated fields"):
        SwDA(data_dir=str(directory)).read_splits()
    (directory / "val" / "2010.txt").write_text("A|Okay.|b\nB|Sure.|zz\n")
    with pytest.raises(TextclfError, match=r"2010.txt, line 2: unknown tag 'zz'"):
        SwDA(data_dir=str(directory), cache_dir=str(tmp_path / "c")).prepare()
    mrda_layout = r"2005.txt, line 1: expected 5 .*\(speaker\|utterance\|basic\|general\|full\)"
    with pytest.raises(TextclfError, match=mrda_layout):  # SwDA's files are not MRDA's
        MRDA(data_dir=str(directory)).read_splits()
    with pytest.raises(TextclfError, match=r"labels must be one of basic, general, full"):
        MRDA(labels="fine")  # type: ignore[arg-type]
    assert leftovers(tmp_path / "c") == []


# ---- the Hub path, against a local directory laid out like the Parquet export -----------------------------------


def test_mrda_from_a_parquet_export_maps_silicone_labels(tmp_path: Path) -> None:
    corpus = MRDA(source="hub", hub_id=str(silicone_mrda(tmp_path / "repo")), cache_dir=str(tmp_path / "cache"))
    splits = corpus.read_splits()
    assert splits["val"].labels == ["F", "Q", "B", "D"]
    assert splits["val"].meta == {
        "conversation": ["Bdb001", "Bdb001", "Bdb001", "Bed002"],
        "speaker": ["fe016", "me011", "fe016", "me011"],
        "position": [0, 1, 2, 0],
    }
    assert corpus.split_meta("train")["position"] == [0, 1, 2, 0]
    with pytest.raises(TextclfError, match=r"only the 5 basic labels; labels=general needs the original files"):
        MRDA(labels="general", source="hub", hub_id=str(tmp_path / "repo")).read_splits()


def test_swda_from_a_parquet_export_aliases_and_drops_tags(tmp_path: Path, caplog) -> None:
    splits = SwDA(source="hub", hub_id=str(silicone_swda(tmp_path / "repo"))).read_splits()
    assert splits["test"].labels == ['fo_o_fw_"_by_bc', "aa", "qw"]
    assert splits["test"].texts == ["Okay.", "Yeah.", "What?"]
    assert splits["test"].meta["position"] == [0, 1, 1] and splits["test"].meta["speaker"] == ["1", "2", "1"]
    assert "dropped 2 utterances" in caplog.text and "'+': 1" in caplog.text
    with pytest.raises(TextclfError, match=r"unexpected label 'zz'"):
        SwDA(source="hub", hub_id=str(silicone_swda(tmp_path / "odd", extra=["zz"]))).read_splits()


def test_hub_errors_name_what_was_expected(tmp_path: Path, monkeypatch) -> None:
    repo = silicone_mrda(tmp_path / "repo", label_column="Dialogue_Act")
    with pytest.raises(TextclfError, match=r"\[mrda/train\]: no column Label \(columns: Speaker, Dialogue_ID"):
        MRDA(source="hub", hub_id=str(repo), cache_dir=str(tmp_path / "c")).prepare()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    files = r"none \(data_dir\) does not exist: expected the original files train, val, test there"
    with pytest.raises(TextclfError, match=files + r", and the Hub copy .* cannot be used: HF_HUB_OFFLINE=1 is set"):
        SwDA(data_dir=str(tmp_path / "none"), hub_id=str(tmp_path / "no-repo"), cache_dir=str(tmp_path)).prepare()


# ---- the real corpora --------------------------------------------------------------------------------------------


def require(folder: str) -> Path:
    if not (REAL / folder / "train").is_dir():
        pytest.skip(f"set TEXTCLF_DATA to the real corpora ({folder}/train, {folder}/val, {folder}/test)")
    return REAL / folder


@pytest.mark.slow
def test_mrda_counts_and_label_files(tmp_path: Path) -> None:
    directory = require("mrda")
    for labels, count in (("basic", 5), ("general", 12), ("full", 52)):
        listed = (directory / "metadata" / f"{labels}_labels.txt").read_text().split()
        corpus = MRDA(labels=labels, source="files")  # type: ignore[arg-type]
        assert list(corpus.label_names) == listed and len(listed) == count
    splits = MRDA(labels="full", source="files").read_splits()
    assert {k: len(s.texts) for k, s in splits.items()} == {"train": 75067, "val": 16433, "test": 16702}
    assert [len(set(s.meta["conversation"])) for s in splits.values()] == [51, 12, 12]
    assert len(set(splits["train"].labels)) == 52
    corpus = MRDA(source="files", cache_dir=str(tmp_path))
    assert corpus.prepare()["sizes"] == {"train": 75067, "val": 16433, "test": 16702}
    assert len(corpus.split_meta("val")["conversation"]) == len(corpus.split("val"))


@pytest.mark.slow
def test_swda_counts_and_label_file() -> None:
    directory = require("swda")
    assert list(SwDA.label_names) == (directory / "metadata" / "labels.txt").read_text().split()
    splits = SwDA(source="files").read_splits()
    assert {k: len(s.texts) for k, s in splits.items()} == {"train": 192390, "val": 3272, "test": 4078}
    assert [len(set(s.meta["conversation"])) for s in splits.values()] == [1115, 21, 19]
    assert len(set(splits["train"].labels)) == 41
    concatenated = (directory / "test_set.txt").read_text().splitlines()  # the same utterances (in split-list order)
    assert sorted(line.split("|")[1] for line in concatenated) == sorted(splits["test"].texts)


@pytest.mark.network
@pytest.mark.parametrize("cls", [MRDA, SwDA])
def test_real_hub_ids(cls: type, tmp_path: Path, hub_online: None) -> None:
    splits = cls(source="hub", cache_dir=str(tmp_path)).read_splits()
    assert set(splits) == {"train", "val", "test"} and all(len(s.texts) > 1000 for s in splits.values())
    assert set(splits["train"].meta) == {"conversation", "speaker", "position"}

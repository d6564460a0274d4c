"""PublicCorpus: source resolution, the Hub path (against a local directory laid out like a Hub repository)."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pytest
from factories import leftovers, write_hub_repo
from fixtures_sentences import write_trec

from textclf import TextclfError
from textclf.data.corpora import TREC

REAL_TREC = Path(os.environ.get("TEXTCLF_DATA", "/nonexistent")) / "trec"


def write_trec_hub_repo(directory: Path, label_column: str = "coarse_label", class_label: bool = True) -> Path:
    """A local directory laid out like the Parquet files of TREC's Hub dataset repository (data/<split>-*.parquet)."""
    names = ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
    label_type = datasets.ClassLabel(names=names) if class_label else datasets.Value("int64")
    features = {"text": datasets.Value("string"), label_column: label_type}
    train = [f"{question} {i}" for i in range(4) for question in ("who is he ?", "where is it ?", "how many ?")]
    splits = {"train": (train, [3, 4, 5] * 4), "test": (["who ?"], [3])}
    columns = {split: {"text": texts, label_column: labels} for split, (texts, labels) in splits.items()}
    return write_hub_repo(directory, features, columns)


def test_files_source_reads_the_original_files(tmp_path: Path) -> None:
    corpus = TREC(data_dir=str(write_trec(tmp_path / "trec")), cache_dir=str(tmp_path / "cache"))
    assert corpus.resolved_source() == "files"
    assert corpus.labels == ["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
    assert sum(corpus.prepare()["sizes"].values()) == 24 + 2
    fine = TREC(fine=True, data_dir=str(tmp_path / "trec"), cache_dir=str(tmp_path / "cache"))
    assert len(fine.labels) == 50 and "LOC:city" in fine.labels


def test_hub_source_maps_class_label_names(tmp_path: Path) -> None:
    repo = write_trec_hub_repo(tmp_path / "repo")
    corpus = TREC(source="hub", hub_id=str(repo), cache_dir=str(tmp_path / "cache"))
    splits = corpus.read_splits()
    assert splits["train"].labels[:3] == ["HUM", "LOC", "NUM"] and splits["test"].texts == ["who ?"]
    assert corpus.prepare()["sizes"]["test"] == 1


def test_hub_source_with_plain_integer_labels_uses_the_fixed_order(tmp_path: Path) -> None:
    repo = write_trec_hub_repo(tmp_path / "repo", class_label=False)
    splits = TREC(source="hub", hub_id=str(repo), cache_dir=str(tmp_path / "c")).read_splits()
    assert splits["train"].labels[:3] == ["HUM", "LOC", "NUM"]


def test_auto_falls_back_to_the_hub_and_explains_offline_failures(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    corpus = TREC(data_dir=str(tmp_path / "empty"), hub_id=str(tmp_path / "no-such-repo"), cache_dir=str(tmp_path))
    assert corpus.resolved_source() == "hub"
    files = r"empty \(data_dir\) does not exist: expected the original files TREC.train, TREC.test there"
    with pytest.raises(TextclfError, match=files + r", and the Hub copy .*no-such-repo cannot be used: HF_HUB_OFF"):
        corpus.prepare()


def test_missing_files_and_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(TextclfError, match=r"no original files in .* \(data_dir\): expected TREC.train, TREC.test; "):
        TREC(source="files", data_dir=str(tmp_path), cache_dir=str(tmp_path)).prepare()
    repo = write_trec_hub_repo(tmp_path / "repo", label_column="label")
    with pytest.raises(TextclfError, match=r"no column coarse_label \(columns: text, label\)"):
        TREC(source="hub", hub_id=str(repo), cache_dir=str(tmp_path / "c")).prepare()
    assert leftovers(tmp_path / "c") == []


@pytest.mark.slow
def test_trec_from_the_original_files() -> None:
    if not REAL_TREC.exists():
        pytest.skip("set TEXTCLF_DATA to the real corpora (trec/TREC.train, trec/TREC.test)")
    splits = TREC(source="files").read_splits()
    assert (len(splits["train"].texts), len(splits["test"].texts)) == (5452, 500)
    fine = TREC(fine=True, source="files").read_splits()
    assert len(set(fine["train"].labels) | set(fine["test"].labels)) == 50

"""Preparation in bounded memory: texts streamed from disk, ids written chunk by chunk, same cache as in memory."""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from factories import cache_entries, write_csv

from textclf import FileDataModule, TextclfError, TextDataModule
from textclf.cli import main
from textclf.data import prepare
from textclf.data.encoding import detect_file_encoding
from textclf.data.readers import read_table
from textclf.data.splits import LabelledSplit, TextStream


class InMemory(TextDataModule):
    """The same corpus handed over as Python lists (the path of the public corpora)."""

    def __init__(self, split: LabelledSplit, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raw = split

    def read_splits(self) -> dict[str, LabelledSplit]:
        return {"train": self.raw}

    def fingerprint(self) -> dict[str, Any]:
        return {"rows": len(self.raw.labels)}


def cache_files(data: TextDataModule) -> dict[str, Any]:
    directory = data._cache_path()
    arrays = {path.name: np.load(path) for path in sorted(directory.glob("*.npy"))}
    meta = json.loads((directory / "meta.json").read_text())
    meta.pop("settings")
    texts = (directory / "test.texts.jsonl").read_text()
    return {"files": sorted(p.name for p in directory.iterdir()), "arrays": arrays, "meta": meta, "texts": texts}


def test_streamed_csv_prepares_the_same_cache_as_lists_in_memory(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "train.csv", rows=300)
    with path.open("a", newline="") as handle:  # rows the cleaning drops, and a text without words
        csv.writer(handle).writerows([["   ", "pos"], ["", "neg"], ["!!!", "neg"], ["?", "pos"]])
    options: dict[str, Any] = {"max_length": 6, "min_freq": 2, "seed": 3}
    streamed = FileDataModule(str(path), cache_dir=str(tmp_path / "a"), **options)
    streamed.prepare()
    texts, labels = read_table(path, "csv", "text", "label")
    in_memory = InMemory(LabelledSplit(texts, labels, str(path)), cache_dir=str(tmp_path / "b"), **options)
    in_memory.prepare()

    got, expected = cache_files(streamed), cache_files(in_memory)
    assert got["files"] == expected["files"]  # no scratch files left behind
    assert got["meta"] == expected["meta"]
    assert got["texts"] == expected["texts"]
    for name, array in expected["arrays"].items():
        np.testing.assert_array_equal(got["arrays"][name], array, err_msg=name)
    assert got["arrays"]["train.ids.npy"].dtype == np.int32
    assert cache_entries(tmp_path / "a") == [streamed._cache_path().name]


def test_a_crash_while_preparing_leaves_no_entry_and_the_next_call_rebuilds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "train.csv", rows=60)
    data = FileDataModule(str(path), cache_dir=str(tmp_path / "cache"), seed=1)
    written: list[str] = []

    def crash(*args: Any, **kwargs: Any) -> None:  # after the token ids are written, before the labels
        written.extend(p.name for p in data.scratch_dir.parent.iterdir())  # type: ignore[union-attr]
        raise KeyboardInterrupt  # the worst case: not even an Exception

    monkeypatch.setattr(prepare, "encode_labels", crash)
    with pytest.raises(KeyboardInterrupt):
        data.prepare()
    assert "train.ids.npy" in written  # the build was half done ...
    assert cache_entries(tmp_path / "cache") == []  # ... and left neither an entry nor its staging folder
    monkeypatch.undo()
    again = FileDataModule(str(path), cache_dir=str(tmp_path / "cache"), seed=1)
    killed = tmp_path / "cache" / "data" / f".tmp-{again._cache_path().name}-killed"  # what kill -9 would leave
    killed.mkdir()
    (killed / "train.ids.npy").write_bytes(b"half")
    assert again.prepare()["sizes"]["train"] == len(again.split("train")) > 0
    assert cache_entries(tmp_path / "cache") == [again._cache_path().name]


def test_an_unreadable_entry_is_rebuilt_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_csv(tmp_path / "train.csv", rows=60)
    first = FileDataModule(str(path), cache_dir=str(tmp_path / "cache"))
    expected = cache_files(first.prepare() and first)
    (first._cache_path() / "val.ids.npy").unlink()
    (first._cache_path() / "meta.json").write_text("{")
    again = FileDataModule(str(path), cache_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING):
        again.prepare()
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"rebuilding unreadable data cache entry {again._cache_path()}" in warnings[0]
    got = cache_files(again)
    assert got["files"] == expected["files"] and got["meta"] == expected["meta"]


def test_text_stream_reads_the_kept_rows_in_order_on_every_pass() -> None:
    batches = [["a", "b", "c"], ["d"], ["e", "f"]]
    stream = TextStream(lambda: iter(batches), 6)
    kept = stream.take(np.array([0, 2, 3, 5])).take(np.array([1, 3]))
    assert len(kept) == 2
    assert list(kept) == list(kept) == ["c", "f"]
    with pytest.raises(ValueError, match="sorted"):
        stream.take(np.array([2, 1]))


def test_file_encoding_is_detected_across_chunk_boundaries(tmp_path: Path) -> None:
    head = b"x" * ((1 << 20) - 1) + "\u00e9".encode()  # a two-byte character cut by the first 1 MiB chunk
    path = tmp_path / "a.csv"
    path.write_bytes(head + b"\nok\n")
    assert detect_file_encoding(path) == "utf-8-sig"
    path.write_bytes(head + b"\n\x93quoted\x94\n")  # UTF-8 line 1, Windows-1252 line 2: mixed, refused
    with pytest.raises(TextclfError, match=rf"line 1 is UTF-8 but line 2 \(byte {len(head) + 1}\)"):
        detect_file_encoding(path)


MEASURE = """
import resource, sys
from textclf import FileDataModule
data = FileDataModule(sys.argv[1], cache_dir=sys.argv[2], max_length=20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data.prepare()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)  # KiB on Linux
"""


def preparation_growth_mib(csv_path: Path, cache: Path) -> float:
    """How much preparing ``csv_path`` raises the peak RSS of a fresh process (MiB)."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(csv_path), str(cache)], capture_output=True, text=True, check=True
    )
    return int(result.stdout.split()[-1]) / 1024


def write_long_texts_csv(path: Path, rows: int, seed: int = 0) -> Path:
    """Rows of about 1 kB of text (150 words drawn from 5,000), labelled a/b."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5_000)]
    texts = [" ".join(rng.choices(words, k=150)) for _ in range(500)]
    return write_csv(path, ([f"{words[i % 5_000]} {texts[i % 500]}", "ab"[i % 2]] for i in range(rows)))


@pytest.mark.slow
def test_preparation_memory_stays_flat_as_the_corpus_grows(tmp_path: Path) -> None:
    # Both corpora fill the CSV reader's chunks of 10,000 rows, so only what grows with the corpus counts.
    small = preparation_growth_mib(write_long_texts_csv(tmp_path / "small.csv", 10_000), tmp_path / "cache_small")
    large = preparation_growth_mib(write_long_texts_csv(tmp_path / "large.csv", 100_000), tmp_path / "cache_large")
    # 90,000 more rows: 80 MiB more text. Holding the texts in memory (as a list and a table) costs over twice that
    # (preparation before streaming: +450 MiB); streaming them costs the allocator's warm-up over more chunks and
    # what grows with the row count (labels, lengths): +65 MiB.
    assert large < small + 150, f"preparing 10x the rows raised the peak RSS by {large:.0f} MiB (1x: {small:.0f})"


def test_cache_entries_are_readable_by_others_as_the_umask_allows(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        data = FileDataModule(str(write_csv(tmp_path / "t.csv")), cache_dir=str(tmp_path / "cache"))
        data.prepare()
    finally:
        os.umask(previous)
    (name,) = cache_entries(tmp_path / "cache")
    assert stat.S_IMODE((tmp_path / "cache" / "data" / name).stat().st_mode) == 0o755  # mkdtemp alone gives 0700


# ---- option values: refused by the parser in one line, or working ----------------------------------------------

BAD_OPTIONS = [
    ("vectors_vocab_size", "null"),  # as reported: passed the parser, then a TypeError inside a link computation
    ("vectors_vocab_size", "-5"),
    ("min_freq", "0"),
    ("batch_size", "0"),
    ("batch_size", "null"),
    ("eval_batch_size", "0"),
    ("max_length", "0"),
    ("bucket_size", "0"),
    ("val_fraction", "1.5"),
    ("test_fraction", "0"),
    ("fold", "-1"),
    ("num_folds", "1"),
    ("num_workers", "-1"),
    ("seed", "null"),
    ("keep_words_with_vectors", "null"),
    ("text_column", "null"),  # a FileDataModule option (str): null reaches no reader
]


BAD_OPTIONS += [  # the model's and the encoder's (passed the parser, then failed when the classes were built)
    ("model.dropout", "1.5"),
    ("model.embedding_dropout", "-0.1"),
    ("model.embedding_dim", "0"),
    ("model.freeze_backbone_epochs", "-1"),
    ("model.backbone_lr_scale", "-2"),
    ("model.encoder.init_args.hidden_size", "0"),
    ("model.encoder.init_args.num_layers", "0"),
    ("model.encoder.init_args.dropout", "1"),
]


@pytest.mark.parametrize(("name", "value"), BAD_OPTIONS, ids=[f"{n}={v}" for n, v in BAD_OPTIONS])
def test_option_values_the_data_cannot_use_are_refused_by_the_parser_in_one_line(
    name: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "trec" / "bilstm_max.yaml"
    key = name if name.startswith("model.") else f"data.init_args.{name}"
    args = ["fit", "-c", str(recipe), f"--{key}", value, "--print_config"]
    if name == "text_column":
        args[2] = str(recipe.parents[1] / "custom" / "csv.yaml")
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_info.value.code == 2 and captured.out == ""  # no configuration printed that the run would refuse
    assert len(lines) == 1 and lines[0].startswith("textclf: error: ") and name.split(".")[-1] in lines[0], lines


@pytest.mark.parametrize(
    "options",
    [{"vectors_vocab_size": 0, "max_vocab_size": 1, "min_freq": 1}, {"fold": 0, "num_folds": 2}, {"max_length": 1}],
)
def test_boundary_values_the_parser_accepts_work(tmp_path: Path, options: dict[str, Any]) -> None:
    data = FileDataModule(str(write_csv(tmp_path / "train.csv", rows=40)), cache_dir=str(tmp_path / "c"), **options)
    assert len(data.split("train")) > 0 and len(data.vocab) >= 3


def test_option_values_are_checked_from_python_too() -> None:
    with pytest.raises(TextclfError, match=r"^data.vectors_vocab_size is None, not an integer >= 0$"):
        FileDataModule("train.csv", vectors_vocab_size=None)  # type: ignore[arg-type]
    with pytest.raises(TextclfError, match=r"data.fold is 3, not in \[0, 2\]"):
        FileDataModule("train.csv", fold=3, num_folds=3)

"""Nothing on disk is damaged by a run or by its failure: runs write only in their run directory and never over
earlier files, reports describe the examples that were tested, caches keep their finished entries, and the
checkpoint a fine-tuning run starts from stays byte for byte as it was."""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
from factories import cache_entries, csv_fit_args, leftovers, quiet_trainer, write_csv

from textclf import FileDataModule, RNNEncoder, TextClassifier
from textclf.cli import main
from textclf.data import prepare
from textclf.run_outputs import publish_folder, write_new_json

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "format1_single.ckpt"


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (but cache lock files) and its bytes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".lock")
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


def _fit_args(root: Path, *extra: str) -> list[str]:
    options = ["--data.init_args.vectors=null", "--data.init_args.batch_size=4", "--model.embedding_dim=6"]
    return csv_fit_args(root, *options, "--model.encoder.init_args.hidden_size=4", *extra, train_rows=48, test_rows=40)


# ---- runs --------------------------------------------------------------------------------------------------------


def test_a_debug_run_writes_only_in_its_root_and_reports_the_batch_it_tested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    (cwd / "report").mkdir(parents=True)
    (cwd / "report" / "mine.txt").write_text("a report of my own")
    (cwd / "test_metrics.json").write_text("{}")
    before = _files(cwd)
    monkeypatch.chdir(cwd)
    root = tmp_path / "some" / "dir"
    main(_fit_args(tmp_path, "--trainer.fast_dev_run=true", f"--trainer.default_root_dir={root}"))
    assert _files(cwd) == before  # nothing written into, or replaced in, the working directory
    logged = json.loads((root / "test_metrics.json").read_text())
    report = json.loads((root / "report" / "metrics.json").read_text())
    assert report["n"] == 16  # fast_dev_run tests one batch (eval batch size 4 x 4), not the 40 test texts
    for name in ("acc", "f1_macro", "loss"):
        assert report[name] == pytest.approx(logged[f"test/{name}"], abs=1e-5), name
    misclassified = [json.loads(line) for line in (root / "report" / "misclassified.jsonl").read_text().splitlines()]
    texts = [row.split(",")[0] for row in (tmp_path / "test.csv").read_text().splitlines()[1:]]
    assert all(texts[record["index"]] == record["text"] for record in misclassified)


def test_files_of_an_earlier_run_are_never_replaced(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    args = _fit_args(tmp_path, "--trainer.max_epochs=1", f"--trainer.default_root_dir={root}")
    main(args)
    run = root / "custom" / "csv" / "version_0"
    checkpoint = run / "checkpoints" / "best.ckpt"
    before = _files(run)
    test = ["test", *args[1:], f"--ckpt_path={checkpoint}", "--trainer.logger=false", "--overwrite=true"]
    main(test)  # no logger: into the checkpoint's run directory, which has a report already
    main([*test, f"--report_dir={run / 'report'}"])
    after = _files(run)
    assert {k: v for k, v in after.items() if k in before} == before  # every earlier file unchanged
    first = json.loads((run / "report" / "metrics.json").read_text())
    for again in ("report.1", "report.2"):
        assert json.loads((run / again / "metrics.json").read_text())["acc"] == first["acc"]
    assert not list(run.glob(".tmp-*"))


def test_a_report_that_fails_midway_leaves_nothing_under_its_name(tmp_path: Path) -> None:
    target = tmp_path / "report"

    def half(folder: Path) -> None:
        (folder / "metrics.json").write_text("{}")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish_folder(half, target)
    assert list(tmp_path.iterdir()) == []
    assert write_new_json(tmp_path / "m.json", {"a": 1}) == tmp_path / "m.json"
    assert write_new_json(tmp_path / "m.json", {"a": 2}) == tmp_path / "m.1.json"
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 1}


# ---- caches ------------------------------------------------------------------------------------------------------


def test_a_crash_while_building_an_entry_keeps_the_earlier_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = str(write_csv(tmp_path / "train.csv", rows=40))
    cache = tmp_path / "cache"
    FileDataModule(train, cache_dir=str(cache), seed=1).prepare()
    before = _files(cache / "data")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prepare, "encode_labels", crash)
    with pytest.raises(OSError):
        FileDataModule(train, cache_dir=str(cache), seed=2).prepare()
    assert _files(cache / "data") == before and len(cache_entries(cache)) == 1
    assert [name for name in leftovers(cache) if name.startswith(".tmp-")] == []


class _TouchOnLoad:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize(
    "planted", ["pickled labels", "labels out of range", "offsets past the ids", "vocabulary with duplicates"]
)
def test_a_hostile_cache_entry_is_rebuilt_and_runs_no_code(tmp_path: Path, planted: str) -> None:
    train = str(write_csv(tmp_path / "train.csv", rows=40))
    first = FileDataModule(train, cache_dir=str(tmp_path / "cache"))
    first.prepare()
    entry, marker = first._cache_path(), tmp_path / "code-ran"
    labels = np.load(entry / "train.labels.npy")
    if planted == "pickled labels":
        np.save(entry / "train.labels.npy", np.array([_TouchOnLoad(marker)] * len(labels), dtype=object))
    elif planted == "labels out of range":
        np.save(entry / "train.labels.npy", labels + 7)
    elif planted == "offsets past the ids":
        offsets = np.load(entry / "train.offsets.npy")
        np.save(entry / "train.offsets.npy", offsets * 1000)
    else:
        meta = json.loads((entry / "meta.json").read_text())
        meta["vocab"][3] = meta["vocab"][2]
        (entry / "meta.json").write_text(json.dumps(meta))
    again = FileDataModule(train, cache_dir=str(tmp_path / "cache"))
    again.prepare()
    np.testing.assert_array_equal(again.split("train").targets, labels)
    assert again.vocab.tokens == first.vocab.tokens and not marker.exists()


# ---- fine-tuning -------------------------------------------------------------------------------------------------


class _FailMidway(L.Callback):
    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step >= 2:
            raise RuntimeError("simulated crash in the middle of fine-tuning")


def test_fine_tuning_never_changes_the_checkpoint_it_starts_from(tmp_path: Path) -> None:
    source = tmp_path / "base" / "checkpoints" / "best.ckpt"
    source.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    stat = source.stat()
    train = str(write_csv(tmp_path / "new.csv", rows=40, seed=3))

    def fine_tune(*callbacks: L.Callback, dirpath: Path) -> None:
        data = FileDataModule(train, init_vocab_from=str(source), cache_dir=str(tmp_path / "cache"), batch_size=4)
        model = TextClassifier.for_data(data, RNNEncoder(hidden_size=6, pooling="max"))
        checkpoints = L.pytorch.callbacks.ModelCheckpoint(dirpath=dirpath, save_last=True)
        quiet_trainer(2, enable_checkpointing=True, callbacks=[checkpoints, *callbacks]).fit(model, data)

    with pytest.raises(RuntimeError, match="simulated crash"):
        fine_tune(_FailMidway(), dirpath=tmp_path / "failed")
    with pytest.raises(Exception, match="beside"):  # its own folder: refused before anything is written
        fine_tune(dirpath=source.parent)
    fine_tune(dirpath=tmp_path / "fine-tuned")
    assert list((tmp_path / "fine-tuned").glob("*.ckpt"))
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    assert (source.stat().st_mtime_ns, sorted(p.name for p in source.parent.iterdir())) == (
        stat.st_mtime_ns,
        ["best.ckpt"],
    )

"""`textclf evaluate CHECKPOINT FILE`: a checkpoint scored on any labelled file, with no recipe and no vectors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from factories import write_csv

from textclf import TextClassifier, TextclfError
from textclf.evaluate import evaluate_file

CHECKPOINT = Path(__file__).resolve().parent / "fixtures" / "format1_single.ckpt"  # labels neg/pos


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("evaluate") / "new.csv", rows=30, seed=7)


def test_a_fresh_process_writes_the_full_report_without_recipe_or_vectors(tmp_path: Path, labelled: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("TEXTCLF_VECTORS", "TEXTCLF_DATA")}
    report = tmp_path / "report"
    command = [sys.executable, "-m", "textclf", "evaluate", str(CHECKPOINT), str(labelled), "--report-dir", str(report)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    files = {"metrics.json", "per_class.csv", "confusion_matrix.csv", "confusion_matrix.png", "misclassified.jsonl"}
    assert files <= {path.name for path in report.iterdir()}
    metrics = json.loads((report / "metrics.json").read_text())
    rows = list(csv.DictReader(labelled.open()))
    predicted = TextClassifier.load_from_checkpoint(CHECKPOINT).predict([row["text"] for row in rows])
    right = sum(p == row["label"] for p, row in zip(predicted, rows, strict=True))
    assert metrics["n"] == 30 and metrics["acc"] == pytest.approx(right / 30)
    assert {"f1_macro", "f1_weighted", "loss"} <= set(metrics) and metrics["file"] == str(labelled)
    wrong = (report / "misclassified.jsonl").read_text().splitlines()
    assert len(wrong) == 30 - right
    assert f"acc={right / 30:.4f}" in done.stderr


def test_default_report_folders_never_overwrite_a_report(tmp_path: Path, labelled: Path) -> None:
    run = tmp_path / "runs" / "x" / "version_0" / "checkpoints"
    run.mkdir(parents=True)
    (run / "best.ckpt").write_bytes(CHECKPOINT.read_bytes())
    evaluate_file(run / "best.ckpt", labelled)
    evaluate_file(run / "best.ckpt", labelled)
    folders = sorted(p.name for p in (run.parent / "evaluate").iterdir())
    assert folders == ["new", "new.1"]
    with pytest.raises(TextclfError, match="already holds a report; pick another --report-dir"):
        evaluate_file(run / "best.ckpt", labelled, report_dir=run.parent / "evaluate" / "new")


def test_a_label_the_checkpoint_lacks_is_one_line_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("text,label\ngood film,pos\nmeh,neutral\n")
    with pytest.raises(TextclfError, match=r"odd.csv, row 2: label 'neutral' is not in the labels of"):
        evaluate_file(CHECKPOINT, path, report_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_other_columns_and_formats_through_the_training_reader(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_text("review\tstars\na superb and lovely film\tpos\nawful boring plot\tneg\n")
    scores = evaluate_file(CHECKPOINT, path, text_column="review", label_column="stars", report_dir=tmp_path / "r")
    assert scores["n"] == 2
    with pytest.raises(TextclfError, match=r"t.tsv: no text column 'text'"):
        evaluate_file(CHECKPOINT, path, report_dir=tmp_path / "r2")

"""The command line as a user drives it: fit -> best checkpoint -> test -> predict, and its error messages."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from factories import write_csv, write_vectors

from textclf.cli import TextclfCLI, main

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def fit_args(root: Path, *extra: str) -> list[str]:
    return [
        "fit",
        "-c",
        str(RECIPES / "custom" / "csv.yaml"),
        f"--data.init_args.train={write_csv(root / 'train.csv', rows=60)}",
        f"--data.init_args.test={write_csv(root / 'test.csv', rows=20, seed=1)}",
        f"--data.init_args.vectors={write_vectors(root / 'vectors.txt')}",
        f"--data.init_args.cache_dir={root / 'cache'}",
        "--data.init_args.batch_size=8",
        "--model.encoder.init_args.hidden_size=8",
        "--trainer.max_epochs=2",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={root / 'runs'}",
        *extra,
    ]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    main(fit_args(root))
    return root / "runs" / "custom" / "csv" / "version_0"


def run_textclf(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m textclf ...`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "textclf", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )


def test_fit_keeps_the_best_checkpoint_and_tests_it(run_dir: Path) -> None:
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "config.yaml").is_file()
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    assert metrics["checkpoint"].endswith("best.ckpt")
    assert 0.0 <= metrics["test/acc"] <= 1.0 and "test/f1_macro" in metrics


def test_checkpoint_predicts_in_a_fresh_process(run_dir: Path) -> None:
    code = (
        "import sys; from textclf import TextClassifier;"
        "m = TextClassifier.load_from_checkpoint(sys.argv[1]);"
        "print(m.labels, m.predict(['a great and lovely film', 'dull awful plot']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(run_dir / "checkpoints" / "best.ckpt")],
        capture_output=True,
        text=True,
        cwd=run_dir,  # far from the recipe and the data
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("['neg', 'pos']")


def test_predict_command_writes_jsonl_and_csv(run_dir: Path, tmp_path: Path) -> None:
    checkpoint = str(run_dir / "checkpoints" / "best.ckpt")
    inputs = tmp_path / "texts.txt"
    inputs.write_text("a superb film\n\nthe plot was boring\n")
    result = run_textclf("predict", checkpoint, str(inputs), "-o", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == ["a superb film", "", "the plot was boring"]
    for record in records:
        assert set(record["probs"]) == {"neg", "pos"}
        assert record["label"] == max(record["probs"], key=record["probs"].get)
        assert abs(sum(record["probs"].values()) - 1) < 1e-4

    result = run_textclf("predict", checkpoint, "--format", "csv", stdin="great film\nawful film\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "text,label,prob_neg,prob_pos"
    assert [line.split(",")[0] for line in lines[1:]] == ["great film", "awful film"]


def test_a_second_run_never_overwrites_the_first(run_dir: Path) -> None:
    first = (run_dir / "checkpoints" / "best.ckpt").read_bytes()
    main(fit_args(run_dir.parents[3], "--trainer.max_epochs=1"))
    assert (run_dir.parent / "version_1" / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "best.ckpt").read_bytes() == first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data.init_args.train=missing.csv"], "file not found: "),
        (["--data.init_args.text_column=body"], "no text column 'body'"),
        (["--data.init_args.vectors=no-such-vectors-300"], "vectors"),
        (["--model.embedding_dim=300"], "embedding_dim is 300 but the pretrained vectors have dimension 8"),
    ],
)
def test_user_mistakes_get_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_textclf(*fit_args(tmp_path, *args), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("textclf: error: ") and message in last


def test_predict_errors_are_one_line(tmp_path: Path) -> None:
    result = run_textclf("predict", str(tmp_path / "missing.ckpt"), stdin="x\n")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("textclf: error: checkpoint not found")


def test_an_explicit_run_directory_that_holds_a_run_is_refused(run_dir: Path) -> None:
    args = fit_args(run_dir.parents[3], "--trainer.max_epochs=1")
    logger = [
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={run_dir.parents[2]}",
        "--trainer.logger.name=custom/csv",
        "--trainer.logger.version=0",
    ]
    before = (run_dir / "checkpoints" / "best.ckpt").read_bytes()
    result = run_textclf(*args, *logger)
    assert result.returncode == 2, result.stderr
    assert "already holds a run" in result.stderr.strip().splitlines()[-1]
    assert (run_dir / "checkpoints" / "best.ckpt").read_bytes() == before


def test_test_subcommand_evaluates_a_saved_checkpoint(run_dir: Path) -> None:
    root = run_dir.parents[3]
    args = fit_args(root, f"--ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}", "--trainer.logger=false")
    cli = TextclfCLI(args=["test", *args[1:]])
    expected = json.loads((run_dir / "test_metrics.json").read_text())
    assert float(cli.trainer.callback_metrics["test/acc"]) == pytest.approx(expected["test/acc"], abs=1e-6)


def test_fit_writes_the_evaluation_report(run_dir: Path) -> None:
    report = run_dir / "report"
    expected = json.loads((run_dir / "test_metrics.json").read_text())
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["checkpoint"] == expected["checkpoint"] and metrics["n"] == 20
    assert metrics["accuracy"] == pytest.approx(expected["test/acc"], abs=1e-6)
    assert metrics["macro_f1"] == pytest.approx(expected["test/f1_macro"], abs=1e-6)
    assert metrics["loss"] == pytest.approx(expected["test/loss"], abs=1e-4)
    with (report / "per_class.csv").open() as handle:
        assert [(row["label"], row["support"]) for row in csv.DictReader(handle)] == [("neg", "10"), ("pos", "10")]
    matrix = (report / "confusion_matrix.csv").read_text().splitlines()
    assert matrix[0] == "true \\ predicted,neg,pos" and len(matrix) == 3
    assert (report / "confusion_matrix.png").stat().st_size > 0

    with (run_dir.parents[3] / "test.csv").open() as handle:
        test_rows = list(csv.DictReader(handle))
    wrong = [json.loads(line) for line in (report / "misclassified.jsonl").read_text().splitlines()]
    assert len(wrong) == round(20 * (1 - metrics["accuracy"]))
    for record in wrong:
        row = test_rows[record["index"]]
        assert (record["text"], record["true"]) == (row["text"], row["label"]) != record["predicted"]
        assert record["predicted"] == max(record["probs"], key=record["probs"].get)


def test_test_subcommand_writes_its_report_where_asked(run_dir: Path, tmp_path: Path) -> None:
    checkpoint = run_dir / "checkpoints" / "best.ckpt"
    # --overwrite: without a logger, each test run saves its config.yaml into the same runs/ folder
    args = fit_args(run_dir.parents[3], f"--ckpt_path={checkpoint}", "--trainer.logger=false", "--overwrite=true")[1:]
    TextclfCLI(args=["test", *args, f"--report_dir={tmp_path / 'mine'}"])
    metrics = json.loads((tmp_path / "mine" / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(checkpoint)
    assert metrics["accuracy"] == json.loads((run_dir / "test_metrics.json").read_text())["test/acc"]

    shutil.rmtree(run_dir / "report")  # without --report_dir: the checkpoint's run directory
    TextclfCLI(args=["test", *args])
    assert json.loads((run_dir / "report" / "metrics.json").read_text()) == metrics


def test_test_without_logger_or_checkpoint_skips_the_report_with_a_note(run_dir: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("textclf").addHandler(handler)
    try:
        TextclfCLI(args=["test", *fit_args(tmp_path, "--trainer.logger=false")[1:]])
    finally:
        logging.getLogger("textclf").removeHandler(handler)
    assert any(message.startswith("no evaluation report: ") for message in messages)
    assert not list(tmp_path.rglob("metrics.json"))

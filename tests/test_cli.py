"""The command line as a user drives it: fit -> best checkpoint -> test -> predict, and its error messages."""

from __future__ import annotations

import json
import os
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

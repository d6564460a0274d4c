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
import yaml
from factories import RECIPES, printed_config, run_script, small_fit_args
from jsonargparse import Namespace

import textclf.evaluate
from textclf.cli import TextclfCLI, main
from textclf.commands import DESCRIPTIONS
from textclf.runconfig import set_default_logger


def fit_args(root: Path, *extra: str) -> list[str]:
    return small_fit_args(root, *extra)


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
    assert lines[0] == "text,label,prob_neg,prob_pos,error"
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
    for _ in range(2):  # twice: without a logger there is no run directory, so no config.yaml is left to clash
        cli = TextclfCLI(args=["test", *args[1:]])
    expected = json.loads((run_dir / "test_metrics.json").read_text())
    assert float(cli.trainer.callback_metrics["test/acc"]) == pytest.approx(expected["test/acc"], abs=1e-6)
    assert not (root / "runs" / "config.yaml").exists()


def test_fit_writes_the_evaluation_report(run_dir: Path) -> None:
    report = run_dir / "report"
    expected = json.loads((run_dir / "test_metrics.json").read_text())
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["checkpoint"] == expected["checkpoint"] and metrics["n"] == 20
    assert metrics["acc"] == pytest.approx(expected["test/acc"], abs=1e-6)
    for name in ("acc", "f1_macro", "f1_weighted"):  # one set of names, in logs and reports alike
        assert metrics[name] == pytest.approx(expected[f"test/{name}"], abs=1e-6)
    assert metrics["loss"] == pytest.approx(expected["test/loss"], abs=1e-4)
    with (report / "per_class.csv").open() as handle:
        assert [(row["label"], row["support"]) for row in csv.DictReader(handle)] == [("neg", "10"), ("pos", "10")]
    matrix = (report / "confusion_matrix.csv").read_text().splitlines()
    assert matrix[0] == "true \\ predicted,neg,pos" and len(matrix) == 3
    assert (report / "confusion_matrix.png").stat().st_size > 0

    with (run_dir.parents[3] / "test.csv").open() as handle:
        test_rows = list(csv.DictReader(handle))
    wrong = [json.loads(line) for line in (report / "misclassified.jsonl").read_text().splitlines()]
    assert len(wrong) == round(20 * (1 - metrics["acc"]))
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
    assert metrics["acc"] == json.loads((run_dir / "test_metrics.json").read_text())["test/acc"]

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


# ---- one command tree: fit | validate | test | predict | evaluate | export ------------------------------------


def test_help_lists_every_subcommand_with_its_description(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    listed = {line.split()[0]: line.split(None, 1)[1] for line in capsys.readouterr().out.splitlines()[-11:]}
    assert listed == DESCRIPTIONS
    assert list(DESCRIPTIONS) == ["fit", "validate", "test", "predict", "evaluate", "export", "serve", "explain", "cv",
                                 "tune", "vectors"]  # fmt: skip


def test_serve_and_explain_descriptions_are_their_modules() -> None:
    from textclf import explain_cli, serve_cli

    assert DESCRIPTIONS["serve"] == serve_cli.DESCRIPTION and DESCRIPTIONS["explain"] == explain_cli.DESCRIPTION


def test_predict_and_export_take_a_config_file(run_dir: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.csv"
    texts.write_text("id,text\nq1,a superb film\nq2,the plot was boring\n")
    config = {
        "checkpoint": str(run_dir / "checkpoints" / "best.ckpt"),
        "inputs": [str(texts)],
        "output": str(tmp_path / "out.csv"),
        "id_column": "id",
        "top_k": 1,
        "progress": False,
    }
    (tmp_path / "predict.yaml").write_text(yaml.safe_dump(config))
    main(["predict", "-c", str(tmp_path / "predict.yaml")])
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "id,text,label,top1_label,top1_prob,error"
    assert [line.split(",")[:2] for line in lines[1:]] == [["q1", "a superb film"], ["q2", "the plot was boring"]]

    config = {"checkpoint": config["checkpoint"], "output_dir": str(tmp_path / "export"), "format": "torchscript"}
    (tmp_path / "export.yaml").write_text(yaml.safe_dump(config))
    main(["export", "-c", str(tmp_path / "export.yaml")])
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "labels.json",
        "model.pt",
        "tokenizer.json",
        "vocab.json",
    ]


def test_documented_spellings_keep_working(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = str(run_dir / "checkpoints" / "best.ckpt")
    texts = tmp_path / "texts.csv"
    texts.write_text("id,text,lang,src\nq1,a superb film,en,x\nq2,the plot was boring,en,y\n")
    predict = ["predict", checkpoint, str(texts), "-o", str(tmp_path / "out.txt"), "--format", "csv"]
    predict += ["--text-column", "text", "--id-column", "id", "--keep-columns", "lang,src", "--top-k", "1"]
    predict += ["--threshold", "0.01", "--batch-size", "1", "--device", "cpu", "--no-progress"]
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("textclf").addHandler(handler)
    try:
        main(predict)
    finally:
        logging.getLogger("textclf").removeHandler(handler)
    assert not [message for message in messages if "texts/s" in message]  # --no-progress
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert lines[0] == "id,lang,src,text,label,labels,top1_label,top1_prob,error"
    assert [line.split(",")[:4] for line in lines[1:]] == [
        ["q1", "en", "x", "a superb film"],
        ["q2", "en", "y", "the plot was boring"],
    ]
    assert all(line.split(",")[5] == "neg|pos" for line in lines[1:])  # --threshold 0.01: both labels

    export = ["export", checkpoint, str(tmp_path / "export"), "--format", "torchscript", "--opset", "17"]
    main(export)
    main([*export, "--overwrite"])
    assert (tmp_path / "export" / "model.pt").is_file()

    calls: list[tuple[tuple[str, ...], dict]] = []
    monkeypatch.setattr(textclf.evaluate, "evaluate_file", lambda *args, **kwargs: calls.append((args, kwargs)) or {})
    evaluate = ["evaluate", checkpoint, str(texts), "--text-column", "body", "--label-column", "gold"]
    evaluate += ["--format", "csv", "--line-pattern", "^(?P<label>\\S+) (?P<text>.*)$", "--encoding", "latin-1"]
    evaluate += ["--label-delimiter", "|", "--report-dir", "rep", "--batch-size", "7", "--device", "cuda"]
    main(evaluate)
    assert calls == [
        (
            (checkpoint, str(texts)),
            {
                "report_dir": "rep",
                "text_column": "body",
                "label_column": "gold",
                "header": True,
                "format": "csv",
                "line_pattern": r"^(?P<label>\S+) (?P<text>.*)$",
                "encoding": "latin-1",
                "label_delimiter": "|",
                "batch_size": 7,
                "device": "cuda",
            },
        )
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["predict"],
        ["predict", "model.ckpt", "--top-k", "two"],
        ["export", "model.ckpt", "out", "--format", "tflite"],
        ["evaluate", "model.ckpt"],
        ["fit", "--no-such-option", "1"],
        ["train"],
    ],
)
def test_argument_errors_are_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("textclf: error: "), lines


def test_print_config_shows_the_logger_that_will_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def printed(*extra: str) -> dict:
        return printed_config(capsys, fit_args(tmp_path, *extra))

    logger = printed()["trainer"]["logger"]
    assert logger["class_path"] == "lightning.pytorch.loggers.CSVLogger"
    assert logger["init_args"]["save_dir"] == str(tmp_path / "runs")
    assert logger["init_args"]["name"] == "custom/csv"
    assert printed("--trainer.logger=false")["trainer"]["logger"] is False

    checkpoint = str(Path(__file__).resolve().parent / "fixtures" / "format1_single.ckpt")  # resume: read first
    assert printed("--trainer.logger=true", f"--ckpt_path={checkpoint}")["trainer"]["logger"] == logger
    assert printed_config(capsys, ["predict", checkpoint, "--keep-columns", "a,b"])["keep_columns"] == "a,b"


def test_test_needs_no_vectors_file_with_a_checkpoint(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = run_dir.parents[3]
    checkpoint = run_dir / "checkpoints" / "best.ckpt"
    args = fit_args(root, f"--ckpt_path={checkpoint}", "--trainer.logger=false", "--overwrite=true")
    args = [arg for arg in args[1:] if "hidden_size" not in arg]  # the encoder comes from the checkpoint too
    args.append(f"--report_dir={tmp_path / 'report'}")
    (root / "vectors.txt").rename(root / "vectors.moved")  # the file fit trained with
    try:
        cli = TextclfCLI(args=["test", *args])
    finally:
        (root / "vectors.moved").rename(root / "vectors.txt")
    assert cli.datamodule.vectors is None and cli.datamodule.vocab.tokens == cli.model.vocab.tokens
    capsys.readouterr()
    printed = printed_config(capsys, ["test", *args])
    assert printed["data"]["init_args"]["vectors"] is None
    assert printed["model"]["encoder"]["init_args"]["hidden_size"] == 8  # the checkpoint's, not the recipe's 150
    expected = json.loads((run_dir / "test_metrics.json").read_text())
    for name in ("test/acc", "test/f1_macro", "test/loss"):
        assert float(cli.trainer.callback_metrics[name]) == pytest.approx(expected[name], abs=1e-6), name


@pytest.mark.parametrize("subcommand", ["fit", "test"])
def test_a_ckpt_path_that_is_not_a_readable_checkpoint_is_one_line(
    subcommand: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (truncated := tmp_path / "cut.ckpt").write_bytes(b"PK\x03\x04 cut short")
    for path, message in ((tmp_path / "missing.ckpt", "checkpoint not found"), (truncated, "not a readable")):
        with pytest.raises(SystemExit) as exit_info:
            main([subcommand, *fit_args(tmp_path, f"--ckpt_path={path}")[1:]])
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert exit_info.value.code == 2 and last.startswith("textclf: error: ") and message in last


def test_weights_of_other_labels_are_refused_not_scored_against_the_wrong_classes(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = run_dir / "checkpoints" / "best.ckpt"  # labels neg, pos
    args = fit_args(run_dir.parents[3], f"--ckpt_path={checkpoint}", f"--trainer.default_root_dir={tmp_path}")
    with pytest.raises(SystemExit) as exit_info:
        main(["test", *args[1:], "--data.init_args.labels=[pos, neg]"])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 2 and "trained with the labels ['neg', 'pos']" in last


def test_runs_are_named_after_the_recipe_file_even_through_dot_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "recipe.yaml").write_text("model: {}\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    config = Namespace(trainer=Namespace(logger=None, default_root_dir=None), config=["../mine/recipe.yaml"])
    set_default_logger(config)
    assert (
        config.trainer.logger.init_args.name == "recipe"
    )  # not "../recipe", outside runs/ (textclf.runconfig.run_name)


def test_the_default_run_folder_is_absolute_so_a_resume_from_elsewhere_keeps_its_best_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checkpoints remember their folder: a relative runs/ made a resume from another directory lose best.ckpt."""
    monkeypatch.chdir(tmp_path)
    config = printed_config(capsys, ["fit", "-c", str(RECIPES / "trec" / "bilstm_max.yaml")])
    assert config["trainer"]["logger"]["init_args"]["save_dir"] == str(tmp_path.resolve() / "runs")


# ---- start-up: each subcommand imports what it needs ----------------------------------------------------------

IMPORTED = (
    "import sys; from textclf.cli import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print('MODULES', *sorted(sys.modules))"
)


def imported(*args: str) -> set[str]:
    """The modules ``textclf ARGS`` imported, in a fresh process."""
    lines = [line for line in run_script(IMPORTED, *args).stdout.splitlines() if line.startswith("MODULES ")]
    return set(lines[-1].split()[1:])


HELPS = [["--help"], ["predict", "--help"], ["export", "--help"], ["serve", "--help"], ["explain", "--help"],
         ["cv", "--help"], ["tune", "--help"], ["vectors", "train", "--help"]]  # fmt: skip


@pytest.mark.parametrize("args", HELPS)
def test_help_imports_neither_torch_nor_lightning(args: list[str]) -> None:
    modules = imported(*args)
    assert not modules & {"torch", "lightning", "torchmetrics", "datasets", "gensim", "textclf.lightning_cli"}
    assert not modules & {"litserve", "captum", "fastapi", "uvicorn", "optuna"}
    if args[0] == "--help":  # the list of subcommands imports no subcommand's module
        assert not modules & {"textclf.serve_cli", "textclf.explain_cli"}


def test_predict_imports_no_training_machinery(run_dir: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("a superb film\n")
    args = ["predict", str(run_dir / "checkpoints" / "best.ckpt"), str(texts), "-o", str(tmp_path / "out.jsonl")]
    modules = imported(*args)
    assert "textclf.model" in modules and (tmp_path / "out.jsonl").is_file()
    assert not modules & {"textclf.lightning_cli", "textclf.cv", "datasets", "gensim", "textclf.vectors.files"}


def test_export_options_match_the_exporter() -> None:
    from textclf import commands, export

    assert (commands.EXPORT_FORMATS, commands.DEFAULT_OPSET) == (export.EXPORT_FORMATS, export.DEFAULT_OPSET)


def test_the_lazy_package_lists_every_corpus_and_imports_each_name() -> None:
    import textclf
    import textclf.data.corpora

    assert set(textclf.data.corpora.__all__) <= set(textclf.__all__)
    for name in textclf.__all__:
        assert getattr(textclf, name) is not None


def test_test_ckpt_path_best_scores_the_newest_runs_best_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    """``test --ckpt_path best`` used to find no checkpoint in the new run, warn, and score untrained weights."""
    shutil.copytree(run_dir, tmp_path / "runs" / "custom" / "csv" / "version_0")  # a copy of the fit's run only
    args = [arg for arg in fit_args(tmp_path, "--ckpt_path=best")[1:] if "hidden_size" not in arg]
    cli = TextclfCLI(args=["test", *args])
    assert cli.config.test.ckpt_path == str(
        tmp_path / "runs" / "custom" / "csv" / "version_0" / "checkpoints" / "best.ckpt"
    )
    expected = json.loads((run_dir / "test_metrics.json").read_text())
    assert float(cli.trainer.callback_metrics["test/acc"]) == pytest.approx(expected["test/acc"], abs=1e-6)


def test_test_ckpt_path_last_without_a_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["test", *fit_args(tmp_path, "--ckpt_path=last")[1:]])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 2 and "--ckpt_path last: no " in last and "to score" in last

"""A run tells its story, quietly: corpus, model size, why it stopped, the best epoch, where the outputs are.

The story's numbers are checked against Lightning's own callbacks (ModelCheckpoint, EarlyStopping) and against the
validation scores the run logged, never against hard-coded values. The CLI runs are real processes, with
Python's default warning filters, so that Lightning's noise would show if it were there.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
import yaml
from factories import RECIPES, tiny_data, write_csv, write_vectors
from jsonargparse import Namespace
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from textclf import FileDataModule, RNNEncoder, TextClassifier
from textclf.runconfig import resume_in_run, run_name, set_default_logger
from textclf.story import RunStory

NOISE = ("LeafSpec", "litlogger", "litmodels", "💡", "dirpath has changed", "exists and is not empty")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """textclf's log records, whatever an earlier CLI run in this process did to the logger's propagation."""
    logger, handler = logging.getLogger("textclf"), Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def messages(records: list[logging.LogRecord], prefix: str) -> list[str]:
    return [r.getMessage() for r in records if r.getMessage().startswith(prefix)]


class ValScores(Callback):
    """The monitored validation score of every epoch, as the run logged it."""

    def __init__(self) -> None:
        self.scores: list[tuple[int, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.scores.append((trainer.current_epoch, float(trainer.callback_metrics["val/acc"])))


def python_fit(root: Path, max_epochs: int, patience: int, lr: float = 0.05) -> tuple[L.Trainer, ValScores]:
    """A plain Lightning fit of a TextClassifier (no textclf trainer set-up: RunStory comes from the model)."""
    torch.manual_seed(0)
    data = tiny_data(root, rows=80)
    model = TextClassifier.for_data(data, RNNEncoder(hidden_size=6), optimizer=partial(torch.optim.Adam, lr=lr))
    scores = ValScores()
    trainer = L.Trainer(
        max_epochs=max_epochs,
        callbacks=[
            ModelCheckpoint(monitor="val/acc", mode="max"),
            EarlyStopping("val/acc", patience=patience, mode="max"),
            scores,
        ],
        default_root_dir=str(root / "runs"),
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )
    trainer.fit(model, data)
    return trainer, scores


def test_an_early_stopped_fit_names_its_last_epoch_patience_and_best_epoch(tmp_path: Path, records: list) -> None:
    trainer, scores = python_fit(tmp_path, max_epochs=40, patience=2)
    stopper = next(c for c in trainer.callbacks if isinstance(c, EarlyStopping))
    checkpoint = trainer.checkpoint_callback
    assert isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_score is not None
    assert trainer.current_epoch < 40 and stopper.stopped_epoch > 0  # it did stop early
    [stopped] = messages(records, "stopped: ")
    assert stopped == (
        f"stopped: early stopping at epoch {stopper.stopped_epoch}: val/acc did not improve for "
        f"{stopper.wait_count} epochs (patience 2)"
    )
    best_score = max(score for _, score in scores.scores)
    best_epoch = next(epoch for epoch, score in scores.scores if score == best_score)  # the first one kept
    [best] = messages(records, "best: ")
    assert best.startswith(f"best: epoch {best_epoch}, val/acc {float(checkpoint.best_model_score):.4f} (")
    assert best.endswith(f"{Path(checkpoint.best_model_path).name})")
    assert scores.scores[-1][0] == stopper.stopped_epoch  # the story's epoch is the last one validated


def test_a_fit_that_runs_all_its_epochs_says_max_epochs(tmp_path: Path, records: list) -> None:
    python_fit(tmp_path, max_epochs=2, patience=10)
    assert messages(records, "stopped: ") == ["stopped: max_epochs (2) reached"]


def test_the_python_api_gets_the_info_lines_through_logging(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A plain Trainer, a TextClassifier and a data module: the corpus, coverage and story reach logging."""
    logging.getLogger("textclf").propagate = True  # as in a Python program (a CLI test may have run before)
    data = tiny_data(tmp_path, rows=40)
    model = TextClassifier.for_data(data, RNNEncoder(hidden_size=4))
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with caplog.at_level(logging.INFO):
        trainer.fit(model, data)
    text = [r.getMessage() for r in caplog.records if r.name.startswith("textclf")]
    sizes = {name: len(data.split(name)) for name in ("train", "val", "test")}
    assert any(line.startswith(f"FileDataModule: {sum(sizes.values())} texts, 2 classes: train {sizes['train']}, ")
               for line in text), text  # fmt: skip
    assert any(line.startswith("vectors cover ") for line in text), text
    assert "stopped: max_epochs (1) reached" in text
    assert any(isinstance(c, RunStory) for c in trainer.callbacks)  # added by TextClassifier.configure_callbacks


def test_a_second_run_on_cached_data_still_states_the_corpus(tmp_path: Path, records: list) -> None:
    train, vectors = write_csv(tmp_path / "train.csv", rows=50), write_vectors(tmp_path / "vectors.txt")
    FileDataModule(str(train), vectors=str(vectors), cache_dir=str(tmp_path / "cache")).prepare()
    built = messages(records, "FileDataModule: ")
    records.clear()
    second = FileDataModule(str(train), vectors=str(vectors), cache_dir=str(tmp_path / "cache"))
    second.prepare()
    assert messages(records, "FileDataModule: ") == built
    sizes = [len(second.split(name)) for name in ("train", "val", "test")]
    assert built[0] == (
        f"FileDataModule: {sum(sizes)} texts, 2 classes: train {sizes[0]}, val {sizes[1]} (held out of train, "
        f"val_fraction 0.1), test {sizes[2]} (held out of train, test_fraction 0.1)"
    )
    [vocabulary] = messages(records, "vocabulary: ")
    assert vocabulary.startswith(f"vocabulary: {len(second.vocab)} words; using prepared data from ")


def test_python_users_see_the_lines_on_stderr_unless_logging_is_configured_or_turned_down() -> None:
    script = """if True:
        import logging, sys
        import textclf.logs
        log = logging.getLogger("textclf.data.base")
        log.info("one")
        logging.getLogger("textclf").setLevel(logging.WARNING)
        log.info("hidden")
        logging.getLogger("textclf").setLevel(logging.INFO)
        logging.basicConfig(format="app %(message)s", stream=sys.stderr)
        log.info("two")
        """
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["textclf: one", "app two"]


# ---- the CLI, in real processes -------------------------------------------------------------------------------


CLI_SCRIPT = """if True:
    import sys
    from textclf.cli import main
    for args in sys.argv[1:]:
        print("=== " + args, file=sys.stderr, flush=True)
        main(args.split("\\t"))
"""


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A recipe kept outside recipes/: fit it, resume it with --ckpt_path last, test its best checkpoint.

    The three commands run in one fresh process (one start-up), with Python's default warning filters; their
    stderr is split at the ``=== ARGS`` lines the script writes between them.
    """
    root = tmp_path_factory.mktemp("cli")
    recipe = root / "exp" / "cr_bilstm.yaml"
    recipe.parent.mkdir()
    recipe.write_text(yaml.safe_dump({
        "seed_everything": 42,
        "trainer": str(RECIPES / "_base" / "trainer.yaml"),
        "model": str(RECIPES / "_base" / "bilstm_max.yaml"),
        "data": {"class_path": "textclf.FileDataModule", "init_args": {
            "train": str(write_csv(root / "train.csv", rows=60)), "test": str(write_csv(root / "test.csv", 20, 1)),
            "vectors": str(write_vectors(root / "vectors.txt")), "cache_dir": str(root / "cache")}},
    }))  # fmt: skip
    run = root / "runs" / "exp" / "cr_bilstm" / "version_0"  # its path under the working directory (root)
    common = ["-c", str(recipe), "--model.encoder.init_args.hidden_size=6", "--trainer.enable_progress_bar=false"]
    commands = {
        "fit": ["fit", *common, "--trainer.max_epochs=2"],
        "resumed": ["fit", *common, "--trainer.max_epochs=3", "--ckpt_path=last"],
        "test": ["test", *common, f"--ckpt_path={run / 'checkpoints' / 'best.ckpt'}"],
    }
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    result = subprocess.run([sys.executable, "-c", CLI_SCRIPT, *("\t".join(args) for args in commands.values())],
                            cwd=root, capture_output=True, text=True, env={**env, "OMP_NUM_THREADS": "1"},
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    parts = re.split(r"^=== .*$", result.stderr, flags=re.MULTILINE)[1:]
    return {"root": root, "run": run, **dict(zip(commands, parts, strict=True))}


def test_a_cli_run_tells_its_story_without_lightning_noise(cli_runs: dict[str, Any]) -> None:
    for name in ("fit", "resumed", "test"):
        noise = [line for line in cli_runs[name].splitlines() if any(word in line for word in NOISE)]
        assert not noise, (name, noise)
    lines = [line.removeprefix("textclf: ") for line in cli_runs["fit"].splitlines()]
    assert any(re.fullmatch(r"FileDataModule: 80 texts, 2 classes: train \d+, val \d+ \(held out of train, "
                            r"val_fraction 0\.1\), test 20", line) for line in lines), lines  # fmt: skip
    assert any(re.fullmatch(r"model: [\d,]+ parameters \([\d,]+ trainable, 0 frozen\): .*", line) for line in lines)
    assert "stopped: max_epochs (2) reached" in lines
    assert any(re.fullmatch(r"best: epoch [01], val/acc \d\.\d{4} \(.*best\.ckpt\)", line) for line in lines)
    outputs = "checkpoints/best.ckpt, checkpoints/last.ckpt, test_metrics.json, report/"
    assert f"written to {cli_runs['run']}: {outputs}" in lines
    assert not any("Trainable params" in line for line in lines)  # the one-line count replaces the summary table
    assert "stopped: max_epochs (3) reached" in cli_runs["resumed"]


def test_a_recipe_outside_recipes_names_its_runs_after_its_file_and_resumes_there(cli_runs: dict[str, Any]) -> None:
    runs = cli_runs["root"] / "runs"
    assert sorted(p.relative_to(runs).as_posix() for p in runs.glob("**/version_*")) == [
        "exp/cr_bilstm/version_0",  # fit, then its resume (--ckpt_path last)
        "exp/cr_bilstm/version_1",  # test
    ]
    assert (cli_runs["run"] / "test_metrics.1.json").is_file()  # the resumed fit tested again, in its own run


@pytest.mark.parametrize(
    ("recipe", "name"),
    [
        ("recipes/trec/bilstm_max.yaml", "trec/bilstm_max"),
        ("recipes/my_cr.yaml", "my_cr"),  # not recipes/my_cr
        ("project/recipes/custom/deep/csv.yaml", "custom/deep/csv"),
        ("exp/cr_bilstm.yaml", "cr_bilstm"),
        ("cr_bilstm.yaml", "cr_bilstm"),
    ],
)
def test_run_names_follow_the_recipe_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, recipe: str, name: str
) -> None:
    path = tmp_path / recipe
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("model: {}\n")
    monkeypatch.chdir(path.parent)
    assert run_name(Path(path.name)) == name
    config = Namespace(trainer=Namespace(logger=None, default_root_dir=None), config=[path.name])
    set_default_logger(config)
    assert config.trainer.logger.init_args.name == name


def test_recipes_of_the_same_name_in_two_folders_never_share_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``a/recipe.yaml`` and ``c/recipe.yaml`` were both ``runs/recipe``: a resume of one continued the other."""
    for folder in ("a", "c"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "recipe.yaml").write_text("model: {}\n")
    monkeypatch.chdir(tmp_path)
    assert run_name(Path("a/recipe.yaml")) == "a/recipe" and run_name(Path("c/recipe.yaml")) == "c/recipe"


def test_ckpt_path_last_finds_a_run_named_the_earlier_way(tmp_path: Path) -> None:
    """Runs of recipes/my_cr.yaml used to go to runs/recipes/my_cr: --ckpt_path last still continues them."""
    recipe = tmp_path / "recipes" / "my_cr.yaml"
    recipe.parent.mkdir()
    recipe.write_text("model: {}\n")
    last = tmp_path / "runs" / "recipes" / "my_cr" / "version_3" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    config = Namespace(trainer=Namespace(logger=None, default_root_dir=str(tmp_path / "runs")), config=[str(recipe)],
                       ckpt_path="last")  # fmt: skip
    set_default_logger(config)
    resume_in_run(config)
    args = config.trainer.logger.init_args
    assert config.ckpt_path == str(last)
    assert Path(args.save_dir) / args.name / f"version_{args.version}" == last.parents[1]  # continued there


def test_a_resume_keeps_the_runs_config_and_writes_its_own_beside_it(cli_runs: dict[str, Any]) -> None:
    """A resume with other options used to overwrite the run's config.yaml: what the run was started with was lost."""
    run = cli_runs["run"]
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["max_epochs"] == 2  # the first fit's
    assert yaml.safe_load((run / "config.1.yaml").read_text())["trainer"]["max_epochs"] == 3  # the resume's

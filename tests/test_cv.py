"""``textclf cv``: k-fold cross-validation of a recipe in one command (:mod:`textclf.cv`).

One tiny CSV corpus without a test file, 3 folds of 1 epoch: the folds' test sets partition the corpus, the summary
is the mean and sample std of the folds' test_metrics.json, ``--resume`` trains only what is missing and continues a
stopped fold from its last.ckpt, and corpora with their own test split are refused in one line.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path

import lightning as L
import numpy as np
import pytest
from factories import QUIET_TRAINER_ARGS, RECIPES, write_csv

from textclf.cv import main
from textclf.errors import TextclfError

ROWS = 60
RUNS = Path("custom") / "csv"  # runs/<recipe folder>/<recipe name> of recipes/custom/csv.yaml


def cv_args(root: Path, *extra: str) -> list[str]:
    """``textclf cv`` arguments: the custom CSV recipe on a 60-row train file only, a tiny model, 1 epoch."""
    train = root / "train.csv"
    if not train.exists():
        write_csv(train, rows=ROWS)
    return [
        "-c",
        str(RECIPES / "custom" / "csv.yaml"),
        f"--data.init_args.train={train}",
        "--data.init_args.vectors=null",
        "--data.init_args.batch_size=8",
        f"--data.init_args.cache_dir={root / 'cache'}",
        "--model.embedding_dim=8",
        "--model.encoder.init_args.hidden_size=8",
        "--trainer.max_epochs=1",
        f"--trainer.default_root_dir={root / 'runs'}",
        *QUIET_TRAINER_ARGS,
        *extra,
    ]


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Trainer.fit of the test, by run directory (a counter of trainings)."""
    calls: list[str] = []
    fit = L.Trainer.fit

    @functools.wraps(fit)  # LightningCLI reads fit's signature for the fit options (--ckpt_path)
    def counting(self: L.Trainer, *args: object, **kwargs: object) -> None:
        calls.append(Path(self.log_dir or ".").name)
        fit(self, *args, **kwargs)

    monkeypatch.setattr(L.Trainer, "fit", counting)
    return calls


def fold_test_texts(cache: Path, fold: int, folds: int) -> list[str]:
    """The texts of the test split that fold ``fold`` prepared (the cache entry its fit used)."""
    found = []
    for meta in (cache / "data").glob("*/meta.json"):
        if json.loads(meta.read_text())["settings"]["fold"] == [fold, folds]:
            found.append([json.loads(line) for line in (meta.parent / "test.texts.jsonl").read_text().splitlines()])
    assert len(found) == 1, f"fold {fold}: {len(found)} prepared entries"
    return found[0]


def test_cv_folds_partition_the_corpus_summary_and_resume(tmp_path: Path, fits: list[str], one_thread: None) -> None:
    cv_dir = tmp_path / "runs" / RUNS / "cv_0"
    main([*cv_args(tmp_path), "--folds", "3", "--only", "0"])  # a cv run that stopped after fold 0
    assert fits == ["fold_0"]
    partial = json.loads((cv_dir / "summary.json").read_text())
    assert partial["folds"] == 3 and partial["folds_done"] == [0] and partial["std_dev"]["test/acc"] is None
    fold_0 = [cv_dir / "fold_0" / name for name in ("test_metrics.json", "cv_fold.json", "checkpoints/best.ckpt")]
    before = [path.stat().st_mtime_ns for path in fold_0]

    main([*cv_args(tmp_path), "--resume"])  # trains folds 1 and 2 only, into the same cv directory
    assert fits == ["fold_0", "fold_1", "fold_2"]
    assert [path.stat().st_mtime_ns for path in fold_0] == before
    assert not (tmp_path / "runs" / RUNS / "cv_1").exists()

    # every row is tested exactly once: the folds' prepared test splits are the corpus, split three ways
    with (tmp_path / "train.csv").open(newline="", encoding="utf-8") as handle:
        corpus = [row["text"] for row in csv.DictReader(handle)]
    tested = [fold_test_texts(tmp_path / "cache", fold, 3) for fold in range(3)]
    assert sorted(text for texts in tested for text in texts) == sorted(corpus)
    assert all(abs(len(texts) - ROWS / 3) <= 2 for texts in tested)  # stratified deal: near-equal folds
    reports = [json.loads((cv_dir / f"fold_{k}" / "report" / "metrics.json").read_text())["n"] for k in range(3)]
    assert reports == [len(texts) for texts in tested]

    # the summary is the mean and sample std (ddof=1) of the folds' test_metrics.json
    summary = json.loads((cv_dir / "summary.json").read_text())
    per_fold = [json.loads((cv_dir / f"fold_{k}" / "test_metrics.json").read_text()) for k in range(3)]
    assert summary["folds_done"] == [0, 1, 2] and summary["seed"] == 42 and "ddof=1" in summary["std"]
    assert set(summary["mean"]) == {key for key in per_fold[0] if key != "checkpoint"}
    for name in summary["mean"]:
        values = np.array([metrics[name] for metrics in per_fold])
        assert summary["mean"][name] == pytest.approx(values.mean(), abs=1e-12)
        assert summary["std_dev"][name] == pytest.approx(values.std(ddof=1), abs=1e-12)
        assert [row[name] for row in summary["per_fold"]] == list(values)
    assert all(row["wall_s"] > 0 for row in summary["per_fold"])
    with (cv_dir / "summary.csv").open(newline="") as handle:
        rows = {row["fold"]: row for row in csv.DictReader(handle)}
    assert float(rows["mean"]["test/acc"]) == summary["mean"]["test/acc"]
    assert float(rows["std"]["test/acc"]) == summary["std_dev"]["test/acc"]

    # a fold stopped after training but before its test continues from its last.ckpt: no new epoch, same scores
    for name in ("test_metrics.json", "cv_fold.json"):
        (cv_dir / "fold_2" / name).unlink()
    main([*cv_args(tmp_path), "--resume"])
    assert fits[3:] == ["fold_2"]
    assert json.loads((cv_dir / "fold_2" / "cv_fold.json").read_text())["resumed"] is True
    again = json.loads((cv_dir / "fold_2" / "test_metrics.json").read_text())
    assert {k: v for k, v in again.items() if k != "checkpoint"} == {
        k: v for k, v in per_fold[2].items() if k != "checkpoint"
    }

    main([*cv_args(tmp_path), "--resume"])  # everything finished: nothing trains, the summary is printed again
    assert len(fits) == 4


def test_cv_refuses_a_corpus_with_its_own_test_split(tmp_path: Path, fits: list[str]) -> None:
    test = write_csv(tmp_path / "test.csv", rows=20, seed=1)
    with pytest.raises(TextclfError, match=r"^FileDataModule has its own test split \(.*test\.csv\); textclf cv is"):
        main([*cv_args(tmp_path), f"--data.init_args.test={test}"])
    assert fits == [] and not (tmp_path / "runs").exists()


def test_cv_refuses_trec(tmp_path: Path, real_data: Path, fits: list[str]) -> None:
    recipe = str(RECIPES / "trec" / "bilstm_max.yaml")
    with pytest.raises(TextclfError, match=r"^TREC has its own test split \(.*TREC\.test.*\); textclf cv is for"):
        main(
            ["-c", recipe, f"--data.init_args.data_dir={real_data / 'trec'}", f"--trainer.default_root_dir={tmp_path}"]
        )
    assert fits == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--folds", "1"], r"^--folds 1: cross-validation needs at least 2 folds"),
        (["--folds", "ten"], r"^--folds ten: not a whole number$"),
        (["--only", "12"], r"^--only 12: the folds of this run are 0 to 9 \(--folds 10\)$"),
        (["--only", "0,x"], r"^--only 0,x: give fold numbers separated by commas"),
        (["--data.init_args.fold=3"], r"^--data.init_args.fold is set by textclf cv for every fold; use --only$"),
        (["--ckpt_path", "last"], r"^--ckpt_path is set by textclf cv for every fold; use --resume$"),
        (["--resume"], r"^--resume: no cv run of this recipe in .*custom/csv to continue; start one without"),
    ],
)
def test_cv_user_errors_are_one_line(tmp_path: Path, fits: list[str], extra: list[str], message: str) -> None:
    with pytest.raises(TextclfError, match=message) as error:
        main([*cv_args(tmp_path), *extra])
    assert "\n" not in str(error.value)
    assert fits == [] and not list((tmp_path / "runs").glob("*/*/cv_*"))


def test_cv_missing_recipe_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(TextclfError, match=r"^recipe .*nowhere\.yaml: no such file$"):
        main(["-c", str(tmp_path / "nowhere.yaml"), "--folds", "10"])
    with pytest.raises(TextclfError, match=r"^textclf cv needs a recipe: textclf cv -c RECIPE"):
        main(["--folds", "10"])


def test_textclf_cv_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from textclf.cli import main as textclf

    with pytest.raises(SystemExit) as exit_info:
        textclf(["cv", *cv_args(tmp_path), "--folds", "1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "textclf: error: --folds 1: cross-validation needs at least 2 folds (a test fold and the rest)"
    )


def test_cv_resume_refuses_other_fit_arguments(tmp_path: Path, fits: list[str], one_thread: None) -> None:
    (tmp_path / "runs" / RUNS / "cv_0").mkdir(parents=True)
    started = cv_args(tmp_path)
    (tmp_path / "runs" / RUNS / "cv_0" / "cv.json").write_text(json.dumps({"folds": 3, "fit_arguments": started}))
    with pytest.raises(TextclfError, match=r"^--resume: .*cv_0 was started with the fit arguments .*give the same"):
        main([*cv_args(tmp_path, "--trainer.max_epochs=2"), "--resume"])
    with pytest.raises(TextclfError, match=r"^--resume: .*cv_0 runs 3 folds, not --folds 5$"):
        main([*started, "--resume", "--folds", "5"])
    assert fits == []

"""``textclf tune``: an Optuna study of tiny fits (:mod:`textclf.tune`, :mod:`textclf.tune_space`).

A 60-row CSV corpus, a tiny model, 1 epoch a trial: a study continued to 2 trials writes study.db and a best.yaml that
``textclf fit -c best.yaml`` parses with the best trial's values; a study whose process is killed mid-trial resumes,
failing the dead trial and trying its values again; a bad search file and a missing extra are one-line errors.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from factories import QUIET_TRAINER_ARGS, RECIPES, printed_config, write_csv

from textclf.errors import TextclfError
from textclf.tune import MISSING, main

TUNE = Path("custom") / "csv" / "tune_study"  # runs/<run name of recipes/custom/csv.yaml>/tune_<study>
SEARCH = {
    "metric": "val/acc",
    "direction": "maximize",
    "space": {
        "model.dropout": {"type": "float", "low": 0.1, "high": 0.5},
        "model.encoder.init_args.hidden_size": {"type": "categorical", "choices": [4, 6]},
    },
}


def tune_args(root: Path, *extra: str, search: dict | None = None) -> list[str]:
    """``textclf tune`` arguments: the custom CSV recipe on a 60-row train file, a tiny model, the search file."""
    train = root / "train.csv"
    if not train.exists():
        write_csv(train, rows=60)
    search_file = root / "search.yaml"
    search_file.write_text(yaml.safe_dump({"search": search or SEARCH}))
    return [
        "-c",
        str(RECIPES / "custom" / "csv.yaml"),
        "-c",
        str(search_file),
        f"--data.init_args.train={train}",
        "--data.init_args.vectors=null",
        "--data.init_args.batch_size=8",
        f"--data.init_args.cache_dir={root / 'cache'}",
        "--model.embedding_dim=8",
        f"--trainer.default_root_dir={root / 'runs'}",
        *QUIET_TRAINER_ARGS,
        *extra,
    ]


def load(tune_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name="study", storage=f"sqlite:///{tune_dir / 'study.db'}")


def states(study: optuna.Study) -> list[str]:
    return [trial.state.name for trial in study.get_trials()]


def test_study_continues_to_n_trials_and_best_yaml_is_a_recipe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    tune_dir = tmp_path / "runs" / TUNE
    main([*tune_args(tmp_path, "--trainer.max_epochs=1"), "--n_trials", "1"])
    assert states(load(tune_dir)) == ["COMPLETE"] and (tune_dir / "best.yaml").is_file()
    main([*tune_args(tmp_path, "--trainer.max_epochs=1"), "--n_trials=2"])  # the same study, continued to 2 in all
    study = load(tune_dir)
    assert states(study) == ["COMPLETE", "COMPLETE"]
    assert [trial.number for trial in study.trials] == [0, 1]
    assert all((tune_dir / f"trial_{n}" / "checkpoints" / "best.ckpt").is_file() for n in (0, 1))
    table = capsys.readouterr().out
    assert "trial  state     val/acc  epochs  dropout  hidden_size" in table and "best.yaml" in table

    best = study.best_trial
    config = printed_config(capsys, ["fit", "-c", str(tune_dir / "best.yaml")])
    assert config["model"]["dropout"] == pytest.approx(best.params["model.dropout"])
    assert config["model"]["encoder"]["init_args"]["hidden_size"] == best.params["model.encoder.init_args.hidden_size"]
    assert config["trainer"]["max_epochs"] == 1  # what the trial ran
    logger = config["trainer"]["logger"]["init_args"]  # a new run of the recipe, not into the tune folder
    assert (logger["save_dir"], logger["name"]) == (str(tmp_path / "runs"), "custom/csv")
    recipe = str(RECIPES / "custom" / "csv.yaml")
    layered = printed_config(capsys, ["fit", "-c", recipe, "-c", str(tune_dir / "best.yaml")])
    assert layered["model"]["dropout"] == pytest.approx(best.params["model.dropout"])

    main([*tune_args(tmp_path, "--trainer.max_epochs=1"), "--n_trials=2"])  # already done: no trial runs
    assert len(load(tune_dir).trials) == 2


def test_a_study_killed_mid_trial_resumes(tmp_path: Path, one_thread: None) -> None:
    tune_dir = tmp_path / "runs" / TUNE
    args = tune_args(tmp_path, "--n_trials=1")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "textclf", "tune", *args, "--trainer.max_epochs=500"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (tune_dir / "trial_0" / "checkpoints" / "last.ckpt").is_file():  # trial 0 has run an epoch
            assert process.poll() is None and time.monotonic() < deadline, "the tune process ended or never trained"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)  # no handler runs: trial 0 stays RUNNING in study.db
        process.wait()
    assert states(load(tune_dir)) == ["RUNNING"]

    main([*tune_args(tmp_path, "--trainer.max_epochs=1"), "--n_trials=1"])
    study = load(tune_dir)
    assert states(study) == ["FAIL", "COMPLETE"]
    assert study.trials[1].params == study.trials[0].params  # the killed trial's values, tried again
    assert (tune_dir / "best.yaml").is_file()


BAD = [
    ({"space": {"model.dropout": {"type": "normal", "low": 0, "high": 1}}}, "unknown type 'normal'"),
    ({"space": {"model.dropout": {"type": "float", "low": 0.5, "high": 0.1}}}, "low 0.5 must be below high 0.1"),
    ({"space": {"model.dropout": {"type": "categorical", "choices": []}}}, "choices must be a non-empty list"),
    ({"space": {"model.dropout": {"type": "float", "low": 0, "high": 1, "log": True}}}, "log: true needs low above 0"),
    ({"space": {"model.dropout": {"type": "float", "high": 1}}}, "low must be a number"),
    ({"space": {}}, "search.space must map override paths"),
    ({"space": {"trainer.logger": {"type": "categorical", "choices": [1]}}}, "set by textclf tune"),
    ({"direction": "up", "space": {"model.dropout": {"type": "float", "low": 0, "high": 1}}}, "maximize or minimize"),
]


@pytest.mark.parametrize(("search", "message"), BAD)
def test_a_bad_search_file_is_one_line(tmp_path: Path, search: dict, message: str) -> None:
    with pytest.raises(TextclfError) as error:
        main(tune_args(tmp_path, search=search))
    assert message in str(error.value) and "search.yaml" in str(error.value) and "\n" not in str(error.value)


def test_the_command_line_says_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from textclf.cli import main as textclf

    args = tune_args(tmp_path, search={"space": {"model.dropout": {"type": "float", "low": 1, "high": 1}}})
    with pytest.raises(SystemExit) as exit_info:
        textclf(["tune", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("textclf: error: search file ") and "low 1 must be below high 1" in err
    assert "\n" not in err
    with pytest.raises(SystemExit):
        textclf(["tune", "-c", str(RECIPES / "custom" / "csv.yaml")])
    assert "needs a search file" in capsys.readouterr().err


def test_without_optuna_it_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    with pytest.raises(TextclfError, match="pip install 'textclf\\[tune\\]'"):
        main(tune_args(tmp_path))
    assert MISSING == "textclf tune needs the tune extra: pip install 'textclf[tune]'"


def test_fixed_overrides_come_after_the_recipes_and_before_the_command_line() -> None:
    from textclf.tune import with_fixed

    args = ["-c", "recipe.yaml", "-c", "layer.yaml", "--trainer.max_epochs=1"]
    fixed = ["--trainer.max_epochs=4"]
    assert with_fixed(args, fixed) == ["-c", "recipe.yaml", "-c", "layer.yaml", *fixed, "--trainer.max_epochs=1"]


def test_a_search_file_that_is_not_valid_yaml_names_its_line(tmp_path: Path) -> None:
    """An unclosed brace was reported as "textclf tune needs a search file", hiding the YAML error."""
    args = tune_args(tmp_path)
    (tmp_path / "search.yaml").write_text("search:\n  space: {model.dropout: {type: float, low: 0.1\n")
    with pytest.raises(TextclfError, match=r"search file .*search\.yaml, line \d+, column \d+: not valid YAML"):
        main(args)

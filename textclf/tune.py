"""``textclf tune``: hyperparameter search over any recipe key with Optuna (docs/tuning.md).

Every trial is a real ``textclf fit`` of the recipe, in this process (as :mod:`textclf.cv` runs its folds), with the
trial's values as command-line overrides (``--model.dropout=0.31``, :mod:`textclf.tune_space`), into
``runs/<run name>/tune_<study>/trial_N/`` (a complete run directory). Optuna's Lightning pruning callback reports the
search metric at every validation and stops a trial that falls below the median of earlier trials at that epoch
(MedianPruner). A trial's value is the best epoch's value of the metric.

The study lives in ``tune_<study>/study.db`` (SQLite; ``--storage`` for another database), opened with
``load_if_exists``: the same command continues it, and ``--n_trials`` counts the study's finished (complete or
pruned) trials in all, whichever process ran them. A trial left RUNNING by a killed process of this machine is marked
failed and its values are tried again first; on other machines, Optuna's heartbeat fails it after
:data:`GRACE_S`. After every trial ``best.yaml`` is rewritten: the best trial's config.yaml with the recipe's own
logger, so ``textclf fit -c best.yaml`` trains it as a run of the recipe.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import yaml

from textclf.errors import TextclfError
from textclf.tune_space import Search, TuneOptions, first_values, override, parse_args, suggest

log = logging.getLogger("textclf")

HEARTBEAT_S = 60
GRACE_S = 300  # a RUNNING trial whose process sent no heartbeat for this long is failed (and retried once)
MISSING = "textclf tune needs the tune extra: pip install 'textclf[tune]'"
FINISHED = ("COMPLETE", "PRUNED")


def main(argv: list[str]) -> None:
    """``textclf tune ARGS``: run trials until the study has ``--n_trials`` finished ones, write best.yaml, print them.

    Raises:
        TextclfError: a user error in one line (:func:`textclf.tune_space.parse_args`, an override the recipe does
            not have, a metric the fit never logs), or the tune extra is not installed.
        SystemExit: 143 when SIGTERM stopped a trial (the same command continues the study).
    """
    from textclf.logs import setup_logging

    setup_logging()
    options = parse_args(argv)  # --help and a bad search file need no Optuna
    try:
        import optuna
        import optuna_integration  # noqa: F401
    except ImportError:
        raise TextclfError(MISSING) from None
    from textclf.cv import fit_config, runs_root

    search = options.search
    assert search is not None
    fit_args = with_fixed(options.fit_args, [override(key, value) for key, value in search.fixed.items()])
    config = fit_config([*fit_args, *(override(k, v) for k, v in first_values(search.space).items())])
    tune_dir = runs_root(config) / f"tune_{options.study}"
    tune_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(options, search, tune_dir, int(config.get("seed_everything") or 0))
    logger = config.trainer.logger.as_dict() if hasattr(config.trainer.logger, "as_dict") else config.trainer.logger
    retry_dead_trials(study)
    done = _count(study, FINISHED)
    if done >= options.n_trials:
        log.info("study %s already has %d finished trials (--n_trials %d)", options.study, done, options.n_trials)
    else:
        log.info("study %s in %s: %d of %d trials finished", options.study, tune_dir, done, options.n_trials)
        states = tuple(getattr(optuna.trial.TrialState, state) for state in FINISHED)

        def after_trial(study: Any, trial: Any) -> None:
            write_best(study, search, tune_dir, logger)

        from lightning.pytorch.utilities.exceptions import SIGTERMException

        from textclf.resume import SIGTERM_EXIT

        try:
            study.optimize(
                lambda trial: run_trial(trial, search, tune_dir, fit_args),
                n_trials=options.n_trials - done,
                timeout=options.timeout,
                callbacks=[optuna.study.MaxTrialsCallback(options.n_trials, states=states), after_trial],
                gc_after_trial=True,
            )
        except SIGTERMException:
            log.info("tune: stopped by SIGTERM; the same textclf tune command continues the study")
            raise SystemExit(SIGTERM_EXIT) from None
    best = write_best(study, search, tune_dir, logger)
    print(table(study, search))
    if best is not None:
        print(f"best: {best} (textclf fit -c {best}); study: {options.storage or tune_dir / 'study.db'}")


def with_fixed(fit_args: list[str], fixed: list[str]) -> list[str]:
    """``fit_args`` with the search file's ``fixed`` overrides after the last ``-c`` file: the command line wins."""
    configs = [i for i, token in enumerate(fit_args) if token in ("-c", "--config")]
    at = configs[-1] + 2 if configs else 0
    return [*fit_args[:at], *fixed, *fit_args[at:]]


def open_study(options: TuneOptions, search: Search, tune_dir: Path, seed: int) -> Any:
    """The study ``--study`` in ``--storage`` (default: SQLite in ``tune_dir``), created or continued."""
    import optuna

    url = options.storage or f"sqlite:///{tune_dir / 'study.db'}"
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}  # wait for another process's write
    retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)  # Optuna >= 4.9
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna's words
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if retry is not None:
                stale: dict[str, Any] = {"heartbeat_stale_trial_callback": retry(max_retry=1)}
            else:
                stale = {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=1)}
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S, **stale
            )
    except Exception as e:  # a bad URL, a missing database driver, an unreadable file
        raise TextclfError(f"--storage {url}: {str(e).splitlines()[0]}") from None
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials, n_warmup_steps=search.warmup_epochs)
        if search.prune
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        study_name=options.study,
        storage=storage,
        direction=search.direction,  # type: ignore[arg-type]  # checked: maximize or minimize
        pruner=pruner,
        load_if_exists=True,
    )
    if study.direction.name.lower() != search.direction:
        found = study.direction.name.lower()
        raise TextclfError(f"study {options.study} in {url} is to {found}, not {search.direction}")
    # seeded by the recipe's seed and how far the study is: a resumed study (or a second process started after the
    # first has begun a trial) does not repeat the first suggestions
    study.sampler = optuna.samplers.TPESampler(seed=seed * 1000 + len(study.trials))
    return study


def retry_dead_trials(study: Any) -> None:
    """Fail the study's RUNNING trials whose process on this machine is gone, and queue their values again."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") != host or not isinstance(pid, int) or _alive(pid):
            continue  # another machine's (Optuna's heartbeat fails it when that process is gone), or still running
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)
        log.info("trial %d: its process (%d) is gone; marked failed, its values are tried again", trial.number, pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_trial(trial: Any, search: Search, tune_dir: Path, fit_args: list[str]) -> float:
    """Train one trial into ``tune_dir/trial_N`` and return the best epoch's value of the search metric.

    Raises:
        optuna.TrialPruned: the pruner stopped it at a validation.
        TextclfError: the fit never logged the search metric.
    """
    from optuna_integration import PyTorchLightningPruningCallback

    from textclf.cv import _cli_argv
    from textclf.lightning_cli import TextclfCLI

    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    values = suggest(trial, search.space)
    directory = tune_dir / f"trial_{trial.number}"
    logger = {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": str(tune_dir.parent), "name": tune_dir.name, "version": directory.name},
    }
    args = ["fit", *fit_args, *(override(key, value) for key, value in values.items())]
    args.append(f"--trainer.logger={json.dumps(logger)}")
    best = best_value(search.metric, search.direction)
    callbacks: list[Any] = [best]
    if search.prune:
        callbacks.append(PyTorchLightningPruningCallback(trial, monitor=search.metric))

    class TrialCLI(TextclfCLI):
        def instantiate_classes(self) -> None:
            super().instantiate_classes()
            self.trainer.callbacks.extend(callbacks)  # type: ignore[attr-defined]

    shown = ", ".join(f"{key} {_shown(value)}" for key, value in values.items())
    log.info("trial %d: %s, training into %s", trial.number, shown, directory)
    with _cli_argv():
        cli = TrialCLI(args=args)
    del cli
    gc.collect()
    if best.value is None:
        raise TextclfError(f"{search.path}: search.metric {search.metric} was never logged by a validation of the fit "
                           f"(logged: {', '.join(best.seen) or 'nothing'})")  # fmt: skip
    trial.set_user_attr("best_epoch", best.epoch)
    trial.set_user_attr("epochs", best.epochs)
    log.info("trial %d: %s %.4f (epoch %d)", trial.number, search.metric, best.value, best.epoch)
    return best.value


def best_value(metric: str, direction: str) -> Any:
    """A Lightning callback keeping the best value of ``metric`` over a fit's validations (not the sanity check's).

    Its ``value`` (None until the metric is logged), ``epoch`` (0-based, of that value), ``epochs`` (validated) and
    ``seen`` (the metrics of the last validation). Defined here so that ``textclf tune --help`` imports no Lightning.
    """
    from lightning.pytorch import Callback

    class BestValue(Callback):
        def __init__(self) -> None:
            self.sign = 1.0 if direction == "maximize" else -1.0
            self.value: float | None = None
            self.epoch = self.epochs = 0
            self.seen: list[str] = []

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            self.seen = sorted(trainer.callback_metrics)
            self.epochs = trainer.current_epoch + 1
            current = trainer.callback_metrics.get(metric)
            if current is not None and (self.value is None or self.sign * (float(current) - self.value) > 0):
                self.value, self.epoch = float(current), trainer.current_epoch

    return BestValue()


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _count(study: Any, states: tuple[str, ...]) -> int:
    return sum(trial.state.name in states for trial in study.get_trials(deepcopy=False))


def write_best(study: Any, search: Search, tune_dir: Path, logger: Any) -> Path | None:
    """Write ``tune_dir/best.yaml``: the best complete trial's config.yaml with the recipe's own logger.

    ``textclf fit -c best.yaml`` then trains that trial's configuration as a new run of the recipe
    (``runs/<run name>/version_N``). None (nothing written) while no trial is complete or its folder is elsewhere.
    """
    complete = [trial for trial in study.get_trials(deepcopy=False) if trial.state.name == "COMPLETE"]
    if not complete:
        return None
    best = study.best_trial
    source = tune_dir / f"trial_{best.number}" / "config.yaml"
    if not source.is_file():
        log.warning("best trial %d: no %s (run on another machine?); best.yaml not written", best.number, source)
        return None
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config["trainer"]["logger"] = logger
    config.pop("ckpt_path", None)
    params = ", ".join(f"{key}={_shown(value)}" for key, value in best.params.items())
    header = (
        f"# textclf tune, study {study.study_name}: best of {len(complete)} complete trials is trial {best.number}, "
        f"{search.metric} {best.value:.4f} at epoch {best.user_attrs.get('best_epoch', '?')}\n# {params}\n"
        f"# train it: textclf fit -c {tune_dir / 'best.yaml'} (e.g. --trainer.max_epochs 30 to train longer)\n"
    )
    path = tune_dir / "best.yaml"
    partial = path.with_suffix(".yaml.partial")
    partial.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    partial.replace(path)  # a reader (or a second process) never sees half a file
    return path


def table(study: Any, search: Search) -> str:
    """The study's trials, one line each: number, state, value, epochs and the values of the space."""
    keys = list(search.space)
    header = ["trial", "state", search.metric, "epochs", *(key.rsplit(".", 1)[-1] for key in keys)]
    rows = [header]
    for trial in study.get_trials(deepcopy=False):
        value = trial.value if trial.value is not None else _last(trial.intermediate_values)
        epochs = trial.user_attrs.get("epochs", len(trial.intermediate_values) or "")
        shown = [_shown(trial.params[key]) if key in trial.params else "" for key in keys]
        rows.append([str(trial.number), trial.state.name.lower(), _shown_value(value), str(epochs), *shown])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)


def _last(values: dict[int, float]) -> float | None:
    return values[max(values)] if values else None


def _shown_value(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


if __name__ == "__main__":  # python -m textclf.tune ARGS
    try:
        main(sys.argv[1:])
    except TextclfError as e:
        print(f"textclf: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None

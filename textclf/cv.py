"""``textclf cv``: k-fold cross-validation of a recipe in one command (MR, Subj, CR, MPQA: 10 folds in the literature).

Every fold is a real ``textclf fit`` of the recipe with ``--data.init_args.fold K --data.init_args.num_folds N``:
the test split is fold K of a stratified partition seeded by the data's ``seed`` (the same partition for every fold
of a run, :func:`textclf.data.splits.stratified_folds`), val is held out of the other folds, and the best checkpoint
is tested. The folds run one after the other in this process (the imports, the tokenizer and anything cached in
memory stay warm; a process per fold would pay Lightning's ~6 s of imports each time).

Each run writes ``runs/<run name>/cv_N/`` (a new N every run, never an earlier one's): ``cv.json``
(what runs), ``fold_0/ ... fold_{N-1}/`` (complete fit run directories: config.yaml, checkpoints, metrics.csv,
test_metrics.json, report/), and ``summary.json`` + ``summary.csv`` (:mod:`textclf.cv_summary`), rewritten after
every fold. ``--resume`` continues the newest cv directory of the recipe: finished folds are skipped, the fold that
was running continues from its ``last.ckpt`` (as ``fit --ckpt_path``) or starts again when it has none.
"""

from __future__ import annotations

import gc
import json
import logging
import re
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jsonargparse import Namespace

from textclf.cv_args import CvOptions, parse_args
from textclf.cv_summary import CV_FILE, FOLD_FILE, fold_dir, fold_metrics, table, write_json, write_summary
from textclf.errors import TextclfError

log = logging.getLogger("textclf")

CV_DIR = re.compile(r"cv_(\d+)")


def main(argv: list[str]) -> None:
    """``textclf cv ARGS``: run the folds, write the summary, print the table (see the module docstring).

    Raises:
        TextclfError: a user error, in one line (see :func:`parse_args`, :func:`check_no_test_split`); a
            ``--resume`` with no cv run to continue or other fit arguments than the run it continues.
    """
    from textclf.logs import setup_logging

    setup_logging()
    options = parse_args(argv)
    config = fit_config(options.fit_args)
    root = runs_root(config)
    if options.resume:
        cv_dir, run = _resumed(root, options)
        selected = _selected(options.only, int(run["folds"]))
    else:
        folds = options.folds or int(config.data.init_args.get("num_folds") or 10)
        selected = _selected(options.only, folds)
        check_no_test_split(config.data)
        cv_dir = new_cv_dir(root)
        run = {
            "corpus": str(config.data.class_path),
            "recipe": str(config.trainer.logger.init_args.name) if _csv_name(config) else options.configs[-1],
            "configs": options.configs,
            "command": "textclf cv " + shlex.join(argv),
            "fit_arguments": options.fit_args,
            "folds": folds,
            "seed": int(config.data.init_args.get("seed", 42)),
        }
        write_json(cv_dir / CV_FILE, run)
    folds = int(run["folds"])
    log.info("cross-validation of %s: %s in %s", run["corpus"], _folds_text(selected, folds), cv_dir)
    for fold in selected:
        run_fold(cv_dir, fold, folds, options.fit_args)
        write_summary(cv_dir)
    summary = write_summary(cv_dir)
    print(table(summary))
    print(f"summary: {cv_dir / 'summary.json'} and summary.csv (every test metric per fold, mean and std)")


def _selected(only: list[int] | None, folds: int) -> list[int]:
    """The folds to run: ``--only``'s (checked against ``folds``), else all."""
    if only is None:
        return list(range(folds))
    if only[-1] >= folds:
        raise TextclfError(f"--only {only[-1]}: the folds of this run are 0 to {folds - 1} (--folds {folds})")
    return only


def _folds_text(selected: list[int], folds: int) -> str:
    if len(selected) == folds:
        return f"{folds} folds"
    return f"fold{'s' if len(selected) > 1 else ''} {', '.join(map(str, selected))} of {folds}"


def fit_config(fit_args: list[str]) -> Namespace:
    """The ``fit`` configuration of ``fit_args`` as it would run (parsed and resolved; nothing instantiated)."""
    from textclf.lightning_cli import TextclfCLI

    class ConfigOnly(TextclfCLI):
        def _set_seed(self) -> None:
            pass

        def before_instantiate_classes(self) -> None:
            pass

        def instantiate_classes(self) -> None:
            pass

        def _run_subcommand(self, subcommand: str) -> None:
            pass

    with _cli_argv():
        config: Namespace = ConfigOnly(args=["fit", *fit_args]).config["fit"]
    return config


@contextmanager
def _cli_argv() -> Iterator[None]:
    """Hide ``textclf cv``'s own command line while a LightningCLI parses ``args`` (it warns when both are there)."""
    argv = sys.argv
    sys.argv = argv[:1]
    try:
        yield
    finally:
        sys.argv = argv


def _csv_name(config: Namespace) -> bool:
    logger = config.trainer.logger
    return isinstance(logger, Namespace) and bool(logger.get("init_args")) and "save_dir" in logger.init_args


def runs_root(config: Namespace) -> Path:
    """The folder of the recipe's runs, as its default logger names it: ``runs/<run name>``, absolute."""
    if _csv_name(config):
        args = config.trainer.logger.init_args
        return (Path(str(args.save_dir)) / str(args.get("name") or "")).resolve()
    return Path(str(config.trainer.get("default_root_dir") or "runs")).resolve() / "cv"


def new_cv_dir(root: Path) -> Path:
    """Create and return ``root/cv_N`` for the first N above every existing one (never an earlier run's folder)."""
    root.mkdir(parents=True, exist_ok=True)
    number = max(_cv_numbers(root), default=-1) + 1
    while True:
        try:
            (root / f"cv_{number}").mkdir()
        except FileExistsError:
            number += 1
            continue
        return root / f"cv_{number}"


def _cv_numbers(root: Path) -> list[int]:
    found = (CV_DIR.fullmatch(path.name) for path in root.iterdir()) if root.is_dir() else iter(())
    return [int(match.group(1)) for match in found if match]


def _resumed(root: Path, options: CvOptions) -> tuple[Path, dict[str, Any]]:
    """The newest cv directory under ``root`` and its ``cv.json``, checked against the options of this call."""
    numbers = [n for n in _cv_numbers(root) if (root / f"cv_{n}" / CV_FILE).is_file()]
    if not numbers:
        raise TextclfError(f"--resume: no cv run of this recipe in {root} to continue; start one without --resume")
    cv_dir = root / f"cv_{max(numbers)}"
    run: dict[str, Any] = json.loads((cv_dir / CV_FILE).read_text())
    if options.folds is not None and options.folds != run["folds"]:
        raise TextclfError(f"--resume: {cv_dir} runs {run['folds']} folds, not --folds {options.folds}")
    if options.fit_args != run["fit_arguments"]:
        raise TextclfError(
            f"--resume: {cv_dir} was started with the fit arguments {shlex.join(run['fit_arguments'])!r}, not "
            f"{shlex.join(options.fit_args)!r}; give the same ones (--folds and --only may differ)"
        )
    return cv_dir, run


def check_no_test_split(data_config: Namespace) -> None:
    """Refuse a corpus that has its own test split: its folds would all test on that split.

    Corpora without one (:class:`~textclf.data.corpora.sentences.PolarityCorpus`: MR, Subj, CR, MPQA) pass at once,
    a :class:`~textclf.FileDataModule` by its ``test`` file; any other corpus is read (not tokenised) to see.

    Raises:
        TextclfError: one line naming the corpus and its test split.
    """
    data = data_module(data_config)
    name = type(data).__name__
    from textclf.data.corpora.sentences import PolarityCorpus
    from textclf.data.files import FileDataModule

    if isinstance(data, PolarityCorpus):
        return
    if isinstance(data, FileDataModule):
        source = data.paths.get("test")
    else:
        import tempfile

        quiet = logging.getLogger("textclf")  # the first fold reads it again and logs what it finds then
        level = quiet.level
        with tempfile.TemporaryDirectory(prefix="textclf-cv-") as scratch:
            data.scratch_dir = Path(scratch)
            quiet.setLevel(logging.ERROR)
            try:
                splits = data.read_splits()
            finally:
                data.scratch_dir = None
                quiet.setLevel(level)
            source = splits["test"].source if "test" in splits else None
    if source is not None:
        raise TextclfError(
            f"{name} has its own test split ({source}); textclf cv is for corpora without one (MR, Subj, CR, MPQA, "
            "files without a test file): train and test it with textclf fit"
        )


def data_module(data_config: Namespace) -> Any:
    """The data module of a parsed ``data`` configuration (nothing read or prepared yet)."""
    from jsonargparse import ArgumentParser

    from textclf.data.base import TextDataModule

    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(TextDataModule, "data", required=True)
    return parser.instantiate(Namespace(data=data_config)).data


def run_fold(cv_dir: Path, fold: int, folds: int, fit_args: list[str]) -> None:
    """Train and test one fold into ``cv_dir/fold_K`` (skipped when finished; continued from its last.ckpt).

    Raises:
        TextclfError: the fit ended without writing ``test_metrics.json``.
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from textclf.lightning_cli import TextclfCLI
    from textclf.resume import SIGTERM_EXIT

    directory = fold_dir(cv_dir, fold)
    if fold_metrics(cv_dir, fold) is not None:
        log.info("fold %d of %d: finished earlier (%s), skipped", fold, folds, directory / "test_metrics.json")
        return
    logger = {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": str(cv_dir.parent), "name": cv_dir.name, "version": directory.name},
    }
    args = ["fit", *fit_args, f"--data.init_args.fold={fold}", f"--data.init_args.num_folds={folds}"]
    args.append(f"--trainer.logger={json.dumps(logger)}")
    last = directory / "checkpoints" / "last.ckpt"
    resumed = last.is_file()
    if resumed:
        log.info("fold %d of %d: continuing the stopped fold from %s", fold, folds, last)
        args.append(f"--ckpt_path={last}")
    elif directory.exists():
        log.info("fold %d of %d: %s holds a stopped fold without last.ckpt, starting it again", fold, folds, directory)
        args.append("--overwrite=true")
    else:
        log.info("fold %d of %d: training into %s", fold, folds, directory)

    class FoldCLI(TextclfCLI):
        prepare_s = 0.0

        def instantiate_classes(self) -> None:  # the data's preparation happens here (linked into the model)
            start = time.perf_counter()
            super().instantiate_classes()
            self.prepare_s = time.perf_counter() - start

    start = time.perf_counter()
    try:
        with _cli_argv():
            cli = FoldCLI(args=args)
    except SIGTERMException:  # the fold's last.ckpt is written (textclf.resume.Resumable)
        log.info(
            "fold %d of %d: stopped by SIGTERM; the same textclf cv command with --resume continues it", fold, folds
        )
        raise SystemExit(SIGTERM_EXIT) from None
    wall = time.perf_counter() - start
    prepare_s = cli.prepare_s
    del cli
    gc.collect()
    metrics = fold_metrics(cv_dir, fold)
    if metrics is None:
        raise TextclfError(f"fold {fold}: fit ended without {directory / 'test_metrics.json'}; rerun with --resume")
    write_json(directory / FOLD_FILE, {"fold": fold, "wall_s": wall, "prepare_s": prepare_s, "resumed": resumed})
    shown = ", ".join(f"{key.split('/')[-1]} {value:.4f}" for key, value in metrics.items() if "/" in key)
    log.info("fold %d of %d: %s (%.1f s, %.1f s of it preparing data and model)", fold, folds, shown, wall, prepare_s)


if __name__ == "__main__":  # python -m textclf.cv ARGS (until textclf cv is wired into the textclf command)
    try:
        main(sys.argv[1:])
    except TextclfError as e:
        print(f"textclf: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None

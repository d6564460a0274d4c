"""The command line of ``textclf cv``: its own options, and the arguments it passes on to every fold's ``fit``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from textclf.errors import TextclfError
from textclf.own_args import split_arguments

USAGE = "textclf cv -c RECIPE [-c LAYER ...] [--folds N] [--only 0,3] [--resume] [fit options]"
HELP = f"""usage: {USAGE}

k-fold cross-validation of a recipe whose corpus has no test split (MR, Subj, CR, MPQA, your own files without a
test file): every fold is a textclf fit with --data.init_args.fold K --data.init_args.num_folds N (stratified,
seeded by the data's seed), and the folds' test metrics are summarised as mean ± sample std (ddof=1).

options:
  -c, --config FILE   a recipe (repeat for layers, as with textclf fit)
  --folds N           number of folds, at least 2 (default: the recipe's data num_folds, 10 in the recipes)
  --only K[,K...]     run only these folds (0-based); with --resume, add them to the newest cv run
  --resume            continue the newest cv run of the recipe: skip finished folds, continue a stopped one
  any other option goes to every fold's textclf fit (e.g. --trainer.max_epochs 2)

writes runs/<run name>/cv_N/: fold_K/ run directories, summary.json and summary.csv"""

# options cv sets for every fold itself (one spelling each; jsonargparse also accepts --data.fold)
OWN_OPTIONS = {
    "--data.init_args.fold": "--only",
    "--data.fold": "--only",
    "--data.init_args.num_folds": "--folds",
    "--data.num_folds": "--folds",
    "--ckpt_path": "--resume",
    "--trainer.logger": None,
}


@dataclass
class CvOptions:
    """What ``textclf cv`` was asked: the recipe files, the fold options and the arguments for every fold's fit."""

    configs: list[str] = field(default_factory=list)
    folds: int | None = None
    only: list[int] | None = None
    resume: bool = False
    fit_args: list[str] = field(default_factory=list)  # -c files and fit options, in the order given


def parse_args(argv: list[str]) -> CvOptions:
    """Split ``argv`` (after ``cv``) into cv's own options and the arguments for ``fit``.

    Raises:
        TextclfError: a missing recipe, a bad ``--folds``/``--only``, or an option cv sets itself.
        SystemExit: ``-h``/``--help`` (status 0, after printing the usage).
    """
    options = CvOptions()

    def take(name: str, value: str | None) -> list[str]:
        if name == "--folds":
            options.folds = _folds(str(value))
        elif name == "--only":
            options.only = _only(str(value))
        elif name == "--resume":
            options.resume = True
        else:  # -c, --config: a recipe file, passed on in its place
            options.configs.append(str(value))
            return ["-c", str(value)]
        return []

    refused = {
        name: f"{name} is set by textclf cv for every fold" + (f"; use {instead}" if instead else "")
        for name, instead in OWN_OPTIONS.items()
    }
    options.fit_args = split_arguments(
        argv, valued=("--folds", "--only", "-c", "--config"), flags=("--resume",), refused=refused, take=take,
        help_text=HELP, usage=USAGE,
    )  # fmt: skip
    if not options.configs:
        raise TextclfError(f"textclf cv needs a recipe: {USAGE}")
    for path in options.configs:
        if not Path(path).is_file():
            raise TextclfError(f"recipe {path}: no such file")
    return options


def _folds(value: str) -> int:
    try:
        folds = int(value)
    except ValueError:
        raise TextclfError(f"--folds {value}: not a whole number") from None
    if folds < 2:
        raise TextclfError(f"--folds {value}: cross-validation needs at least 2 folds (a test fold and the rest)")
    return folds


def _only(value: str) -> list[int]:
    try:
        folds = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        raise TextclfError(f"--only {value}: give fold numbers separated by commas, e.g. --only 0,3") from None
    if not folds or folds[0] < 0:
        raise TextclfError(f"--only {value}: fold numbers start at 0")
    return folds

"""The command line and the search file of ``textclf tune`` (:mod:`textclf.tune`), checked before anything trains.

A search file is a YAML file with one top-level key, ``search`` (docs/tuning.md)::

    search:
      metric: val/acc              # a metric the fit logs at every validation (default val/acc)
      direction: maximize          # or minimize (default maximize)
      space:                       # command-line override paths of textclf fit: --<key>=<value>
        model.dropout: {type: float, low: 0.1, high: 0.6}
        model.optimizer.init_args.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
        model.encoder.init_args.hidden_size: {type: categorical, choices: [50, 100, 150]}
      fixed: {trainer.max_epochs: 4}   # optional: overrides of every trial
      pruner: {startup_trials: 3, warmup_epochs: 1}   # optional (these defaults); false: no pruning

It is told from the recipe files among the ``-c`` arguments by that ``search`` key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from textclf.errors import TextclfError
from textclf.own_args import split_arguments

USAGE = (
    "textclf tune -c RECIPE [-c LAYER ...] -c SEARCH.yaml [--n_trials N] [--study NAME] [--storage URL] "
    "[--timeout S] [fit options]"
)
HELP = f"""usage: {USAGE}

Hyperparameter search with Optuna: every trial is a textclf fit of the recipe with the trial's values of the search
file's space (override paths such as model.dropout), pruned at a validation when its metric falls behind earlier
trials' (median pruner). The study lives in SQLite: the same command continues a killed study, and several
processes given the same --study and --storage share one.

options:
  -c, --config FILE   a recipe or layer (as with textclf fit), or the search file (its top-level key is search)
  --n_trials N        stop when the study has N finished (complete or pruned) trials in all (default 20)
  --study NAME        the study's name (default study): runs/<run name>/tune_NAME/
  --storage URL       Optuna storage (default sqlite:///runs/<run name>/tune_NAME/study.db)
  --timeout S         start no new trial after S seconds
  any other option goes to every trial's textclf fit (e.g. --trainer.max_epochs 3)

writes runs/<run name>/tune_NAME/: trial_N/ run directories, study.db and best.yaml (textclf fit -c best.yaml)"""

OWN_OPTIONS = ("--trainer.logger", "--ckpt_path")  # tune sets the logger of every trial; trials never resume
TYPES = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}, "categorical": {"choices"}}
KEY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
STUDY_NAME = re.compile(r"[\w.-]+")


@dataclass
class Param:
    """One dimension of the space: ``type`` float, int or categorical, with its bounds or choices."""

    type: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: list[Any] = field(default_factory=list)


@dataclass
class Search:
    """A checked search file: what to optimise, over which overrides, and how to prune."""

    path: str
    metric: str = "val/acc"
    direction: str = "maximize"
    space: dict[str, Param] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    prune: bool = True
    startup_trials: int = 3
    warmup_epochs: int = 1


@dataclass
class TuneOptions:
    """What ``textclf tune`` was asked: the recipe files, the search, the study options, the fit arguments."""

    configs: list[str] = field(default_factory=list)
    search: Search | None = None
    n_trials: int = 20
    study: str = "study"
    storage: str | None = None
    timeout: float | None = None
    fit_args: list[str] = field(default_factory=list)  # recipe -c files and fit options, in the order given


def override(key: str, value: Any) -> str:
    """``--key=value`` as ``textclf fit`` reads it (strings as they are, other values as JSON: 0.5, true, null)."""
    return f"--{key}={value if isinstance(value, str) else json.dumps(value)}"


def parse_args(argv: list[str]) -> TuneOptions:
    """Split ``argv`` (after ``tune``) into tune's own options, the search file and the arguments for ``fit``.

    Raises:
        TextclfError: a missing recipe or search file, two search files, a bad search file (:func:`load_search`),
            a bad ``--n_trials``/``--timeout``/``--study``/``--storage``, or an option tune sets itself.
        SystemExit: ``-h``/``--help`` (status 0, after printing the usage).
    """
    options = TuneOptions()

    def take(name: str, value: str | None) -> list[str]:
        return _set(options, name, str(value))

    options.fit_args = split_arguments(
        argv, valued=("-c", "--config", *(f"--{own}" for own in _OWN)), flags=(),
        refused={name: f"{name} is set by textclf tune for every trial" for name in OWN_OPTIONS}, take=take,
        help_text=HELP, usage=USAGE,
    )  # fmt: skip
    if not options.configs:
        raise TextclfError(f"textclf tune needs a recipe: {USAGE}")
    if options.search is None:
        raise TextclfError(f"textclf tune needs a search file (-c SEARCH.yaml with a top-level search key): {USAGE}")
    return options


_OWN = ("n_trials", "study", "storage", "timeout")


def _set(options: TuneOptions, name: str, value: str) -> list[str]:
    """Record one of tune's own options; a recipe file (-c) is passed on to fit in its place."""
    if name in ("-c", "--config"):
        if not Path(value).is_file():
            raise TextclfError(f"config {value}: no such file")
        content = _yaml(value)
        if isinstance(content, dict) and "search" in content:
            if options.search is not None:
                raise TextclfError(f"{value}: a second search file (the first is {options.search.path}); give one")
            options.search = load_search(value, content)
        else:
            options.configs.append(value)
            return ["-c", value]
    elif name == "--n_trials":
        if not value.isdigit() or int(value) < 1:
            raise TextclfError(f"--n_trials {value}: give a whole number of at least 1")
        options.n_trials = int(value)
    elif name == "--timeout":
        seconds = _number(value)
        if seconds is None or seconds <= 0:
            raise TextclfError(f"--timeout {value}: give a number of seconds above 0")
        options.timeout = seconds
    elif name == "--study":
        if not STUDY_NAME.fullmatch(value):
            raise TextclfError(f"--study {value!r}: use letters, digits, '_', '-' and '.' (it names a folder)")
        options.study = value
    elif "://" not in value:
        raise TextclfError(f"--storage {value}: give a database URL, e.g. sqlite:///runs/study.db")
    else:
        options.storage = value
    return []


def _yaml(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
        return yaml.safe_load(text)
    except UnicodeDecodeError:
        return None  # not a search file; textclf fit says what is wrong with it
    except yaml.YAMLError as e:
        if not text.lstrip().startswith("search:") and "\nsearch:" not in text:
            return None  # not a search file; textclf fit says what is wrong with it
        mark = getattr(e, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise TextclfError(f"search file {path}{where}: not valid YAML ({problem})") from None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def load_search(path: str, content: dict[str, Any]) -> Search:
    """The checked ``search`` section of the search file ``path`` (its parsed YAML is ``content``).

    Raises:
        TextclfError: one line naming the file and the field: another top-level key, an unknown field, a
            direction other than maximize/minimize, an empty space, a key that is no override path (or one tune
            sets), an unknown type, a missing or non-numeric bound, ``low >= high``, ``log`` with ``low <= 0``,
            empty or non-scalar choices.
    """
    where = f"search file {path}"
    if set(content) != {"search"}:
        raise TextclfError(f"{where}: only the key search is allowed at the top (found {', '.join(map(str, content))})")
    section = content["search"]
    if not isinstance(section, dict):
        raise TextclfError(f"{where}: search must be a mapping with metric, direction and space")
    unknown = set(section) - {"metric", "direction", "space", "fixed", "pruner"}
    if unknown:
        raise TextclfError(f"{where}: unknown field search.{sorted(map(str, unknown))[0]} (metric, direction, space, "
                           "fixed, pruner)")  # fmt: skip
    search = Search(path=path)
    search.metric = str(section.get("metric") or search.metric)
    search.direction = str(section.get("direction") or search.direction)
    if search.direction not in ("maximize", "minimize"):
        raise TextclfError(f"{where}: search.direction {search.direction!r}: maximize or minimize")
    space = section.get("space")
    if not isinstance(space, dict) or not space:
        raise TextclfError(f"{where}: search.space must map override paths (e.g. model.dropout) to their ranges")
    search.space = {_key(where, key): _param(f"{where}: search.space.{key}", value) for key, value in space.items()}
    fixed = section.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise TextclfError(f"{where}: search.fixed must map override paths to values (e.g. trainer.max_epochs: 3)")
    search.fixed = {_key(where, key): value for key, value in fixed.items()}
    both = set(search.fixed) & set(search.space)
    if both:
        raise TextclfError(f"{where}: {sorted(both)[0]} is both in search.space and in search.fixed")
    _pruner(where, section.get("pruner", {}), search)
    return search


def _key(where: str, key: Any) -> str:
    text = str(key).removeprefix("--")
    if not KEY.fullmatch(text):
        raise TextclfError(f"{where}: {key!r} is no override path (dotted names, e.g. model.dropout)")
    if f"--{text}" in OWN_OPTIONS:
        raise TextclfError(f"{where}: {text} is set by textclf tune for every trial")
    return text


def _param(where: str, spec: Any) -> Param:
    if not isinstance(spec, dict) or "type" not in spec:
        raise TextclfError(f"{where}: give a mapping with type float, int or categorical")
    kind = str(spec["type"])
    if kind not in TYPES:
        raise TextclfError(f"{where}: unknown type {kind!r} (float, int or categorical)")
    unknown = set(spec) - TYPES[kind] - {"type"}
    if unknown:
        raise TextclfError(f"{where}: unknown field {sorted(map(str, unknown))[0]} for type {kind} "
                           f"({', '.join(sorted(TYPES[kind]))})")  # fmt: skip
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise TextclfError(f"{where}: choices must be a non-empty list")
        if not all(choice is None or isinstance(choice, str | int | float | bool) for choice in choices):
            raise TextclfError(f"{where}: choices must be numbers, strings, booleans or null")
        return Param(kind, choices=choices)
    bounds = {name: _number(spec.get(name)) for name in ("low", "high")}
    for name, value in bounds.items():
        if value is None or (kind == "int" and not float(value).is_integer()):
            raise TextclfError(f"{where}: {name} must be {'a whole number' if kind == 'int' else 'a number'}")
    low, high = bounds["low"] or 0.0, bounds["high"] or 0.0
    if low >= high:
        raise TextclfError(f"{where}: low {spec['low']} must be below high {spec['high']}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise TextclfError(f"{where}: log must be true or false")
    if log and low <= 0:
        raise TextclfError(f"{where}: log: true needs low above 0")
    step = _number(spec.get("step")) if "step" in spec else None
    if "step" in spec and (step is None or step <= 0 or log or (kind == "int" and not step.is_integer())):
        raise TextclfError(f"{where}: step must be a number above 0 (whole for int), without log")
    return Param(kind, low=low, high=high, log=log, step=step)


def _pruner(where: str, pruner: Any, search: Search) -> None:
    if pruner is False:
        search.prune = False
        return
    if not isinstance(pruner, dict) or set(pruner) - {"startup_trials", "warmup_epochs"}:
        raise TextclfError(f"{where}: search.pruner must be false or a mapping of startup_trials, warmup_epochs")
    for name in ("startup_trials", "warmup_epochs"):
        value = pruner.get(name, getattr(search, name))
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TextclfError(f"{where}: search.pruner.{name} must be a whole number of at least 0")
        setattr(search, name, value)


def suggest(trial: Any, space: dict[str, Param]) -> dict[str, Any]:
    """The values of an Optuna ``trial`` for every key of ``space`` (``trial.suggest_*``)."""
    values: dict[str, Any] = {}
    for key, param in space.items():
        if param.type == "categorical":
            values[key] = trial.suggest_categorical(key, param.choices)
        elif param.type == "int":
            step = int(param.step or 1)
            values[key] = trial.suggest_int(key, int(param.low), int(param.high), step=step, log=param.log)
        else:
            values[key] = trial.suggest_float(key, param.low, param.high, step=param.step, log=param.log)
    return values


def first_values(space: dict[str, Param]) -> dict[str, Any]:
    """One point of ``space`` (the lows, the first choices): to check the keys against the recipe before training."""
    return {
        key: param.choices[0] if param.type == "categorical" else int(param.low) if param.type == "int" else param.low
        for key, param in space.items()
    }

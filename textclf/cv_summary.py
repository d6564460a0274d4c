"""The summary of a cross-validation run: every fold's test metrics, their mean and sample std (JSON, CSV, a table).

A cv directory (``runs/<run name>/cv_N``) holds one run directory per fold (``fold_K``, each a
complete ``textclf fit`` run with its ``test_metrics.json``) and ``cv.json`` (what was run). :func:`write_summary`
reads the finished folds and writes ``summary.json`` and ``summary.csv`` beside them; the std is the sample standard
deviation over folds (``ddof=1``, as papers report 10-fold results), undefined (null) for a single fold.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from textclf.wording import counted

STD = "sample standard deviation over folds (ddof=1)"
CV_FILE = "cv.json"  # what the cv run is: recipe, fit arguments, folds, seed (written when it starts)
FOLD_FILE = "cv_fold.json"  # in a fold's run directory: its wall time, written when the fold finished


def fold_dir(cv_dir: Path, fold: int) -> Path:
    """The run directory of ``fold`` (0-based) in ``cv_dir``."""
    return cv_dir / f"fold_{fold}"


def fold_metrics(cv_dir: Path, fold: int) -> dict[str, float] | None:
    """The numeric test metrics of a finished fold (its ``test_metrics.json``), or None when it has not finished."""
    path = fold_dir(cv_dir, fold) / "test_metrics.json"
    if not path.is_file():
        return None
    content = json.loads(path.read_text())
    return {key: float(value) for key, value in content.items() if isinstance(value, int | float)}


def write_json(path: Path, content: dict[str, Any]) -> None:
    """Write ``content`` to ``path`` through a temporary file, so a reader never sees half a file."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(content, indent=2) + "\n")
    os.replace(staging, path)


def summarise(cv_dir: Path) -> dict[str, Any]:
    """The summary of ``cv_dir``: the folds finished so far, each metric's mean and std (:data:`STD`).

    Returns ``{"cv_dir", "corpus", "recipe", "command", "folds", "seed", "folds_done", "std", "mean": {metric:
    value}, "std_dev": {metric: value or None}, "per_fold": [{"fold", "run_dir", "wall_s", "prepare_s",
    "resumed", metric: value...}]}``; metrics are every number in the folds' ``test_metrics.json`` (``test/acc``,
    ``test/f1_macro``, ``test/loss``...), the mean and std over the finished folds.
    """
    run = json.loads((cv_dir / CV_FILE).read_text())
    rows: list[dict[str, Any]] = []
    for fold in range(int(run["folds"])):
        metrics = fold_metrics(cv_dir, fold)
        if metrics is None:
            continue
        timing_file = fold_dir(cv_dir, fold) / FOLD_FILE
        timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
        rows.append(
            {
                "fold": fold,
                "run_dir": str(fold_dir(cv_dir, fold)),
                "wall_s": timing.get("wall_s"),
                "prepare_s": timing.get("prepare_s"),
                "resumed": bool(timing.get("resumed", False)),
                **metrics,
            }
        )
    names = sorted({key for row in rows for key in row if "/" in key})  # test/acc, test/loss... (stage/metric)
    mean: dict[str, float] = {}
    std: dict[str, float | None] = {}
    for name in names:
        values = np.array([row[name] for row in rows if name in row], dtype=np.float64)
        mean[name] = float(values.mean())
        std[name] = float(values.std(ddof=1)) if len(values) > 1 else None
    return {
        "cv_dir": str(cv_dir),
        "corpus": run["corpus"],
        "recipe": run["recipe"],
        "command": run["command"],
        "folds": run["folds"],
        "seed": run["seed"],
        "folds_done": [row["fold"] for row in rows],
        "std": STD,
        "mean": mean,
        "std_dev": std,
        "per_fold": rows,
    }


def write_summary(cv_dir: Path) -> dict[str, Any]:
    """Write ``summary.json`` and ``summary.csv`` (a row per finished fold, then ``mean`` and ``std`` rows).

    Returns the summary (:func:`summarise`). Called after every fold, so a stopped run's summary covers the folds
    it finished.
    """
    summary = summarise(cv_dir)
    write_json(cv_dir / "summary.json", summary)
    names = list(summary["mean"])
    staging = cv_dir / ".summary.csv.tmp"
    with staging.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", *names, "wall_s"])
        for row in summary["per_fold"]:
            writer.writerow([row["fold"], *(_cell(row.get(name)) for name in names), _cell(row["wall_s"])])
        writer.writerow(["mean", *(_cell(summary["mean"][name]) for name in names), ""])
        writer.writerow(["std", *(_cell(summary["std_dev"][name]) for name in names), ""])
    os.replace(staging, cv_dir / "summary.csv")
    return summary


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def table(summary: dict[str, Any]) -> str:
    """A short text table: each finished fold's accuracy, F1 and wall time, then the mean ± std line."""
    shown = [name for name in ("test/acc", "test/f1_macro") if name in summary["mean"]]
    shown = shown or [name for name in summary["mean"] if not name.endswith("loss")][:2] or list(summary["mean"])[:2]
    heads = [name.split("/", 1)[-1] for name in shown]
    lines = ["fold  " + "  ".join(f"{head:>9}" for head in heads) + "      wall"]
    for row in summary["per_fold"]:
        wall = f"{row['wall_s']:8.1f}s" if row["wall_s"] is not None else "        -"
        lines.append(f"{row['fold']:>4}  " + "  ".join(f"{row.get(name, math.nan):9.4f}" for name in shown) + wall)
    done, folds = len(summary["per_fold"]), summary["folds"]
    scores = ", ".join(_mean_std(summary, name, head) for name, head in zip(shown, heads, strict=True))
    note = "" if done == folds else f" (only {done} of {folds} folds finished)"
    lines.append(f"mean ± std over {counted(done, 'fold')}{note}: {scores} (std: sample, ddof=1)")
    return "\n".join(lines)


def _mean_std(summary: dict[str, Any], name: str, head: str) -> str:
    std = summary["std_dev"][name]
    return f"{head} {summary['mean'][name]:.4f} ± " + ("n/a" if std is None else f"{std:.4f}")

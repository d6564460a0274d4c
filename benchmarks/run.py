"""The accuracy benchmark: recipes x vectors x encoders x seeds against fastText, reported as mean ± std.

    .venv/bin/pip install -e '.[bench]'    # fastText (the baseline) and matplotlib (the plot)
    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/run.py --quick   # minutes
    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/run.py           # hours

Every cell (benchmarks/grid.py) is one public command: ``textclf fit`` (``textclf cv --folds 10`` for MR and
Subj), or fastText on the same splits (benchmarks/fasttext_baseline.py). Vectors trained here are made first with
``textclf vectors train`` into ``--vectors-dir``. Each result is appended to the results file as soon as its cell
ends (with its command, seed, wall time, machine and commit), so a stopped run continues where it stopped; the
report (docs/benchmarks.md, section ``accuracy-grid``, and docs/benchmarks.png) is rewritten from the results file
after every cell. Choices are made on validation accuracy only; each cell reads its test split once.
``--quick`` runs a small grid with short training into runs/benchmarks-quick/ and leaves docs/ alone.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grid import (
    CORPORA,
    MODELS,
    QUICK_FIT,
    QUICK_FOLDS,
    QUICK_VECTORS,
    ROOT,
    SEEDS,
    VECTORS,
    Cell,
    full_grid,
    quick_grid,
    recipe,
    vectors_overrides,
)
from report import machine

DOCS = ROOT / "docs"
FULL_RESULTS = DOCS / "benchmarks" / "results.json"
QUICK_DIR = ROOT / "runs" / "benchmarks-quick"
FASTTEXT_MINUTES = 0.3  # expected minutes of a fastText cell (all 10 folds on cv corpora: about 3)
VECTORS_MINUTES = 10.0  # expected minutes to train one of the vectors files on IMDB's unlabelled reviews
QUICK_MINUTES = 0.5  # expected minutes of one quick-grid fit, or of training its small vectors


def commit() -> str:
    """The repository's commit, with ``+dirty`` when its code (not docs/) has changes or new files, for the results."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        code = ["textclf", "benchmarks", "recipes", "pyproject.toml"]  # not docs/: the runner writes the report
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *code], cwd=ROOT, capture_output=True, text=True)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


SECTIONS = ("cells", "vectors", "failed")


def load(path: Path) -> dict[str, Any]:
    """The results file: ``{"cells": {key: result}, "vectors": {key: result}, "failed": {key: error}}``."""
    results = json.loads(path.read_text()) if path.exists() else {}
    return {section: results.get(section, {}) for section in SECTIONS}


@contextlib.contextmanager
def locked(path: Path) -> Any:
    """An exclusive lock on ``path``'s lock file, so runners sharing a results file take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def save(path: Path, results: dict[str, Any]) -> None:
    """Merge ``results`` into the file (another runner's new cells are kept, and read into ``results``).

    Written through a temporary file under the lock: a killed run never leaves half a file.
    """
    with locked(path):
        merged = load(path)
        for section in SECTIONS:
            merged[section].update(results[section])
        for key in merged["cells"]:
            merged["failed"].pop(key, None)
        staging = path.with_name(f".{path.name}.tmp")
        staging.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
        os.replace(staging, path)
    results.update(merged)


def quoted(args: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def run_logged(args: list[str], log_path: Path) -> float:
    """Run ``args`` from the repository root with output to ``log_path``; its wall seconds. Fails loudly."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log_path.open("w") as log:
        done = subprocess.run(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError(f"{quoted(args)} failed with status {done.returncode} (log {log_path}):\n" + "\n".join(tail))
    return time.perf_counter() - start


def make_vectors(key: str, vectors_dir: Path, quick: bool, results: dict[str, Any]) -> None:
    """Train the vectors ``key`` with ``textclf vectors train`` unless its file is already in ``vectors_dir``."""
    vectors = VECTORS[key]
    assert vectors.source is not None
    out = vectors_dir / vectors.source
    if out.exists() and key in results["vectors"]:
        return
    vectors_dir.mkdir(parents=True, exist_ok=True)
    args = ["textclf", "vectors", "train", *vectors.trained, *(QUICK_VECTORS if quick else ()), "-o", str(out)]
    if out.exists():
        args.append("--force")
    print(f"vectors {key}: {quoted(args)}", flush=True)
    seconds = run_logged([sys.executable, "-m", "textclf", *args[1:]], vectors_dir / f"{key}.log")
    sidecar = json.loads(Path(f"{out}.json").read_text()) if Path(f"{out}.json").exists() else {}
    results["vectors"][key] = {"command": quoted(args), "seconds": seconds, "train": sidecar, "machine": machine()}


def textclf_cell(cell: Cell, root_dir: Path, vectors_dir: Path, quick: bool, threads: int) -> dict[str, Any]:
    """Run one textclf cell: ``fit`` (or ``cv --folds 10``); its test and best validation accuracy."""
    corpus = CORPORA[cell.corpus]
    out_dir = root_dir / cell.key
    args = ["textclf", "fit", "-c", str(recipe(corpus))]
    if corpus.protocol == "cv10":
        args = ["textclf", "cv", "-c", str(recipe(corpus)), "--folds", str(QUICK_FOLDS if quick else 10)]
    args += [
        f"--seed_everything={cell.seed}",
        *MODELS[cell.model].overrides,
        *vectors_overrides(VECTORS[cell.vectors], vectors_dir),
        *(QUICK_FIT if quick else ()),
        f"--threads={threads}",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={out_dir}",
    ]
    started = time.time()
    seconds = run_logged([sys.executable, "-m", *args], out_dir.with_suffix(".log"))
    if corpus.protocol == "cv10":
        summary = json.loads(_written_by_this_run(out_dir, "summary.json", started).read_text())
        per_fold = [float(fold["test/acc"]) for fold in summary["per_fold"]]
        vals = [_best_val(Path(fold["run_dir"]) / "metrics.csv") for fold in summary["per_fold"]]
        return {"test/acc": float(summary["mean"]["test/acc"]), "val/acc": sum(vals) / len(vals), "folds": per_fold,
                "seconds": seconds, "command": quoted(args)}  # fmt: skip
    tested = _written_by_this_run(out_dir, "test_metrics.json", started)
    metrics = json.loads(tested.read_text())
    return {"test/acc": float(metrics["test/acc"]), "val/acc": _best_val(tested.parent / "metrics.csv"),
            "seconds": seconds, "command": quoted(args)}  # fmt: skip


def _written_by_this_run(folder: Path, name: str, started: float) -> Path:
    """The one ``name`` under ``folder`` written since ``started`` (an earlier run's is never read)."""
    found = [path for path in folder.rglob(name) if path.stat().st_mtime >= started]
    if len(found) != 1:
        raise RuntimeError(f"expected one {name} written by this run under {folder}, found {len(found)}")
    return found[0]


def _best_val(metrics_csv: Path) -> float:
    """The best ``val/acc`` of a run's metrics.csv (the epoch whose checkpoint was tested)."""
    import csv

    with metrics_csv.open() as handle:
        values = [float(row["val/acc"]) for row in csv.DictReader(handle) if row.get("val/acc")]
    return max(values)


def fasttext_cell(cell: Cell, quick: bool) -> dict[str, Any]:
    """Run one fastText cell in this process (seconds; all folds for cv corpora)."""
    from fasttext_baseline import run_fasttext

    corpus = CORPORA[cell.corpus]
    start = time.perf_counter()
    folds = (QUICK_FOLDS if quick else 10) if corpus.protocol == "cv10" else None
    result = run_fasttext(ROOT / "recipes" / corpus.recipe_dir, MODELS[cell.model].word_ngrams, cell.seed, folds)
    command = f"python benchmarks/run.py{' --quick' if quick else ''} --only {cell.key} --rerun"
    return {**result, "seconds": time.perf_counter() - start, "command": command}


def estimate_minutes(cells: list[Cell], results: dict[str, Any], quick: bool = False) -> float:
    """Expected minutes for ``cells``: measured means per corpus (and kind) where cells ran, else the defaults.

    Vectors still to train count :data:`VECTORS_MINUTES` each.
    """
    measured: dict[tuple[str, bool], list[float]] = {}
    for cell_result in results["cells"].values():
        kind = (cell_result["corpus"], MODELS[cell_result["model"]].word_ngrams > 0)
        measured.setdefault(kind, []).append(cell_result["seconds"] / 60)
    trained = {c.vectors for c in cells if c.vectors in VECTORS and VECTORS[c.vectors].trained}
    total = sum(QUICK_MINUTES if quick else VECTORS_MINUTES for key in trained if key not in results["vectors"])
    for cell in cells:
        seen = measured.get((cell.corpus, cell.is_fasttext))
        folds = (QUICK_FOLDS if quick else 10) if CORPORA[cell.corpus].protocol == "cv10" else 1
        fit = QUICK_MINUTES if quick else CORPORA[cell.corpus].minutes / folds
        default = (FASTTEXT_MINUTES if cell.is_fasttext else fit) * folds
        total += sum(seen) / len(seen) if seen else default
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small grid with short training, in minutes")
    parser.add_argument("--only", nargs="+", metavar="GLOB", help="cells whose key matches, e.g. 'trec/*/glove50/*'")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--results", type=Path, help="results file (default: docs/benchmarks/results.json)")
    parser.add_argument("--vectors-dir", type=Path, help="vectors trained here (runs/benchmarks/vectors)")
    parser.add_argument("--root-dir", type=Path, help="run directories (default runs/benchmarks)")
    parser.add_argument("--list", action="store_true", help="list the cells, what is done and the time left; run none")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the results file")
    parser.add_argument("--rerun", action="store_true", help="run selected cells again even when they have results")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per fit (default 1: a busy machine does not thrash)"
    )
    args = parser.parse_args()

    quick = args.quick
    base = QUICK_DIR if quick else ROOT / "runs" / "benchmarks"
    results_path = args.results or (QUICK_DIR / "results.json" if quick else FULL_RESULTS)
    vectors_dir = (args.vectors_dir or base / "vectors").resolve()
    root_dir = (args.root_dir or base).resolve()
    cells = (quick_grid if quick else full_grid)(tuple(args.seeds))
    if args.only:
        cells = [c for c in cells if any(fnmatch.fnmatch(c.key, pattern) for pattern in args.only)]
    results = load(results_path)
    todo = [c for c in cells if args.rerun or c.key not in results["cells"]]
    hours = estimate_minutes(todo, results, quick) / 60
    print(f"{len(cells)} cells selected, {len(cells) - len(todo)} done; about {hours:.1f} h to run the other "
          f"{len(todo)} on this machine ({machine()})", flush=True)  # fmt: skip
    if args.list:
        for cell in cells:
            done = results["cells"].get(cell.key)
            failed = results["failed"].get(cell.key)
            state = f"test {100 * done['test/acc']:.1f}" if done else ("FAILED" if failed else "-")
            print(f"  {cell.key:45s} {state}")
        return
    from tables import write_report

    started = time.perf_counter()
    if args.report_only:
        todo = []
    for vectors in sorted({c.vectors for c in todo if c.vectors in VECTORS and VECTORS[c.vectors].trained}):
        make_vectors(vectors, vectors_dir, quick, results)
        save(results_path, results)
    for i, cell in enumerate(todo, start=1):
        left = estimate_minutes(todo[i - 1 :], results, quick)
        print(f"[{i}/{len(todo)}] {cell.key} (about {left:.0f} min left)", flush=True)
        try:
            if cell.is_fasttext:
                result = fasttext_cell(cell, quick)
            else:
                result = textclf_cell(cell, root_dir, vectors_dir, quick, args.threads)
        except Exception as e:  # one cell's failure (a missing file, a crash) is recorded; the others still run
            print(f"    FAILED: {e}", flush=True)
            results["failed"][cell.key] = {"error": str(e)[-3000:], "commit": commit(),
                                           "finished": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
            save(results_path, results)
            continue
        results["cells"][cell.key] = {
            **result, "corpus": cell.corpus, "model": cell.model, "vectors": cell.vectors, "seed": cell.seed,
            "machine": machine(), "commit": commit(), "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }  # fmt: skip
        save(results_path, results)
        print(f"    test acc {100 * result['test/acc']:.2f}, val acc {100 * result['val/acc']:.2f}, "
              f"{result['seconds'] / 60:.1f} min", flush=True)  # fmt: skip
        write_report(results, quick, base)
    write_report(results, quick, base)
    print(f"done in {(time.perf_counter() - started) / 60:.1f} min; results in {results_path}", flush=True)
    failed = [c.key for c in todo if c.key in results["failed"]]
    if failed:
        sys.exit(f"{len(failed)} cells failed (see their logs; `--list` shows them): {', '.join(failed)}")


if __name__ == "__main__":
    main()

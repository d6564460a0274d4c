"""Sequential short-text classification on MRDA and SwDA: no context, the paper's d1/d2 network, the context RNN.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/sequential.py

Protocol (Lee & Dernoncourt 2016, arXiv 1603.03827, section 3: pooling and d1, d2 chosen on validation data):

1. Selection, one seed, ``--select-epochs`` epoch(s), validation accuracy only (the test split is not read): the
   encoder's pooling (last, mean, max) with no context (d1 = d2 = 0), then every (d1, d2) in {0, 1, 2}^2 with the
   chosen pooling.
2. Reported rows, each trained with ``--seeds`` for its corpus's ``--epochs`` (the checkpoint of the best
   validation epoch is tested once): no context (d1 = d2 = 0), the chosen (d1, d2), and the context-RNN variant
   (recipes/<corpus>/lstm_context_rnn.yaml with the chosen pooling).

Every run is a ``textclf`` run of the shipped recipes (``recipes/<corpus>/lstm_feedforward.yaml``,
``lstm_context_rnn.yaml``) with one torch thread, ``--workers`` at a time. The table goes into docs/sequential.md
between markers; ``--quick`` (two short epochs' worth of batches, one seed, MRDA only) checks the pipeline in minutes
and writes to a scratch file instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, update_section

ROOT = Path(__file__).resolve().parents[1]
SEQUENTIAL_MD = ROOT / "docs" / "sequential.md"
POOLINGS = ("last", "mean", "max")
GRID = [(d1, d2) for d1 in range(3) for d2 in range(3)]
PUBLISHED = {  # test accuracy (%) as reported; the splits differ from these (see docs/sequential.md)
    "mrda": {"Lee & Dernoncourt 2016 (best, 5 classes)": "84.6", "Kumar et al. 2018 (BiLSTM-CRF)": "90.9"},
    "swda": {"Lee & Dernoncourt 2016 (best, CNN)": "73.1", "Kumar et al. 2018 (BiLSTM-CRF)": "79.2"},
}
CORPUS_CLASS = {"mrda": "MRDA", "swda": "SwDA"}


def fit_args(corpus: str, recipe: str, pooling: str, d1d2: tuple[int, int] | None, seed: int) -> list[str]:
    args = ["-c", str(ROOT / "recipes" / corpus / f"{recipe}.yaml"), f"--seed_everything={seed}",
            f"--model.encoder.init_args.pooling={pooling}", "--threads=1"]  # fmt: skip
    if d1d2 is not None:
        args += [f"--model.context.init_args.d1={d1d2[0]}", f"--model.context.init_args.d2={d1d2[1]}"]
    return args


def child_validate(args: list[str]) -> None:
    """Fit as ``textclf fit`` parses it, without the test that fit runs afterwards; print the best val/acc."""
    from textclf.lightning_cli import TextclfCLI

    cli = TextclfCLI(args, run=False)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    print(f"BEST {float(cli.trainer.checkpoint_callback.best_model_score):.6f}")  # type: ignore[union-attr]


def run(args: list[str], root_dir: Path, extra: list[str], validate_only: bool) -> dict[str, Any]:
    """One run in a fresh process; validation accuracy (selection) or the test metrics of the best epoch."""
    root_dir.mkdir(parents=True, exist_ok=True)
    common = ["--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={root_dir}", *extra]
    if validate_only:
        cmd = [sys.executable, __file__, "--child", json.dumps([*args, *common, "--trainer.logger=false"])]
    else:
        cmd = [sys.executable, "-m", "textclf", "fit", *args, *common]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root_dir, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stderr[-3000:]}")
    if validate_only:
        line = [x for x in result.stdout.splitlines() if x.startswith("BEST ")][-1]
        return {"val": float(line.split()[1]), "seconds": seconds}
    (metrics_file,) = list(root_dir.rglob("test_metrics.json"))  # <root_dir>/<run name>/version_0/
    metrics = json.loads(metrics_file.read_text())
    best_val = max(float(r["val/acc"]) for r in csv_rows(metrics_file.parent / "metrics.csv") if r.get("val/acc"))
    return {"test": float(metrics["test/acc"]), "val": best_val, "seconds": seconds}


def csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open() as handle:
        return list(csv.DictReader(handle))


def majority(corpus: str) -> tuple[str, float]:
    """The most frequent training label and its share of the test split (from the corpus files, via textclf)."""
    import textclf

    data = getattr(textclf, CORPUS_CLASS[corpus])()
    splits = data.read_splits()
    label = Counter(splits["train"].labels).most_common(1)[0][0]
    test = splits["test"].labels
    return label, sum(1 for t in test if t == label) / len(test)


def mean_std(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def benchmark(corpus: str, args: argparse.Namespace, scratch: Path, pool: ThreadPoolExecutor) -> dict[str, Any]:
    select_extra = [f"--trainer.max_epochs={args.select_epochs}", *args.extra]
    final_extra = [f"--trainer.max_epochs={args.epochs[corpus]}", *args.extra]

    def select(pooling: str, d1d2: tuple[int, int]) -> Any:
        name = f"{corpus}-select-{pooling}-{d1d2[0]}{d1d2[1]}"
        return pool.submit(run, fit_args(corpus, "lstm_feedforward", pooling, d1d2, args.seeds[0]), scratch / name,
                           select_extra, True)  # fmt: skip

    poolings = {p: select(p, (0, 0)) for p in POOLINGS}
    pooling_scores = {p: f.result() for p, f in poolings.items()}
    pooling = max(POOLINGS, key=lambda p: pooling_scores[p]["val"])
    grid = {d: select(pooling, d) for d in GRID if d != (0, 0)}
    grid_scores = {(0, 0): pooling_scores[pooling], **{d: f.result() for d, f in grid.items()}}
    best = max(GRID, key=lambda d: (grid_scores[d]["val"], -sum(d)))  # ties: the smaller context
    rows = {
        "no context (d1 = d2 = 0)": ("lstm_feedforward", (0, 0)),
        f"the paper's network, chosen d1 = {best[0]}, d2 = {best[1]}": ("lstm_feedforward", best),
        "context RNN (BiLSTM over the text vectors)": ("lstm_context_rnn", None),
    }
    futures = {(row, seed): pool.submit(run, fit_args(corpus, recipe, pooling, d1d2, seed),
                                        scratch / f"{corpus}-row{number}-{seed}", final_extra, False)
               for number, (row, (recipe, d1d2)) in enumerate(rows.items()) for seed in args.seeds}  # fmt: skip
    finals = {key: f.result() for key, f in futures.items()}
    runs = {row: [finals[(row, s)] for s in args.seeds] for row in rows}
    return {"pooling": pooling, "pooling_scores": pooling_scores, "grid": grid_scores, "best": best, "rows": runs,
            "majority": majority(corpus)}  # fmt: skip


def markdown(results: dict[str, dict[str, Any]], args: argparse.Namespace, minutes: float) -> str:
    epochs = ", ".join(f"{corpus} {count}" for corpus, count in args.epochs.items())
    lines = [
        f"Command: `{command()}` ({minutes:.0f} min on {machine()}, {args.workers} runs at a time, one torch thread "
        f"each). Selection: seed {args.seeds[0]}, {args.select_epochs} epochs, validation accuracy. Reported rows: "
        f"seeds {', '.join(map(str, args.seeds))}, epochs {epochs}, the best validation epoch tested once; "
        "mean ± sample standard deviation over the seeds.",
        "",
    ]
    for corpus, r in results.items():
        label, share = r["majority"]
        lines += [f"**{CORPUS_CLASS[corpus]}** (encoder pooling chosen on validation: {r['pooling']})", ""]
        lines += ["| model | test acc (%) | val acc (%) | per seed (test) | minutes per run |", "|---|---|---|---|---|"]
        for row, runs in r["rows"].items():
            tests = [x["test"] for x in runs]
            per_seed = " / ".join(f"{100 * t:.1f}" for t in tests)
            lines.append(f"| {row} | {mean_std(tests)} | {mean_std([x['val'] for x in runs])} | {per_seed} | "
                         f"{statistics.fmean(x['seconds'] for x in runs) / 60:.1f} |")  # fmt: skip
        lines.append(f"| majority class ({label}) | {100 * share:.1f} | | | |")
        lines += [f"| {name} | {score} (published) | | | |" for name, score in PUBLISHED[corpus].items()]
        grid = ", ".join(f"({d1},{d2}) {100 * r['grid'][(d1, d2)]['val']:.1f}" for d1, d2 in GRID)
        pools = ", ".join(f"{p} {100 * s['val']:.1f}" for p, s in r["pooling_scores"].items())
        lines += ["", f"Selection (validation accuracy, %): pooling at d1 = d2 = 0: {pools}; (d1,d2): {grid}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", nargs="+", default=["mrda", "swda"], choices=sorted(CORPUS_CLASS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44])
    parser.add_argument("--select-epochs", type=int, default=1)
    parser.add_argument("--epochs", nargs="+", default=["mrda=3", "swda=2"], help="epochs of the reported runs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a pipeline check: MRDA, one seed, few batches")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_validate(json.loads(args.child))
        return
    args.extra, args.epochs = [], dict(item.split("=") for item in args.epochs)
    if args.quick:
        args.corpora, args.seeds, args.select_epochs, args.epochs = ["mrda"], args.seeds[:1], 1, {"mrda": 1}
        args.extra = ["--trainer.limit_train_batches=20", "--trainer.limit_val_batches=5"]
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="textclf-sequential-") as scratch,
        ThreadPoolExecutor(args.workers) as pool,
        ThreadPoolExecutor(len(args.corpora)) as corpora,  # the corpora share the workers: none waits idle
    ):
        started = {c: corpora.submit(benchmark, c, args, Path(scratch), pool) for c in args.corpora}
        results = {c: future.result() for c, future in started.items()}
    text = markdown(results, args, (time.perf_counter() - start) / 60)
    target = Path(tempfile.gettempdir()) / "sequential-quick.md" if args.quick else SEQUENTIAL_MD
    update_section("sequential", text, target)
    print(text)
    print(f"written to {target}")


if __name__ == "__main__":
    main()

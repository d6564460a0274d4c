"""One TREC training epoch with `--threads 1` against `--threads 2` (and more), each in a fresh process.

    TEXTCLF_DATA=../shared/data python benchmarks/threads.py --threads 1 2 --repeats 3

Every run is the same command, `textclf fit -c recipes/trec/bilstm_max.yaml --trainer.max_epochs 1 --threads N`
(random 50-d embeddings instead of GloVe, so no vectors file is parsed), with OMP_NUM_THREADS and MKL_NUM_THREADS
removed from its environment. The runs alternate (1, 2, 1, 2...) so machine noise hits all of them. The epoch is
timed inside the run, from the start of the training epoch to the end of its last batch (validation excluded).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, update_section

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "recipes/trec/bilstm_max.yaml"
EPOCH_TIMES: list[float] = []


class EpochTimer(L.Callback):
    """Wall time from the start of each training epoch to the end of its last batch."""

    def on_train_epoch_start(self, *args: object) -> None:
        self.start = self.last = time.perf_counter()

    def on_train_batch_end(self, *args: object) -> None:
        self.last = time.perf_counter()

    def on_train_epoch_end(self, *args: object) -> None:
        EPOCH_TIMES.append(self.last - self.start)


def child(threads: int, root_dir: str) -> None:
    """Run the fit in this process and print the epoch's seconds on the last line of stdout."""
    from textclf.cli import main

    main(
        [
            "fit",
            "-c",
            str(ROOT / RECIPE),
            "--data.init_args.vectors=null",
            "--model.embedding_dim=50",
            "--trainer.max_epochs=1",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={root_dir}",
            "--trainer.callbacks+=__main__.EpochTimer",
            f"--threads={threads}",
        ]
    )
    print(f"EPOCH {EPOCH_TIMES[0]:.3f}")


def epoch_seconds(threads: int, root_dir: str) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(threads), "--root-dir", root_dir],
        capture_output=True,
        text=True,
        env={**env, "PYTHONWARNINGS": "ignore"},
        cwd=ROOT,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("EPOCH ")]
    if result.returncode != 0 or not lines:
        sys.exit(f"--threads {threads} failed:\n{result.stderr[-3000:]}")
    return float(lines[-1].split()[1])


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--root-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.root_dir)
        return
    results: dict[int, list[float]] = {n: [] for n in args.threads}
    with tempfile.TemporaryDirectory(prefix="textclf-threads-") as root_dir:
        for _ in range(args.repeats):
            for n in args.threads:
                results[n].append(epoch_seconds(n, root_dir))
                print(f"--threads {n}: {results[n][-1]:.2f} s", flush=True)
    fastest = statistics.median(results[args.threads[0]])
    rows = "\n".join(
        f"| {n} | {statistics.median(times):.2f} | {' '.join(f'{t:.2f}' for t in times)} | "
        f"{statistics.median(times) / fastest:.2f} |"
        for n, times in results.items()
    )
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    report = f"""## Threads: one TREC epoch with `--threads N`

`textclf fit -c {RECIPE}` (BiLSTM, hidden 150 per direction, max pooling, batch 50, 4,909 training
questions), random 50-d embeddings, one epoch, in a fresh process per run, OMP_NUM_THREADS unset; the epoch is
timed from its start to the end of its last training batch. Machine: {cpus} CPUs usable by the process, shared
with other work while this ran (see docs/performance.md).

| --threads | median epoch (s) | all runs (s) | ratio to --threads {args.threads[0]} |
| ---: | ---: | --- | ---: |
{rows}

Command: `{command()}`.
"""
    update_section("threads", report)
    print(report)


if __name__ == "__main__":
    run()

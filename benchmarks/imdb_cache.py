"""`textclf fit -c recipes/imdb/bilstm_max.yaml` twice, in fresh processes sharing one fresh cache.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/imdb_cache.py --batches 20

The first run reads aclImdb_v1.tar.gz (nothing unpacked), tokenises and numericalises the 50,000 labelled reviews
and builds the GloVe matrix, caching both under a new TEXTCLF_CACHE; the second run loads that cache. Each run
is timed from the moment its process is started to its first training step (logged by a callback inside
`textclf fit`), and in total (a short epoch of --batches training batches, then validation and test limited to
--eval-batches batches, so the whole benchmark takes minutes on a CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning as L

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, short_run_overrides, update_section

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "recipes/imdb/bilstm_max.yaml"
STARTED = "IMDB_CACHE_STARTED"  # wall-clock time the parent started this process at
RESULT = "IMDB_CACHE_RESULT"  # where the child writes its first-step time


class FirstStepTimer(L.Callback):
    """Seconds from the start of the process to the first training step."""

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, idx: int) -> None:
        if trainer.global_step == 0 and idx == 0:
            seconds = time.time() - float(os.environ[STARTED])
            Path(os.environ[RESULT]).write_text(json.dumps({"first_step": seconds}))
            print(f"imdb_cache: first training step {seconds:.1f} s after the process started", file=sys.stderr)


def fit_arguments(batches: int, eval_batches: int, root_dir: str) -> list[str]:
    return [
        "fit",
        "-c",
        RECIPE,
        *short_run_overrides(batches, eval_batches, root_dir),
        "--trainer.callbacks+=__main__.FirstStepTimer",
    ]


def child(arguments: list[str]) -> None:
    from textclf.cli import main

    main(arguments)


def timed_run(arguments: list[str], cache: Path, scratch: Path) -> dict[str, float]:
    """One `textclf fit` in a fresh process: seconds to the first training step and in total."""
    result = scratch / "result.json"
    result.unlink(missing_ok=True)
    env = {**os.environ, "TEXTCLF_CACHE": str(cache), RESULT: str(result)}
    started = time.time()
    env[STARTED] = repr(started)
    subprocess.run([sys.executable, __file__, "--child", "--", *arguments], cwd=ROOT, env=env, check=True)
    total = time.time() - started
    return {"first_step": json.loads(result.read_text())["first_step"], "total": total}


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20, help="training batches in the (single) epoch")
    parser.add_argument("--eval-batches", type=int, default=5, help="validation and test batches")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.rest)
        return
    if not os.environ.get("TEXTCLF_DATA"):
        raise SystemExit("set TEXTCLF_DATA (the folder holding imdb/aclImdb_v1.tar.gz) and TEXTCLF_VECTORS")
    with tempfile.TemporaryDirectory(prefix="imdb-cache-") as scratch:
        cache = Path(scratch) / "cache"
        arguments = fit_arguments(args.batches, args.eval_batches, str(Path(scratch) / "runs"))
        first = timed_run(arguments, cache, Path(scratch))
        second = timed_run(arguments, cache, Path(scratch))
        metas = list((cache / "data").glob("*/meta.json"))
        sizes = json.loads(metas[0].read_text())["sizes"] if len(metas) == 1 else {}
        megabytes = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 2**20
    rows = [
        ("first (reads the tarball, builds the cache)", first),
        ("second (reuses the cache)", second),
    ]
    table = "\n".join(f"| {name} | {r['first_step']:.1f} | {r['total']:.1f} |" for name, r in rows)
    split_sizes = " / ".join(f"{sizes[name]:,}" for name in ("train", "val", "test")) if sizes else "?"
    shown = " ".join(a for a in arguments if not a.startswith(("--trainer.default_root_dir", "--trainer.callbacks")))
    report = f"""## IMDB from the original tarball: first run and cached run

`textclf fit -c {RECIPE}` (BiLSTM-max, GloVe 6B 50d, first 400 tokens, batch 32), run twice in
fresh processes sharing one new, empty `TEXTCLF_CACHE`. The first run streams `aclImdb_v1.tar.gz` (nothing
unpacked), tokenises and numericalises the reviews (train / val / test: {split_sizes}) and builds the
vector matrix; the second loads both from the cache ({megabytes:.0f} MiB on disk). Each run is one epoch
of {args.batches} training batches, then validation and test limited to {args.eval_batches} batches each. Times are
wall-clock seconds from the start of the process (imports included). Machine: {machine()}.

| run | to the first training step (s) | total (s) |
| --- | ---: | ---: |
{table}

Command: `{command()}`; each run is `textclf {shown}` (runs written to a temporary folder), plus a callback that
logs the first training step.
"""
    print(report)
    update_section("imdb-cache", report)


if __name__ == "__main__":
    run()

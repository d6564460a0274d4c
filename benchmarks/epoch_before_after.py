"""One training epoch of `textclf fit -c recipes/sst2/bilstm_max.yaml`: this checkout against an earlier commit.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/epoch_before_after.py --before REV

A checkout of REV is made with `git worktree` in a temporary folder. The two versions then run in turn, each
round in a fresh process (`PYTHONPATH` points at the checkout whose `textclf` runs), so machine noise hits both;
each process trains `--epochs` epochs and reports its fastest. The epoch is timed inside `textclf fit` by a
callback, from the start of the epoch to the end of its last training batch (validation excluded), as in
benchmarks/epoch_time.py. The result goes to docs/benchmarks.md (section "epoch-before-after").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from epoch_time import EPOCH_TIMES, EpochTimer  # noqa: E402  (the callback that times the epochs)

__all__ = ["EpochTimer"]  # named as __main__.EpochTimer on the child's command line


def child(tree: Path, epochs: int, root_dir: str) -> None:
    """Train with the textclf of ``tree`` and print the epoch times as JSON (runs in its own process)."""
    from textclf.cli import main

    assert Path(sys.modules["textclf"].__file__ or "").resolve().is_relative_to(tree.resolve()), "wrong textclf"
    main(
        [
            "fit",
            "-c",
            str(tree / "recipes" / "sst2" / "bilstm_max.yaml"),
            f"--trainer.max_epochs={epochs}",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={root_dir}",
            "--trainer.callbacks+=__main__.EpochTimer",
        ]
    )
    print("EPOCHS " + json.dumps(EPOCH_TIMES))


def run_once(tree: Path, epochs: int, root_dir: str) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--child", str(tree), "--epochs", str(epochs), "--root-dir", root_dir]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("EPOCHS "))[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", help="the commit to compare with")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per process")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args.child, args.epochs, args.root_dir)
    if not args.before:
        parser.error("--before REV is required")
    with tempfile.TemporaryDirectory(prefix="textclf-before-") as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before], check=True)
        try:
            trees = {f"before ({args.before})": before, "after (this checkout)": ROOT}
            times: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(args.rounds):
                for name, tree in trees.items():
                    times[name] += run_once(tree, args.epochs, str(Path(tmp) / "runs"))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    write(times, args)


def write(times: dict[str, list[float]], args: argparse.Namespace) -> None:
    from report import command, machine, update_section

    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    before, after = list(times)
    rows = "\n".join(
        f"| {name} | {best[name]:.2f} | {median[name]:.2f} | {' '.join(f'{t:.2f}' for t in values)} |"
        for name, values in times.items()
    )
    report = f"""## One SST-2 training epoch, before and after a change

`textclf fit -c recipes/sst2/bilstm_max.yaml`, the two versions alternating in fresh processes ({args.rounds}
rounds of {args.epochs} epochs each). Machine: {machine()}.

| version | fastest epoch (s) | median epoch (s) | all epochs (s) |
| --- | ---: | ---: | --- |
{rows}

Ratio after / before: fastest {best[after] / best[before]:.2f}, median {median[after] / median[before]:.2f}.
Command: `{command()}`.
"""
    update_section("epoch-before-after", report)
    print(report)


if __name__ == "__main__":
    main()

"""Start-up of the `textclf` command: `--help`, `SUBCOMMAND --help` and `predict` on two texts, fresh processes.

    git worktree add /tmp/textclf-before <older commit>
    python benchmarks/startup.py --before /tmp/textclf-before --repeats 5

Each command runs `--repeats` times as `python -m textclf ...` in a fresh process, with PYTHONPATH set to this
checkout ("after") or to the `--before` checkout (same virtual environment), alternating before/after so machine
noise hits both. It reports the median wall time and the median CPU time (user + system, from os.wait4) of each.
The checkpoint for `predict` is trained first by a tiny `textclf fit` (the before checkout's, when given, so both
can read it) on generated CSV files, with random embeddings; OMP_NUM_THREADS=1 for every run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, update_section

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["good", "great", "lovely", "bad", "awful", "dull", "the", "film", "plot", "was", "a", "really"]


def run_once(checkout: Path, args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``python -m textclf ARGS`` with ``checkout`` first on the path; status must be 0.

    It runs in the system's temporary folder, so the working directory's textclf (if any) is not imported instead.
    """
    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, "-m", "textclf", *args]
    start = time.perf_counter()
    with open(os.devnull, "w") as null:
        process = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE, env=env, cwd=tempfile.gettempdir())
        assert process.stderr is not None
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{checkout}: textclf {' '.join(args)} exited with {process.returncode}:\n{errors.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def write_corpus(root: Path) -> tuple[Path, Path, Path]:
    """train.csv, test.csv (two classes, generated) and texts.txt (two unlabelled texts) under ``root``."""
    rng = random.Random(0)
    paths = []
    for name, rows in (("train.csv", 60), ("test.csv", 20)):
        lines = ["text,label"]
        for i in range(rows):
            label = "pos" if i % 2 else "neg"
            cue = rng.choice(WORDS[:3] if label == "pos" else WORDS[3:6])
            lines.append(" ".join([cue, *rng.choices(WORDS[6:], k=5)]) + f",{label}")
        paths.append(root / name)
        paths[-1].write_text("\n".join(lines) + "\n")
    texts = root / "texts.txt"
    texts.write_text("a great film\nthe plot was dull\n")
    return paths[0], paths[1], texts


def train_checkpoint(checkout: Path, root: Path) -> tuple[Path, Path]:
    """A tiny checkpoint, trained by ``checkout``'s textclf; and the texts to predict."""
    train, test, texts = write_corpus(root)
    run_once(
        checkout,
        [
            "fit",
            "-c",
            str(checkout / "recipes" / "custom" / "csv.yaml"),
            f"--data.init_args.train={train}",
            f"--data.init_args.test={test}",
            "--data.init_args.vectors=null",
            f"--data.init_args.cache_dir={root / 'cache'}",
            "--model.embedding_dim=8",
            "--model.encoder.init_args.hidden_size=8",
            "--trainer.max_epochs=1",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={root / 'runs'}",
        ],
    )
    return next((root / "runs").rglob("best.ckpt")), texts


def commit(checkout: Path) -> str:
    """The short commit hash of a git checkout, or "unknown"."""
    result = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, default=None, help="a checkout of the code to compare with")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    checkouts = {"after": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    with tempfile.TemporaryDirectory(prefix="textclf-startup-") as tmp:
        checkpoint, texts = train_checkpoint(checkouts.get("before", ROOT), Path(tmp))
        commands = {
            "textclf --help": ["--help"],
            "textclf predict --help": ["predict", "--help"],
            "textclf evaluate --help": ["evaluate", "--help"],
            "textclf export --help": ["export", "--help"],
            "textclf fit --help": ["fit", "--help"],
            "textclf predict CKPT texts.txt (2 texts)": ["predict", str(checkpoint), str(texts), "--no-progress"],
        }
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.repeats):
            for name, argv in commands.items():
                for label in reversed(checkouts):  # before first
                    results.setdefault((name, label), []).append(run_once(checkouts[label], argv))
    header = "| command | " + " | ".join(f"{label}: wall / CPU (s)" for label in reversed(checkouts)) + " |"
    rows = [header, "| --- |" + " ---: |" * len(checkouts)]
    for name in commands:
        cells = []
        for label in reversed(checkouts):
            runs = results[(name, label)]
            wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            cells.append(f"{wall:.2f} / {cpu:.2f}")
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    before = f" against `{args.before}` (before, commit {commit(args.before)})" if args.before else ""
    report = f"""## Start-up: `textclf --help`, `SUBCOMMAND --help`, `predict`

Median of {args.repeats} fresh processes per command (`python -m textclf ...`, OMP_NUM_THREADS=1), this
checkout (after){before}, same virtual environment; CPU = user + system seconds of the process. `predict` reads a
tiny checkpoint (random 8-d embeddings) and writes 2 predictions, so its time is nearly all imports. The machine
was shared with other work while this ran: wall times are noisy, CPU times less so.

{table}

Command: `{command()}`.
"""
    update_section("startup", report)
    print(report)


if __name__ == "__main__":
    run()

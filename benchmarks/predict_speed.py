"""Prediction throughput: texts/s and texts per CPU-second, in Python and through ``textclf predict``, one run.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/predict_speed.py

Two BiLSTM-max models (hidden 150 per direction) are trained first for one short epoch (the accuracy does not matter
here, only their size): SST-2 (sentences, about 19 tokens each) and IMDB (reviews, cut at 400 tokens by the
recipe). Each then predicts its corpus's test texts (SST-2: the 1,821 sentences four times over; IMDB: the first
2,000 reviews) with ``model.predict`` at 1, 32 and 256 texts per call, and with the command line
``textclf predict CKPT FILE -o OUT`` (its start-up included). CPU seconds are the process's user + system time
(children's for the command), so "texts per CPU-second" says how much of the machine a text costs.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, short_run_overrides, update_section

ROOT = Path(__file__).resolve().parents[1]
PER_CALL = (1, 32, 256)


def train(recipe: str, root: Path) -> Path:
    """A checkpoint of ``recipe`` after one short epoch (40 batches)."""
    args = [sys.executable, "-m", "textclf", "fit", "-c", recipe, *short_run_overrides(40, 5, root)]
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    return next(root.rglob("best.ckpt"))


def sst2_texts() -> list[str]:
    """The SST-2 test sentences, four times over (7,284 texts)."""
    path = Path(os.environ.get("TEXTCLF_DATA", "data")) / "sst2" / "stsa.binary.test"
    return [line.split(" ", 1)[1] for line in path.read_text(encoding="utf-8").splitlines()] * 4


def imdb_texts(count: int) -> list[str]:
    """The first ``count`` IMDB test reviews, as textclf reads them."""
    import textclf

    return list(textclf.IMDB().read_splits()["test"].texts)[:count]


def in_python(checkpoint: Path, texts: list[str]) -> dict[str, tuple[float, float]]:
    """(texts/s, texts per CPU-second) of ``model.predict`` at each of :data:`PER_CALL` texts per call."""
    from textclf import TextClassifier

    model = TextClassifier.load_from_checkpoint(checkpoint)
    model.predict(texts[:64])  # warm-up
    rows = {}
    for per_call in PER_CALL:
        wall, cpu = time.perf_counter(), time.process_time()
        subset = texts if per_call > 1 else texts[: len(texts) // 8]  # one at a time is slow: an eighth of the texts
        for start in range(0, len(subset), per_call):
            model.predict(subset[start : start + per_call], batch_size=per_call)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rows[f"model.predict, {per_call} per call"] = (len(subset) / wall, len(subset) / cpu)
    return rows


def on_command_line(checkpoint: Path, texts: list[str], work: Path) -> tuple[float, float]:
    """(texts/s, texts per CPU-second) of ``textclf predict CKPT FILE -o OUT``, start-up included."""
    source = work / f"{checkpoint.parent.parent.name}.txt"
    source.write_text("".join(" ".join(text.split()) + "\n" for text in texts), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    out = work / f"{source.stem}.jsonl"
    subprocess.run([sys.executable, "-m", "textclf", "predict", str(checkpoint), str(source), "-o", str(out)],
                   cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return len(texts) / wall, len(texts) / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb-texts", type=int, default=2000)
    args = parser.parse_args()
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="textclf-predict-speed-") as tmp:
        work = Path(tmp)
        for name, recipe, texts in (
            ("SST-2 sentences", "recipes/sst2/bilstm_max.yaml", sst2_texts()),
            ("IMDB reviews", "recipes/imdb/bilstm_max.yaml", imdb_texts(args.imdb_texts)),
        ):
            checkpoint = train(recipe, work / name.split()[0].lower())
            results = in_python(checkpoint, texts)
            results["textclf predict FILE -o OUT (start-up included)"] = on_command_line(checkpoint, texts, work)
            for how, (per_second, per_cpu) in results.items():
                rows.append(f"| {name} | {how} | {per_second:,.0f} | {per_cpu:,.0f} |")
                print(rows[-1], flush=True)
    table = "\n".join(rows)
    update_section(
        "predict-speed",
        f"""## Prediction throughput

BiLSTM-max recipes (hidden 150 per direction, GloVe 6B 50d), each trained one short epoch on its
corpus (the accuracy does not matter here). SST-2: the 1,821 test sentences four times over (one at a time: an
eighth of them); IMDB: the first {args.imdb_texts:,} test reviews, cut at 400 tokens by the recipe. CPU seconds are user
+ system time of the process (of the child for the command line). Machine: {machine()}.

| texts | how | texts/s | texts per CPU-second |
| --- | --- | ---: | ---: |
{table}

Command: `{command()}`.""",
    )


if __name__ == "__main__":
    main()

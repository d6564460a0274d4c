"""Peak memory and time of `textclf fit` on a CSV corpus 1x, 4x and 16x the size of IMDB's training set.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/scale.py --sizes 1 4 16

The training CSVs (columns text,label) repeat IMDB's 25,000 labelled training reviews 1, 4 and 16 times; val and
test CSVs of a fixed size come from IMDB's test reviews. They are written to a scratch folder (never the
repository), read from ``$TEXTCLF_DATA/imdb/aclImdb_v1.tar.gz``. Every size runs `textclf fit -c
recipes/custom/csv.yaml` in a fresh process under ``/usr/bin/time -v`` with a new, empty ``TEXTCLF_CACHE``
(so it prepares the corpus: read, tokenise, numericalise, cache; and builds the GloVe matrix), then a fixed,
small amount of training (--batches training batches, --eval-batches validation and test batches). A second
run on the same cache (``--cached``) measures the run without the preparation. Peak RSS is the "Maximum resident
set size" of ``time -v``; anonymous RSS is the peak ``RssAnon`` of ``/proc/PID/status`` (sampled); "prepared at" is
when the process logged that the cache was written.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, short_run_overrides, update_section

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "recipes/custom/csv.yaml"
TEXTCLF = str(Path(sys.executable).with_name("textclf"))
COLUMNS = (
    "size",
    "training rows",
    "CSV (MiB)",
    "prepared data (MiB)",
    "prepared at (s)",
    "wall (s)",
    "peak RSS (MiB)",
    "RSS / 1x",
    "anonymous RSS (MiB)",
    "cached run: wall (s)",
    "cached run: peak RSS (MiB)",
    "cached run: anonymous RSS (MiB)",
)
HEADER = "| " + " | ".join(COLUMNS) + " |\n| --- |" + " ---: |" * (len(COLUMNS) - 1)


def imdb_reviews(data_dir: Path) -> dict[str, tuple[list[str], list[str]]]:
    """IMDB's labelled train and test reviews (texts, labels), read with textclf's own reader."""
    from textclf.data.corpora.documents import IMDB

    splits = IMDB(data_dir=str(data_dir / "imdb")).read_files(data_dir / "imdb")
    return {name: (split.texts, split.labels) for name, split in splits.items()}


def write_csv(path: Path, texts: list[str], labels: list[str], repeat: int = 1) -> None:
    """A CSV with columns text,label holding the rows ``repeat`` times."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(repeat):
            writer.writerows(zip(texts, labels, strict=True))


def fit_arguments(train: Path, val: Path, test: Path, batches: int, eval_batches: int, root_dir: Path) -> list[str]:
    return [
        "fit",
        "-c",
        RECIPE,
        f"--data.init_args.train={train}",
        f"--data.init_args.val={val}",
        f"--data.init_args.test={test}",
        *short_run_overrides(batches, eval_batches, root_dir),
    ]


def measured_run(arguments: list[str], env: dict[str, str], scratch: Path) -> dict[str, float]:
    """One `textclf` process under ``/usr/bin/time -v``: wall seconds, peak RSS (MiB), seconds to "prepared"."""
    usage = scratch / "time.txt"
    started = time.perf_counter()
    process = subprocess.Popen(
        ["/usr/bin/time", "-v", "-o", str(usage), TEXTCLF, *arguments],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    peaks = {"RssAnon": 0.0}
    done = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(process.pid, peaks, done), daemon=True)
    sampler.start()
    prepared = float("nan")
    assert process.stderr is not None
    for line in process.stderr:  # textclf logs "prepared <module>: ..." once the cache is written
        if line.startswith("textclf: prepared "):
            prepared = time.perf_counter() - started
        sys.stderr.write(line)
    if process.wait() != 0:
        raise SystemExit(f"textclf failed: {' '.join(arguments)}")
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", usage.read_text())
    assert match is not None, usage.read_text()
    return {"wall": wall, "rss": int(match[1]) / 1024, "prepared": prepared, "anon": peaks["RssAnon"]}


def sample_memory(pid: int, peaks: dict[str, float], done: threading.Event) -> None:
    """Peak RssAnon (MiB) of the child of ``pid`` (``time``'s textclf process), sampled every 0.1 s."""
    while not done.wait(0.1):
        try:
            child = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0]
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in peaks:
                    peaks[key] = max(peaks[key], int(value.split()[0]) / 1024)
        except (OSError, IndexError):  # not started yet, or finished
            pass


def code(text: str) -> str:
    """``text`` as inline Markdown code, also when it holds backticks."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16], help="multiples of IMDB's train set")
    parser.add_argument("--eval-size", type=int, default=1000, help="rows of the val and of the test CSV")
    parser.add_argument("--batches", type=int, default=30, help="training batches (one epoch, batch 50)")
    parser.add_argument("--eval-batches", type=int, default=2, help="validation and test batches")
    parser.add_argument("--cached", action="store_true", help="also time a second run on the same cache")
    parser.add_argument("--section", default="scale", help="section of docs/benchmarks.md to write")
    parser.add_argument("--title", default="Corpora larger than memory: peak RSS and time as the corpus grows")
    parser.add_argument("--note", default="", help="a sentence about the code measured, printed under the title")
    parser.add_argument("--scratch", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    data_dir = os.environ.get("TEXTCLF_DATA")
    if not data_dir or not os.environ.get("TEXTCLF_VECTORS"):
        raise SystemExit("set TEXTCLF_DATA (the folder holding imdb/aclImdb_v1.tar.gz) and TEXTCLF_VECTORS")
    scratch = Path(tempfile.mkdtemp(prefix="textclf-scale-", dir=args.scratch))
    rows = []
    try:
        reviews = imdb_reviews(Path(data_dir))
        texts, labels = reviews["train"]
        held_texts, held_labels = reviews["test"]
        step = len(held_texts) // args.eval_size  # evenly spaced over both labels; val and test disjoint
        val, test = scratch / "val.csv", scratch / "test.csv"
        write_csv(val, held_texts[0::step][: args.eval_size], held_labels[0::step][: args.eval_size])
        write_csv(test, held_texts[1::step][: args.eval_size], held_labels[1::step][: args.eval_size])
        del reviews, held_texts, held_labels
        threads = os.environ.get("OMP_NUM_THREADS", "2")
        for size in args.sizes:
            train = scratch / f"train_{size}x.csv"
            write_csv(train, texts, labels, repeat=size)
            cache = scratch / f"cache_{size}x"
            env = {**os.environ, "TEXTCLF_CACHE": str(cache), "OMP_NUM_THREADS": threads}
            arguments = fit_arguments(train, val, test, args.batches, args.eval_batches, scratch / "runs")
            first = measured_run(arguments, env, scratch)
            second = measured_run(arguments, env, scratch) if args.cached else None
            cached_mib = sum(p.stat().st_size for p in (cache / "data").rglob("*") if p.is_file()) / 2**20
            rows.append((size, len(texts) * size, train.stat().st_size / 2**20, cached_mib, first, second))
            print(f"scale: {size}x {rows[-1]}", file=sys.stderr)
            train.unlink()
            shutil.rmtree(cache)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base_rss = rows[0][4]["rss"]
    lines = []
    for size, count, csv_mib, cached_mib, first, second in rows:
        cached = f"{second['wall']:.0f} | {second['rss']:,.0f} | {second['anon']:,.0f}" if second else "- | - | -"
        lines.append(
            f"| {size}x | {count:,} | {csv_mib:,.0f} | {cached_mib:,.0f} | {first['prepared']:.0f} | "
            f"{first['wall']:.0f} | {first['rss']:,.0f} | {first['rss'] / base_rss:.2f} | {first['anon']:,.0f} | "
            f"{cached} |"
        )
    table = "\n".join(lines)
    shown = " ".join(
        fit_arguments(
            Path("train.csv"), Path("val.csv"), Path("test.csv"), args.batches, args.eval_batches, Path("RUNS")
        )
    )
    note = f"\n\n{args.note}" if args.note else ""
    report = f"""## {args.title}{note}

`textclf fit -c {RECIPE}` (BiLSTM-max, GloVe 6B 50d, first 400 tokens, batch 50) on a training CSV that repeats
IMDB's 25,000 labelled training reviews 1, 4 or 16 times, with val and test CSVs of {args.eval_size:,} IMDB test
reviews each. Every size starts in a fresh process with a new, empty `TEXTCLF_CACHE`, so the run prepares the
corpus (reads, tokenises and numericalises it, writes the cache) and builds the vector matrix, then trains
{args.batches} batches and validates and tests on {args.eval_batches} batches each (the test report predicts the
whole test CSV). Peak RSS is `/usr/bin/time -v`'s "Maximum resident set size" of that process. It counts the
pages of memory-mapped files too (shared libraries, the cached ids), which the kernel can drop under memory
pressure; "anonymous RSS" is the peak of the process's own memory (`RssAnon` in `/proc/PID/status`, sampled every
0.1 s). "Prepared at" is when the process logged the written cache, from its start (imports included). The
cached run reuses the cache. Machine: {machine()}, OMP_NUM_THREADS={threads}; the machine was shared with other
jobs, so times vary by tens of percent between runs (memory does not).

{HEADER}
{table}

Command: {code(command())}; each run is `textclf {shown}` with `TEXTCLF_DATA` and `TEXTCLF_VECTORS` set as above.
"""
    print(report)
    update_section(args.section, report)


if __name__ == "__main__":
    run()

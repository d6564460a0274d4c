"""Aligning GloVe 6B 50d (400k words) to one new vocabulary after another, each in a fresh process.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors OMP_NUM_THREADS=1 \
        python benchmarks/vectors_store.py --before /tmp/h2-before

The vocabularies are TREC's training words (basic tokenizer, when $TEXTCLF_DATA/trec/TREC.train exists) and
random samples of GloVe's words of each --sizes (a different seed each). Each is aligned with
`build_embedding_matrix(..., cache_dir=<one fresh cache per checkout>)` in a process of its own, in this order, by
this checkout and (--before, e.g. a `git worktree add /tmp/h2-before <commit>` of older code) by another one.
The first alignment of this checkout parses the file into the parsed-vectors store; the later ones must not. A
last run repeats the first vocabulary (a vectors-matrix cache hit). Reported: seconds inside
`build_embedding_matrix`, and seconds from starting the process to its exit (imports included).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, update_section

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time, logging
sys.path.insert(0, sys.argv[1])
from textclf.vectors import build_embedding_matrix
from textclf.vectors import files
parses = []
if hasattr(files, "read_vectors"):
    real = files.read_vectors
    files.read_vectors = lambda *a, **k: parses.append(1) or real(*a, **k)
vocab = json.loads(open(sys.argv[4]).read())
start = time.perf_counter()
matrix, coverage = build_embedding_matrix(sys.argv[2], vocab, cache_dir=sys.argv[3])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "found": coverage.types_found, "parses": len(parses)}))
"""


def glove_words(path: Path) -> list[str]:
    """The first field of each line: GloVe's words (the benchmark's samples are drawn from them)."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.split(" ", 1)[0] for line in handle]


def vocabularies(words: list[str], sizes: list[int]) -> list[tuple[str, list[str]]]:
    out = []
    trec = Path(os.environ.get("TEXTCLF_DATA", "")) / "trec" / "TREC.train"
    if trec.is_file():
        from textclf.tokenize import Tokenizer

        tokenize = Tokenizer("basic")
        lines = trec.read_text(encoding="latin-1").splitlines()
        counts = Counter(token for line in lines for token in tokenize(line.partition(" ")[2]))
        out.append(("TREC train words", [w for w, _ in counts.most_common()]))
    for seed, size in enumerate(sizes, 1):
        out.append((f"random GloVe words (seed {seed})", random.Random(seed).sample(words, size)))
    return [(name, ["<pad>", "<unk>", *vocab]) for name, vocab in out]


def run(repo: Path, vectors: Path, cache: Path, vocab_file: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(repo), str(vectors), str(cache), str(vocab_file)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"child failed in {repo}:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("TEXTCLF_VECTORS", "../shared/vectors")) / "glove.6B.50d.txt.gz"
    parser.add_argument("--vectors", type=Path, default=default)
    parser.add_argument("--before", type=Path, help="root of a checkout of the older code, measured the same way")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 100000])
    parser.add_argument("--no-write", action="store_true", help="print the table; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    vocabs = vocabularies(glove_words(args.vectors), args.sizes)
    vocabs.append((f"{vocabs[0][0]} again", vocabs[0][1]))
    checkouts = {"after": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="vectors-store-bench-") as tmp:
        for i, (_, vocab) in enumerate(vocabs):
            Path(tmp, f"vocab{i}.json").write_text(json.dumps(vocab))
        for label, repo in checkouts.items():
            cache = Path(tmp, f"cache-{label}")
            results[label] = []
            for i, (name, vocab) in enumerate(vocabs):
                result = run(repo, args.vectors, cache, Path(tmp, f"vocab{i}.json"))
                results[label].append(result)
                print(f"{label}: {name} ({len(vocab) - 2:,} words): {result}", file=sys.stderr)
    write_report(args, vocabs, results)


def write_report(args: argparse.Namespace, vocabs: list[tuple[str, list[str]]], results: dict) -> None:
    before = "before" in results
    head = "| # | vocabulary | words | found | after: align s | after: process s | parsed |"
    head += " before: align s | before: process s | before / after (align) |" if before else ""
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for i, (name, vocab) in enumerate(vocabs):
        new = results["after"][i]
        row = f"| {i + 1} | {name} | {len(vocab) - 2:,} | {new['found']:,} | {new['seconds']:.2f} | {new['wall']:.1f} |"
        row += " yes |" if new["parses"] else " no |"
        if before:
            old = results["before"][i]
            row += f" {old['seconds']:.2f} | {old['wall']:.1f} | {old['seconds'] / new['seconds']:.1f}x |"
        rows.append(row)
    table = "\n".join(rows)
    markdown = f"""## Vectors parsed once: aligning {args.vectors.name} to new vocabularies

Each row is one fresh process calling `build_embedding_matrix(vectors, vocabulary, cache_dir=...)` with a
vocabulary it has not seen (except the last row: the first vocabulary again), in this order, on one cache per
checkout that starts empty. "align s" is the time inside `build_embedding_matrix`; "process s" adds Python's
start-up and the imports. "parsed" says whether the process parsed the vectors file (counted by patching
`textclf.vectors.files.read_vectors`). "before" is the code before the parsed-vectors store
({args.before or "not measured"}): it parses the file again for every new vocabulary. Machine: {machine()}.

{table}

Command: `{command()}`.
"""
    print(markdown)
    if not args.no_write:
        update_section("vectors-store", markdown)


if __name__ == "__main__":
    main()

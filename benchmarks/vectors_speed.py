"""Word-vector training throughput of ``textclf vectors train`` (words/s), side by side in one run.

    TEXTCLF_DATA=../shared/data python benchmarks/vectors_speed.py [--texts 10000] [--epochs 1]

Word2Vec skip-gram, Word2Vec CBOW and fastText skip-gram (subwords, bucket 200,000), 300 dimensions, window 5,
min_count 5, on the first ``--texts`` of IMDB's unlabelled reviews (tokenised as recipes/imdb/data.yaml does), with 1
and with 2 worker threads. The runs alternate in one process tree, so machine noise hits all of them. words/s is
what the command reports (raw words trained / training seconds, gensim's own measure); wall time includes
tokenising the texts and writing the file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, update_section

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "Word2Vec skip-gram": ["--model", "word2vec", "--sg"],
    "Word2Vec CBOW": ["--model", "word2vec", "--cbow"],
    "fastText skip-gram (subwords)": ["--model", "fasttext", "--sg", "--bucket", "200000"],
}


def train(out: Path, model: list[str], workers: int, texts: int, epochs: int) -> dict[str, float]:
    """One ``textclf vectors train`` run; its sidecar's numbers and the wall time."""
    args = [sys.executable, "-m", "textclf", "vectors", "train", "--data", "recipes/imdb/data.yaml", "--split",
            "unlabelled", "--max-texts", str(texts), "--dim", "300", "--epochs", str(epochs), "--workers",
            str(workers), "-o", str(out), *model]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    sidecar = json.loads(Path(f"{out}.json").read_text())
    return {"words/s": sidecar["words_per_second"], "wall": time.perf_counter() - start, "tokens": sidecar["tokens"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    rows, tokens = [], 0
    with tempfile.TemporaryDirectory(prefix="textclf-vectors-speed-") as tmp:
        for name, model in MODELS.items():
            rates = {}
            for workers in (1, 2):
                result = train(Path(tmp) / f"{len(rows)}-{workers}.bin", model, workers, args.texts, args.epochs)
                rates[workers], tokens = result, int(result["tokens"])
            ratio = rates[2]["words/s"] / rates[1]["words/s"]
            rows.append(
                f"| {name} | {rates[1]['words/s']:,.0f} | {rates[2]['words/s']:,.0f} | {ratio:.2f} | "
                f"{rates[1]['wall']:.0f} / {rates[2]['wall']:.0f} |"
            )
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    update_section(
        "vectors-speed",
        f"""## Training word vectors: words/s

`textclf vectors train` on the first {args.texts:,} of IMDB's unlabelled reviews ({tokens:,} tokens, `basic`
tokenizer), 300 dimensions, window 5, min_count 5, negative sampling 5, {args.epochs} epoch(s). words/s is raw words
trained per second of training (gensim's measure, as the command reports it); wall time includes tokenising and
writing the file. Machine: {machine()}. The whole 50,000 reviews (13.4M tokens) x 5 epochs: see docs/vectors.md.

| model | words/s, 1 worker | words/s, 2 workers | 2 / 1 | wall s (1 / 2 workers) |
| --- | ---: | ---: | ---: | ---: |
{table}

Command: `{command()}`.""",
    )


if __name__ == "__main__":
    main()

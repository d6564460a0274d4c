"""Multi-label classification on real data: MRDA dialog acts as label sets {basic, general, full}.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/multilabel_mrda.py --epochs 3

Every MRDA utterance carries a dialog act at three granularities (5 basic, 12 general, 52 full tags). Written as
JSONL with ``"labels": ["basic:S", "general:s", "full:rt"]``, the corpus becomes a 69-label multi-label task
that a user would train exactly like this: ``textclf fit -c recipes/custom/csv.yaml -c
recipes/custom/multilabel.yaml`` on their files. In the same run the single-label MRDA recipe is trained on the
full tags for the same number of epochs, for comparison. Results go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import run_recipe
from report import machine, update_section

ROOT = Path(__file__).resolve().parents[1]
LEVELS = ("basic", "general", "full")


def write_jsonl(source: Path, target: Path) -> int:
    """MRDA ``speaker|utterance|basic|general|full`` lines -> JSONL with a label set per utterance."""
    rows = 0
    with target.open("w", encoding="utf-8") as out:
        for line in source.read_text(encoding="utf-8").splitlines():
            _, text, *tags = line.split("|")
            if text.strip():
                labels = [f"{level}:{tag}" for level, tag in zip(LEVELS, tags, strict=True)]
                out.write(json.dumps({"text": text, "labels": labels}) + "\n")
                rows += 1
    return rows


def per_level_accuracy(checkpoint: Path, test: Path) -> dict[str, float]:
    """Accuracy of each level when its most probable tag is taken (one tag per level, as the corpus has)."""
    from textclf import TextClassifier

    model = TextClassifier.load_from_checkpoint(checkpoint)
    records = [json.loads(line) for line in test.read_text(encoding="utf-8").splitlines()]
    probs = model.predict_proba([r["text"] for r in records], batch_size=512)
    scores = {}
    for level in LEVELS:
        columns = [i for i, label in enumerate(model.labels) if label.startswith(f"{level}:")]
        best = [model.labels[columns[j]] for j in probs[:, columns].argmax(axis=1)]
        truth = [next(label for label in r["labels"] if label.startswith(f"{level}:")) for r in records]
        scores[level] = float(np.mean([b == t for b, t in zip(best, truth, strict=True)]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="where the JSONL files and runs go (temporary)")
    args = parser.parse_args()
    data = Path(os.environ.get("TEXTCLF_DATA", ROOT.parent / "shared" / "data")) / "mrda"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="textclf-mrda-multilabel-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sizes = {
        split: write_jsonl(data / f"{split}_set.txt", workdir / f"{split}.jsonl") for split in ("train", "val", "test")
    }
    common = [f"--trainer.max_epochs={args.epochs}", "--data.init_args.vectors_vocab_size=100000"]
    multi_args = [
        "-c",
        str(ROOT / "recipes" / "custom" / "multilabel.yaml"),
        *(f"--data.init_args.{split}={workdir / f'{split}.jsonl'}" for split in ("train", "val", "test")),
        "--data.init_args.max_length=null",
        *common,
    ]
    multi = run_recipe(ROOT / "recipes" / "custom" / "csv.yaml", workdir / "runs", multi_args)
    levels = per_level_accuracy(Path(str(multi["checkpoint"])), workdir / "test.jsonl")
    single = run_recipe(
        ROOT / "recipes" / "mrda" / "bilstm_max.yaml", workdir / "runs", [*common, "--data.init_args.labels=full"]
    )
    command = (
        f"TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/multilabel_mrda.py "
        f"--epochs {args.epochs}"
    )
    table = "\n".join(
        [
            "| model | test subset acc | micro-F1 | macro-F1 | basic acc | general acc | full acc | time |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            f"| multi-label, 69 labels, tuned thresholds | {100 * float(multi['test/acc']):.1f} | "
            f"{100 * float(multi['test/f1_micro']):.1f} | {100 * float(multi['test/f1_macro']):.1f} | "
            f"{100 * levels['basic']:.1f} | {100 * levels['general']:.1f} | {100 * levels['full']:.1f} | "
            f"{float(multi['seconds']) / 60:.1f} min |",
            f"| single-label recipe on the full tags (52 classes) | - | - | - | - | - | "
            f"{100 * float(single['test/acc']):.1f} | {float(single['seconds']) / 60:.1f} min |",
        ]
    )
    markdown = (
        f"MRDA utterances ({sizes['train']:,} / {sizes['val']:,} / {sizes['test']:,}) with the label set "
        "{basic, general, full} of each, as JSONL; BiLSTM-max recipe with glove.6B.50d, "
        f"{args.epochs} epochs each, best epoch by val micro-F1 (multi-label) or val accuracy (single-label). "
        "Subset accuracy counts an utterance right when its predicted set is exactly its three tags; the level "
        f"accuracies take each level's most probable tag. {machine()}.\n\n{table}\n\nCommand: `{command}`\n"
    )
    update_section("multilabel", markdown)
    print(markdown)
    print(shlex.join(sys.argv))


if __name__ == "__main__":
    main()

"""Fine-tune an SST-2 model on MR given as plain CSV files, against the same recipe trained from scratch.

1. Train ``recipes/sst2/bilstm_max.yaml`` (or take ``--sst2-checkpoint``).
2. Write MR (``rt-polarity.pos``/``.neg``, Windows-1252) into ``train/val/test.csv`` (text,label), split 80/10/10
   per class with a seeded shuffle; once with SST-2's label names (negative/positive: the same label set, so the
   head continues) and once with other names (neg/pos: a new head).
3. Run ``recipes/custom/finetune_csv.yaml`` for ``--epochs`` epochs per seed: from scratch (``--model.init_from
   null``) and fine-tuned in several variants; every run tests its best epoch (by val accuracy) on the same MR test.

Writes the table and the command into docs/finetune.md::

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/finetune_mr.py
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import command, machine, update_section

ROOT = Path(__file__).resolve().parents[1]
FINETUNE_MD = ROOT / "docs" / "finetune.md"
RECIPE = ROOT / "recipes" / "custom" / "finetune_csv.yaml"
ENCODER = json.dumps(  # the encoder of recipes/_base/bilstm_max.yaml, which trains the SST-2 checkpoint
    {"class_path": "textclf.RNNEncoder", "init_args": {"cell": "lstm", "hidden_size": 150, "pooling": "max"}}
)

# name -> (label names, extra arguments); "scratch" is the baseline
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "scratch": ("sst2", ["--model.init_from=null"]),
    "fine-tuned, same labels (head continues)": ("sst2", []),
    "fine-tuned, other label names (new head)": ("other", []),
    "fine-tuned, new head, backbone frozen 1 epoch, backbone lr x0.3": (
        "other",
        ["--model.freeze_backbone_epochs=1", "--model.backbone_lr_scale=0.3"],
    ),
    "fine-tuned, same labels, vocabulary kept (not extended)": ("sst2", ["--data.init_args.extend_vocab=false"]),
}
LABELS = {"sst2": ("negative", "positive"), "other": ("neg", "pos")}


def read_mr(folder: Path) -> dict[str, list[str]]:
    """MR's sentences per polarity: Windows-1252 bytes (0x85 is an ellipsis), one sentence per newline."""
    sentences = {}
    for polarity in ("neg", "pos"):
        text = (folder / f"rt-polarity.{polarity}").read_bytes().decode("cp1252")
        sentences[polarity] = [line.strip() for line in text.split("\n") if line.strip()]
    return sentences


def write_splits(sentences: dict[str, list[str]], folder: Path, names: tuple[str, str], seed: int) -> None:
    """train/val/test.csv, 80/10/10 of each class (seeded shuffle), label i = names[i] (0 = negative)."""
    rows: dict[str, list[tuple[str, str]]] = {"train": [], "val": [], "test": []}
    for label, polarity in zip(names, ("neg", "pos"), strict=True):
        texts = list(sentences[polarity])
        random.Random(seed).shuffle(texts)
        n_test = n_val = len(texts) // 10
        rows["test"] += [(t, label) for t in texts[:n_test]]
        rows["val"] += [(t, label) for t in texts[n_test : n_test + n_val]]
        rows["train"] += [(t, label) for t in texts[n_test + n_val :]]
    folder.mkdir(parents=True, exist_ok=True)
    for split, split_rows in rows.items():
        random.Random(seed).shuffle(split_rows)
        with (folder / f"{split}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(split_rows)


def textclf(args: list[str], log: Path) -> None:
    """``python -m textclf ARGS``, its output in ``log``; exits with the log's tail when it fails."""
    with log.open("w") as handle:
        result = subprocess.run([sys.executable, "-m", "textclf", *args], stdout=handle, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        sys.exit(f"textclf {' '.join(args[:3])} failed:\n" + "\n".join(log.read_text().splitlines()[-15:]))


def train_sst2(work: Path) -> Path:
    """Train recipes/sst2/bilstm_max.yaml into ``work/runs``; the path of its best checkpoint."""
    textclf(
        [
            *("fit", "-c", str(ROOT / "recipes/sst2/bilstm_max.yaml")),
            *(f"--trainer.default_root_dir={work / 'runs'}", "--trainer.enable_progress_bar=false"),
        ],
        work / "sst2.log",
    )
    return work / "runs/sst2/bilstm_max/version_0/checkpoints/best.ckpt"


def run_variant(name: str, seed: int, checkpoint: Path, work: Path, epochs: int) -> tuple[Path, bool]:
    """Fine-tune (or train) one variant and seed; its best checkpoint, and whether an earlier run was reused."""
    labels, extra = VARIANTS[name]
    data = work / f"mr-{labels}"
    root = work / "runs" / f"mr-{list(VARIANTS).index(name)}-seed{seed}"
    done = list(root.rglob("test_metrics.json"))
    if not done:
        args = ["fit", "-c", str(RECIPE), f"--model.init_from={checkpoint}", f"--model.encoder={ENCODER}"]
        args += [f"--data.init_args.{split}={data / f'{split}.csv'}" for split in ("train", "val", "test")]
        args += ["--data.init_args.tokenizer=whitespace", "--data.init_args.vectors_vocab_size=100000"]
        args += [f"--seed_everything={seed}", f"--data.init_args.seed={seed}", f"--trainer.max_epochs={epochs}"]
        args += [f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false", *extra]
        textclf(args, root.with_suffix(".log"))
    metrics = json.loads(next(root.rglob("test_metrics.json")).read_text())
    return Path(metrics["checkpoint"]), bool(done)


def normalised(text: str) -> str:
    """Letters and digits only, lowercased: SST and MR tokenise differently ("wo n't" / "won't", "-lrb-" / "(")."""
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("-lrb-", "(").replace("-rrb-", ")"))


def test_rows(data: Path, sst2: Path) -> tuple[list[str], list[str], list[bool]]:
    """MR test texts, labels, and whether each is absent from SST-2's training file."""
    seen = {normalised(line.partition(" ")[2]) for line in (sst2 / "stsa.binary.train").read_text().splitlines()}
    with (data / "test.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts, labels = [row["text"] for row in rows], [row["label"] for row in rows]
    return texts, labels, [normalised(text) not in seen for text in texts]


def accuracies(checkpoint: Path, data: Path, sst2: Path) -> tuple[float, float]:
    """Accuracy of ``checkpoint`` on the MR test split, and on its sentences that SST-2's training file lacks."""
    from textclf import TextClassifier

    texts, labels, unseen = test_rows(data, sst2)
    right = [
        p == y for p, y in zip(TextClassifier.load_from_checkpoint(checkpoint).predict(texts), labels, strict=True)
    ]
    return statistics.mean(right), statistics.mean(r for r, u in zip(right, unseen, strict=True) if u)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sst2-checkpoint", type=Path, help="skip step 1 and fine-tune from this checkpoint")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--split-seed", type=int, default=42)
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep runs and CSVs here and reuse finished runs (default: a temporary folder, removed at the end)",
    )
    parser.add_argument("--no-docs", action="store_true", help="print the table, leave docs/finetune.md alone")
    args = parser.parse_args()
    data_root = Path(os.environ.get("TEXTCLF_DATA", "../shared/data")).resolve()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="textclf-finetune-mr-"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    checkpoint = args.sst2_checkpoint or train_sst2(work)
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    sentences = read_mr(data_root / "mr")
    for key, names in LABELS.items():
        write_splits(sentences, work / f"mr-{key}", names, args.split_seed)
    sst2 = data_root / "sst2"
    runs = {name: [run_variant(name, seed, checkpoint, work, args.epochs) for seed in args.seeds] for name in VARIANTS}
    reused = sum(again for seeds_runs in runs.values() for _, again in seeds_runs)
    results = {
        name: [accuracies(best, work / f"mr-{VARIANTS[name][0]}", sst2) for best, _ in seeds_runs]
        for name, seeds_runs in runs.items()
    }
    as_is = accuracies(checkpoint, work / "mr-sst2", sst2)
    unchanged = hashlib.sha256(checkpoint.read_bytes()).hexdigest() == digest
    sizes = {
        split: sum(1 for _ in (work / "mr-sst2" / f"{split}.csv").open()) - 1 for split in ("train", "val", "test")
    }
    unseen = sum(test_rows(work / "mr-sst2", sst2)[2])

    seeds = ", ".join(map(str, args.seeds))
    lines = [
        f"MR test accuracy (%), best of {args.epochs} epochs by validation accuracy, seeds {seeds}; MR as CSV "
        f"(train/val/test {sizes['train']:,}/{sizes['val']:,}/{sizes['test']:,}, split seed {args.split_seed}). "
        f"Last column: the {unseen:,} test sentences that are not in SST-2's training file.",
        "",
        "| run | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean | mean, not in SST-2 train |",
        "| --- |" + " ---: |" * (len(args.seeds) + 2),
    ]
    for name, accs in results.items():
        cells = " | ".join(f"{100 * a:.2f}" for a, _ in accs)
        mean_all, mean_unseen = (100 * statistics.mean(a[i] for a in accs) for i in (0, 1))
        lines.append(f"| {name} | {cells} | **{mean_all:.2f}** | {mean_unseen:.2f} |")
    dashes = " | ".join("—" for _ in args.seeds)
    lines.append(
        f"| SST-2 checkpoint as it is (no MR training) | {dashes} | {100 * as_is[0]:.2f} | {100 * as_is[1]:.2f} |"
    )
    lines += [
        "",
        f"- {100 * (1 - unseen / sizes['test']):.1f}% of the MR test sentences are in SST-2's training file (compared "
        "on letters and digits): SST was built from the Rotten Tomatoes snippets of MR.",
        f"- The starting checkpoint was byte-identical after all runs: {'yes' if unchanged else 'NO'}.",
        f"- {machine()}; {time.perf_counter() - start:.0f} s in all"
        + (f" ({reused} of the runs reused from --workdir)." if reused else "."),
        "",
        f"Command: `TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors {command()}`",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_docs:
        update_section("finetune_mr", table, FINETUNE_MD)
    if args.workdir is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

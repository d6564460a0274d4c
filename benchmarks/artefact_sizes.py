"""Sizes of the TREC recipe's checkpoints and ONNX file, what takes their bytes, and fp16 parity; before and after.

    OMP_NUM_THREADS=1 TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors \
        python benchmarks/artefact_sizes.py --before REV

Each version (this checkout, and REV checked out with `git worktree` in a temporary folder) runs, in fresh
processes whose `PYTHONPATH` points at its checkout:

    textclf fit -c recipes/trec/<recipe>.yaml --trainer.max_epochs 1 [--model.embedding_mode M]
    textclf export <run>/checkpoints/best.ckpt <folder> --format onnx

for TREC bilstm_max (the recipe as written), bilstm_max in multichannel mode and gru_last. The table gives the
sizes of best.ckpt, last.ckpt and model.onnx, the bytes of the frozen vector rows and of the optimizer state in
the checkpoints (read with `torch.load(weights_only=True)`), and the test accuracy of `fit`. This checkout's
textclf then measures, on the TREC test questions: the largest difference of probabilities between REV's
float32 checkpoint and the same checkpoint with its frozen rows rounded through float16 (the parity asked of
float16 storage), and between this checkout's checkpoint and its ONNX export (onnxruntime). The result goes to
docs/benchmarks.md (section "artefact-sizes").
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, update_section  # noqa: E402

VARIANTS = {  # name -> recipe, extra fit options
    "bilstm_max": ("bilstm_max", []),
    "bilstm_max, multichannel": ("bilstm_max", ["--model.embedding_mode=multichannel"]),
    "gru_last": ("gru_last", []),
}
MB = 1e6
HEADER = (
    "| version | model | best.ckpt | last.ckpt | model.onnx | frozen rows | other weights | section "
    "| optimizer (best / last) | test acc |\n| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |"
)


def run_version(tree: Path, out: Path) -> dict[str, dict[str, object]]:
    """Train and export every variant with the textclf of ``tree``; the paths and test accuracy of each."""
    env = {**os.environ, "PYTHONPATH": str(tree)}  # and the working directory is tree: its textclf runs
    for name in ("TEXTCLF_DATA", "TEXTCLF_VECTORS", "TEXTCLF_CACHE"):  # paths relative to where this was started
        if env.get(name):
            env[name] = str(Path(env[name]).resolve())
    results: dict[str, dict[str, object]] = {}
    for i, (name, (recipe, extra)) in enumerate(VARIANTS.items()):
        root = out / f"variant{i}"
        fit = [sys.executable, "-m", "textclf", "fit", "-c", str(tree / "recipes" / "trec" / f"{recipe}.yaml"),
               "--trainer.max_epochs=1", "--trainer.enable_progress_bar=false",
               f"--trainer.default_root_dir={root}", *extra]  # fmt: skip
        _run(fit, env, tree)
        best = next(root.rglob("best.ckpt"))
        export = [sys.executable, "-m", "textclf", "export", str(best), str(root / "export"), "--format", "onnx"]
        _run(export, env, tree)
        metrics = json.loads((best.parent.parent / "test_metrics.json").read_text())
        results[name] = {"best": best, "last": best.parent / "last.ckpt", "onnx": root / "export" / "model.onnx",
                         "acc": metrics["test/acc"]}  # fmt: skip
    return results


def _run(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args[2:5])} failed (status {done.returncode}):\n{done.stderr[-3000:]}")


def breakdown(path: Path) -> dict[str, float]:
    """Bytes (MB) of a checkpoint's frozen vector rows, its other weights, its optimizer state, its textclf section."""
    import torch

    checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    frozen_names = ("embedding.frozen", "embedding.untrained", "embedding.frozen.weight")
    sizes = {"frozen": 0.0, "weights": 0.0}
    for name, tensor in checkpoint["state_dict"].items():
        sizes["frozen" if name in frozen_names else "weights"] += tensor.numel() * tensor.element_size() / MB
    states = [s for o in checkpoint.get("optimizer_states", []) for s in o["state"].values()]
    sizes["optimizer"] = sum(t.numel() * t.element_size() for s in states for t in s.values()) / MB
    sizes["section"] = len(pickle.dumps(checkpoint["textclf"])) / MB
    frozen = [t for n, t in checkpoint["state_dict"].items() if n in frozen_names]
    sizes["frozen_rows"] = sum(len(t) for t in frozen)
    sizes["dtype"] = str(frozen[0].dtype).removeprefix("torch.") if frozen else "-"  # type: ignore[assignment]
    return sizes


def trec_test_texts() -> list[str]:
    """The TREC test questions (``$TEXTCLF_DATA/trec/TREC.test``: ``LABEL:fine question`` lines)."""
    path = Path(os.environ.get("TEXTCLF_DATA", "data")) / "trec" / "TREC.test"
    return [line.split(" ", 1)[1].strip() for line in path.read_text("latin-1").splitlines() if line.strip()]


def fp16_parity(path: Path, texts: list[str]) -> tuple[float, int]:
    """Max |p - p16|, and how many predicted classes differ, where p16 comes from ``path``'s model with its frozen
    rows rounded through float16."""
    import numpy as np
    import torch

    from textclf import TextClassifier

    model = TextClassifier.load_from_checkpoint(path)
    before = model.predict_proba(texts)
    with torch.no_grad():
        model.embedding.frozen.copy_(model.embedding.frozen.half().to(model.embedding.frozen.dtype))
    after = model.predict_proba(texts)
    return float(np.abs(after - before).max()), int((after.argmax(1) != before.argmax(1)).sum())


def onnx_parity(path: Path, onnx: Path, texts: list[str]) -> float:
    """Max |p_onnx - p_checkpoint| on ``texts``, tokenised from the exported JSON files alone."""
    import numpy as np

    from textclf import TextClassifier
    from textclf.export import encode_with_vocab, load_exported

    folder = onnx.parent
    vocab = json.loads((folder / "vocab.json").read_text("utf-8"))
    settings = json.loads((folder / "tokenizer.json").read_text("utf-8"))
    token_ids, lengths = encode_with_vocab(texts, vocab, settings)
    exported = load_exported(onnx)(token_ids, lengths)
    return float(np.abs(exported - TextClassifier.load_from_checkpoint(path).predict_proba(texts)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="the commit to compare with (default: this checkout only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="textclf-sizes-") as tmp:
        versions = {"after (this checkout)": run_version(ROOT, Path(tmp) / "after")}
        if args.before:
            before = Path(tmp) / "before-tree"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before],
                           check=True, capture_output=True)  # fmt: skip
            try:
                versions = {f"before ({args.before})": run_version(before, Path(tmp) / "before"), **versions}
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
        write(versions, trec_test_texts())


def write(versions: dict[str, dict[str, dict[str, object]]], texts: list[str]) -> None:
    rows = []
    for version, variants in versions.items():
        for name, result in variants.items():
            best, last = breakdown(Path(str(result["best"]))), breakdown(Path(str(result["last"])))
            sizes = [Path(str(result[k])).stat().st_size / MB for k in ("best", "last", "onnx")]
            rows.append(
                f"| {version} | {name} | {sizes[0]:.1f} | {sizes[1]:.1f} | {sizes[2]:.1f} | "
                f"{best['frozen']:.1f} ({best['frozen_rows']:,} rows, {best['dtype']}) | {best['weights']:.1f} | "
                f"{best['section']:.1f} | {best['optimizer']:.1f} / {last['optimizer']:.1f} | {result['acc']:.4f} |"
            )
    after = versions["after (this checkout)"]
    lines = []
    for name, r in after.items():
        diff = onnx_parity(Path(str(r["best"])), Path(str(r["onnx"])), texts)
        lines.append(f"- {name}: checkpoint vs its ONNX export, max |dp| = {diff:.2g}")
    before = next((v for k, v in versions.items() if k.startswith("before")), None)
    if before is not None:
        for name, r in before.items():
            diff, changed = fp16_parity(Path(str(r["best"])), texts)
            lines.append(f"- {name}: before's float32 checkpoint vs the same with its frozen rows rounded through "
                         f"float16, max |dp| = {diff:.2g}, predicted classes changed: {changed}")  # fmt: skip
    markdown = f"""
## Checkpoint and ONNX sizes (TREC, one epoch)

`textclf fit -c recipes/trec/<recipe>.yaml --trainer.max_epochs 1`, then `textclf export best.ckpt DIR --format
onnx`. The recipes add GloVe's 100k most frequent words (`vectors_vocab_size: 100000`) as frozen rows. Sizes in MB
(10^6 bytes); "frozen rows" are the bytes of the frozen vector rows in best.ckpt, "other weights" the trained ones,
"section" the pickled textclf section (the vocabulary of about 100k words), "optimizer" the Adam state (exp_avg,
exp_avg_sq of the trained parameters: both best.ckpt and last.ckpt hold it, as Lightning writes them). Machine:
{machine()}.

{HEADER}
{chr(10).join(rows)}

Probabilities on the {len(texts)} TREC test questions (this checkout's textclf):
{chr(10).join(lines)}

Command: `{command()}`.
"""
    print(markdown)
    update_section("artefact-sizes", markdown)


if __name__ == "__main__":
    main()

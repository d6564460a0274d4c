"""Training speed on one GPU: the IMDB recipe end to end against a raw nn.LSTM loop on the same batches.

    TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors python benchmarks/gpu_speed.py --write

In one process: (1) ``textclf``'s IMDB recipe (BiLSTM 150, max pooling, batch 32, first 400 tokens) trains one
epoch through the recipe's own Trainer (validation off); (2) a plain PyTorch loop (``benchmarks/plain_loop.py``'s
model: embedding, ``nn.LSTM``, masked max pooling, Adam) trains on exactly the same batches, once calling cuDNN
on the padded batch (fast, but the backward direction reads the padding first: not exact) and once on packed
sequences (exact). Throughput is real (non-padding) tokens per second after ``--warmup`` batches, with the
device synchronised at both ends. ``--write`` puts the table, the card's name and the command into
docs/benchmarks.md (only on a CUDA device). ``--device cpu --max-batches 20`` checks the script on a laptop.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import lightning as L
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_loop import PlainBiLSTM
from report import update_section

from textclf.cli import TextclfCLI

ROOT = Path(__file__).resolve().parents[1]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stopwatch(L.Callback):
    """Wall time from the start of batch ``warmup`` to the end of training (device synchronised)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.seconds = warmup, 0.0, 0.0

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: object, index: int) -> None:
        if index == self.warmup:
            synchronize(module.device)
            self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        synchronize(module.device)
        self.seconds = time.perf_counter() - self.start


def recipe_run(args: argparse.Namespace) -> tuple[TextclfCLI, list[list[int]], float]:
    """Train the recipe for one epoch (or ``max_batches``); return the CLI, its batches and the timed seconds."""
    accelerator = "gpu" if args.device.startswith("cuda") else "cpu"
    cli = TextclfCLI(
        args=[
            "-c",
            str(ROOT / "recipes" / "imdb" / "bilstm_max.yaml"),
            "--trainer.max_epochs=1",
            f"--trainer.accelerator={accelerator}",
            "--trainer.devices=1",
            f"--trainer.precision={args.precision}",
            f"--trainer.limit_train_batches={args.max_batches or 1.0}",
            "--trainer.limit_val_batches=0",
            "--trainer.callbacks=[]",
            "--trainer.enable_checkpointing=false",
            "--trainer.logger=false",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
        ],
        run=False,
        save_config_callback=None,
    )
    loader = cli.datamodule.train_dataloader()
    loader.batch_sampler.set_epoch(0)  # type: ignore[union-attr]  (the order Lightning's epoch 0 will see)
    batches = list(loader.batch_sampler)  # type: ignore[arg-type]
    if args.max_batches:
        batches = batches[: args.max_batches]
    stopwatch = Stopwatch(args.warmup)
    cli.trainer.callbacks.append(stopwatch)
    cli.trainer.fit(cli.model, cli.datamodule)
    return cli, batches, stopwatch.seconds


def raw_loop(cli: TextclfCLI, batches: list[list[int]], args: argparse.Namespace, packed: bool) -> float:
    """Seconds of a plain training loop over ``batches`` after ``warmup`` of them."""
    device = torch.device(args.device)
    dataset = cli.datamodule.split("train")
    torch.manual_seed(0)
    model = PlainBiLSTM(len(cli.datamodule.vocab), 50, 150, cli.datamodule.num_classes, packed=packed).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision)
    start = 0.0
    for step, indices in enumerate(batches):
        if step == args.warmup:
            synchronize(device)
            start = time.perf_counter()
        batch = dataset.__getitems__(indices)
        ids, lengths = batch["token_ids"].to(device), batch["lengths"].to(device)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = nn.functional.cross_entropy(model(ids, lengths), batch["targets"].to(device))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--precision", default="bf16-mixed", help="Lightning precision for both loops (or 32-true)")
    parser.add_argument("--warmup", type=int, default=20, help="batches not timed (cuDNN set-up, caches)")
    parser.add_argument("--max-batches", type=int, default=0, help="0: the whole epoch")
    parser.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu to check the script")
    cli, batches, textclf_seconds = recipe_run(args)
    lengths = cli.datamodule.split("train").lengths
    tokens = int(sum(lengths[b].sum() for b in batches[args.warmup :]))
    padded_seconds = raw_loop(cli, batches, args, packed=False)
    packed_seconds = raw_loop(cli, batches, args, packed=True)
    card = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    rows = [
        ("textclf fit, IMDB recipe (exact padded BiLSTM)", textclf_seconds),
        ("plain loop, cuDNN on the padded batch (inexact backward direction)", padded_seconds),
        ("plain loop, packed sequences (exact)", packed_seconds),
    ]
    table = "\n".join(
        ["| loop | real tokens/s | vs plain padded |", "| --- | ---: | ---: |"]
        + [f"| {name} | {tokens / s:,.0f} | {padded_seconds / s:.2f} |" for name, s in rows]
    )
    command = "python " + shlex.join(["benchmarks/gpu_speed.py", *sys.argv[1:]])
    markdown = (
        f"{card}, torch {torch.__version__}, precision {args.precision}; {len(batches) - args.warmup:,} timed "
        f"batches of the IMDB recipe's first training epoch ({tokens:,} real tokens, batch 32, first 400 tokens, "
        f"after {args.warmup} warm-up batches), the same batches in all three loops.\n\n{table}\n\n"
        f"Command: `TEXTCLF_DATA=../shared/data TEXTCLF_VECTORS=../shared/vectors {command}`\n"
    )
    print(markdown)
    if args.write and args.device.startswith("cuda"):
        update_section("gpu-speed", markdown)


if __name__ == "__main__":
    main()

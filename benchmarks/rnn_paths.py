"""Compare RNNEncoder's "packed" and "padded" implementations: forward+backward time per batch and agreement.

Batches mimic a length-bucketing sampler: each bucket draws lengths uniformly from a narrow range, plus one
unbucketed row with lengths 5..60 for the worst case of padding. Run: python benchmarks/rnn_paths.py [--help]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

# Run from a checkout without installing the package: put the repository root first on the path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from textclf.encoders import RNNEncoder

BUCKETS = [(5, 15), (15, 30), (30, 45), (45, 60), (5, 60)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", nargs="+", default=["lstm"], choices=["lstm", "gru"])
    parser.add_argument("--input-sizes", nargs="+", type=int, default=[50, 300])
    parser.add_argument("--hidden-size", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--unidirectional", action="store_true", help="benchmark a unidirectional RNN")
    parser.add_argument("--pooling", default="max", choices=["last", "mean", "max", "attention"])
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per row and path")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--inference", action="store_true", help="time forward only, eval mode, no grad")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave the default)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def make_batch(args: argparse.Namespace, low: int, high: int, input_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.randint(low, high + 1, (args.batch_size,))  # (batch,)
    embedded = torch.randn(args.batch_size, int(lengths.max()), input_size, device=args.device)  # (batch, seq, in)
    return embedded.requires_grad_(), lengths.to(args.device)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_paths(
    encoder: RNNEncoder, batches: list[tuple[torch.Tensor, torch.Tensor]], args: argparse.Namespace
) -> dict[str, float]:
    """Median milliseconds per batch of each path; the paths alternate batch by batch so load hits both alike."""
    times: dict[str, list[float]] = {"packed": [], "padded": []}
    for i, (embedded, lengths) in enumerate(batches):
        order = ("packed", "padded") if i % 2 == 0 else ("padded", "packed")
        for path in order:
            encoder.implementation = path  # type: ignore[assignment]
            encoder.zero_grad(set_to_none=True)
            embedded.grad = None
            sync(args.device)
            start = time.perf_counter()
            if args.inference:
                with torch.no_grad():
                    encoder(embedded, lengths)
            else:
                encoder(embedded, lengths).sum().backward()
            sync(args.device)
            if i >= args.warmup:
                times[path].append((time.perf_counter() - start) * 1000.0)
    return {path: statistics.median(values) for path, values in times.items()}


def max_difference(encoder: RNNEncoder, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    worst = 0.0
    for embedded, lengths in batches[:3]:
        outputs = []
        for path in ("packed", "padded"):
            encoder.implementation = path  # type: ignore[assignment]
            outputs.append(encoder(embedded, lengths).detach())
        worst = max(worst, (outputs[0] - outputs[1]).abs().max().item())
    return worst


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bidirectional = not args.unidirectional
    print(
        f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__} batch={args.batch_size} "
        f"hidden={args.hidden_size} layers={args.num_layers} bidirectional={bidirectional} pooling={args.pooling} "
        f"timed={'forward (inference)' if args.inference else 'forward+backward'}"
    )
    header = (
        f"{'cell':<5} {'input':>5} {'lengths':>8} {'packed ms':>10} {'padded ms':>10} {'padded/packed':>14} "
        f"{'max |diff|':>11}"
    )
    print(header)
    print("-" * len(header))
    for cell in args.cells:
        for input_size in args.input_sizes:
            encoder = RNNEncoder(
                input_size,
                cell=cell,
                hidden_size=args.hidden_size,
                num_layers=args.num_layers,
                bidirectional=bidirectional,
                pooling=args.pooling,
            ).to(args.device)
            encoder.train(not args.inference)
            for low, high in BUCKETS:
                batches = [make_batch(args, low, high, input_size) for _ in range(args.warmup + args.repeats)]
                ms = time_paths(encoder, batches, args)
                packed, padded = ms["packed"], ms["padded"]
                diff = max_difference(encoder, batches)
                print(
                    f"{cell:<5} {input_size:>5} {f'{low}..{high}':>8} {packed:>10.2f} {padded:>10.2f} "
                    f"{padded / packed:>14.2f} {diff:>11.2e}"
                )


if __name__ == "__main__":
    main()

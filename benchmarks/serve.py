"""`textclf serve` on loopback: requests/s and p50/p99 latency at 1, 8 and 64 concurrent clients, against in-process.

    python benchmarks/serve.py [--checkpoint best.ckpt] [--seconds 5]

Without --checkpoint, a TREC gru_last model is trained first (one short epoch: 40 batches; the accuracy does not
matter here, only the model's size and speed). The server (`textclf serve` defaults: max_batch_size 8,
batch_timeout 5 ms, one worker) runs in a subprocess; the clients are threads in this process, each with its own
keep-alive HTTP connection, sending TREC test questions for `--seconds` per row after a one-second warm-up.
Client and server share the machine's CPUs (OMP_NUM_THREADS=1 for both). The in-process rows time
`model.predict_proba` on the same questions in this process: one text per call, and 256 per call.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import command, machine, short_run_overrides, update_section

ROOT = Path(__file__).resolve().parents[1]
SERVER = """
import sys
from jsonargparse import ArgumentParser
from textclf.serve_cli import add_arguments, run
parser = ArgumentParser()
add_arguments(parser)
run(parser.parse_args(sys.argv[1:]))
"""
ROWS = [(1, 1), (8, 1), (64, 1), (8, 32)]  # (concurrent clients, texts per request)


def train(root: Path) -> Path:
    """A TREC gru_last checkpoint from one short epoch."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    args = ["-c", "recipes/trec/gru_last.yaml", *short_run_overrides(40, 5, root)]
    subprocess.run([sys.executable, "-m", "textclf", "fit", *args], cwd=ROOT, env=env, check=True, capture_output=True)
    return next(root.rglob("best.ckpt"))


def questions() -> list[str]:
    """The TREC test questions (their text, without the label)."""
    data = Path(os.environ.get("TEXTCLF_DATA", "data")) / "trec" / "TREC.test"
    return [line.split(" ", 1)[1].strip() for line in data.read_text(encoding="latin-1").splitlines() if " " in line]


def start_server(checkpoint: Path) -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, "-c", SERVER, str(checkpoint), "--port", str(port)]
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    sys.exit("the server did not become healthy within 2 minutes")


def load(port: int, texts: list[str], clients: int, per_request: int, seconds: float) -> dict[str, float]:
    """Requests/s, texts/s and p50/p99 latency (ms) of ``clients`` threads sending requests for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start_at, warm_until = time.monotonic() + 0.2, time.monotonic() + 1.2
    stop_at = warm_until + seconds

    def client(i: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        n = i * per_request
        while time.monotonic() < start_at:
            time.sleep(0.01)
        while (now := time.monotonic()) < stop_at:
            batch = [texts[(n + j) % len(texts)] for j in range(per_request)]
            n += clients * per_request
            connection.request("POST", "/predict", json.dumps({"texts": batch}), {"Content-Type": "application/json"})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {body[:200]!r}")
            if now >= warm_until:
                latencies[i].append(time.monotonic() - now)
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(x for row in latencies for x in row)
    count = len(every)
    return {
        "requests_s": count / seconds,
        "texts_s": count * per_request / seconds,
        "p50_ms": 1000 * statistics.median(every),
        "p99_ms": 1000 * every[min(count - 1, int(0.99 * count))],
    }


def in_process(checkpoint: Path, texts: list[str], seconds: float) -> dict[str, float]:
    """Texts/s of ``model.predict_proba`` in this process: one text per call, and 256 per call."""
    import torch

    from textclf import TextClassifier

    torch.set_num_threads(1)
    model = TextClassifier.load_from_checkpoint(checkpoint)
    rates = {}
    for per_call in (1, 256):
        done, n = 0, 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            model.predict_proba([texts[(n + j) % len(texts)] for j in range(per_call)])
            done, n = done + per_call, n + per_call
        rates[per_call] = done / (time.perf_counter() - start)
    return {"one": rates[1], "batch": rates[256]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: train a TREC gru_last model")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per row")
    args = parser.parse_args()
    texts = questions()
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = args.checkpoint or train(Path(folder))
        local = in_process(checkpoint, texts, args.seconds)
        process, port = start_server(checkpoint)
        try:
            rows = [(c, k, load(port, texts, c, k, args.seconds)) for c, k in ROWS]
        finally:
            process.terminate()  # textclf serve ends its LitServe workers on SIGTERM
            try:
                process.wait(timeout=30)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # anything left of its process group
    lines = [
        "| clients | texts/request | requests/s | texts/s | p50 latency (ms) | p99 latency (ms) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for clients, per_request, r in rows:
        lines.append(
            f"| {clients} | {per_request} | {r['requests_s']:,.0f} | {r['texts_s']:,.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} |"
        )
    lines.append(f"| in-process `predict_proba`, 1 text per call | 1 | | {local['one']:,.0f} | | |")
    lines.append(f"| in-process `predict_proba`, 256 texts per call | 256 | | {local['batch']:,.0f} | | |")
    report = f"""## Serving: `textclf serve` on loopback

`{command()}` on {machine()}; checkpoint: {
        "TREC gru_last, one short epoch" if args.checkpoint is None else args.checkpoint.name
    }; server defaults (max_batch_size 8, batch_timeout 5 ms, one worker, OMP_NUM_THREADS=1);
clients are threads of the benchmark process (keep-alive connections, TREC test questions), on the same CPUs as
the server; {args.seconds:g} s measured per row after a 1 s warm-up.

{chr(10).join(lines)}
"""
    update_section("serve", report)
    print(report)


if __name__ == "__main__":
    main()

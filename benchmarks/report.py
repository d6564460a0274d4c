"""Write one benchmark's section into docs/benchmarks.md, between markers, leaving the other sections alone."""

from __future__ import annotations

import os
import platform
import re
import shlex
import sys
from pathlib import Path

import torch

from textclf.wording import counted

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def machine() -> str:
    """The machine, in words: CPU count and torch threads, or the GPU's name."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    cpu = platform.processor() or platform.machine()
    return f"{cpu} CPU, {counted(torch.get_num_threads(), 'torch thread')} (torch {torch.__version__})"


def command() -> str:
    """The command line that ran this benchmark."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def short_run_overrides(batches: int, eval_batches: int, root_dir: object) -> list[str]:
    """``textclf fit`` options for a bounded run: one epoch of ``batches`` steps, ``eval_batches`` eval batches."""
    return [
        "--trainer.max_epochs=1",
        f"--trainer.limit_train_batches={batches}",
        f"--trainer.limit_val_batches={eval_batches}",
        f"--trainer.limit_test_batches={eval_batches}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={root_dir}",
    ]


def update_section(name: str, markdown: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the section ``name`` of ``path`` (default docs/benchmarks.md) with ``markdown``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    staging = path.with_name(f".{path.name}.tmp")  # a reader (or a killed run) never sees half a file
    staging.write_text(text)
    os.replace(staging, path)

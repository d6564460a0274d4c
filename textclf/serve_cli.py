"""The ``textclf serve`` subcommand's description, arguments and runner; torch and LitServe load only when it runs.

The server itself is :mod:`textclf.serve` (see docs/serving.md).
"""

from __future__ import annotations

from typing import Any

from jsonargparse import ArgumentParser, Namespace
from jsonargparse.typing import NonNegativeFloat, PositiveInt

from textclf.errors import TextclfError

DESCRIPTION = "Serve a checkpoint over HTTP: POST /predict, GET /health."
"""The one line ``textclf --help`` shows for ``serve``."""
MISSING_EXTRA = "textclf serve needs the serve extra: pip install 'textclf[serve]'"


def _option(parser: ArgumentParser, name: str, **kwargs: Any) -> None:
    """``--name`` (the config key), also spelled ``--na-me`` when the name has underscores."""
    spellings = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    parser.add_argument(*spellings, **kwargs)


def add_arguments(parser: ArgumentParser) -> None:
    """Arguments of ``textclf serve`` (see :func:`textclf.serve.build_server`)."""
    parser.add_argument("checkpoint", type=str, help="a .ckpt written by textclf fit")
    _option(parser, "host", type=str, default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    _option(parser, "port", type=int, default=8000, help="TCP port")
    _option(
        parser,
        "max_batch_size",
        type=PositiveInt,
        default=8,
        help="requests a worker batches into one forward loop at most (each holds up to 256 texts)",
    )
    _option(
        parser,
        "batch_timeout",
        type=NonNegativeFloat,
        default=0.005,
        help="seconds a worker waits for more requests to fill a batch",
    )
    _option(parser, "workers_per_device", type=PositiveInt, default=1, help="model worker processes per device")
    _option(parser, "accelerator", choices=["auto", "cpu", "cuda", "mps"], default="auto", help="where workers run")
    _option(
        parser,
        "threads",
        type=PositiveInt | None,
        default=None,
        help="CPU threads torch uses in each worker (default: torch's own count, at most the CPUs this process may "
        "use; when OMP_NUM_THREADS is set, that). See docs/performance.md",
    )


def run(config: Namespace) -> None:
    """Run ``textclf serve`` until interrupted.

    Raises:
        TextclfError: LitServe is not installed (the ``serve`` extra), an unreadable checkpoint.
    """
    try:
        import litserve  # noqa: F401
    except ImportError:
        raise TextclfError(MISSING_EXTRA) from None
    from textclf.serve import serve

    serve(
        config.checkpoint,
        host=config.host,
        port=config.port,
        max_batch_size=config.max_batch_size,
        batch_timeout=config.batch_timeout,
        workers_per_device=config.workers_per_device,
        threads=config.threads,
        accelerator=config.accelerator,
    )

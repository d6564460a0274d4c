"""``textclf explain CHECKPOINT [texts or files]``: its arguments and its run (light: no torch at import).

The work lives in :mod:`textclf.explain` (attributions) and :mod:`textclf.explain_view` (HTML), imported only
when the command runs. Options are spelled like the config keys (``--n_steps``), the dashed form (``--n-steps``)
accepted too.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jsonargparse import ArgumentParser, Namespace

log = logging.getLogger("textclf")

DESCRIPTION = "Explain predictions: token attributions (Integrated Gradients), JSONL and HTML."


def _option(parser: ArgumentParser, name: str, **kwargs: Any) -> None:
    """``--name`` (the config key), also spelled ``--na-me`` when the name has underscores."""
    spellings = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    parser.add_argument(*spellings, **kwargs)


def add_arguments(parser: ArgumentParser) -> None:
    """Arguments of ``textclf explain`` (see :func:`textclf.explain.iter_explanations`)."""
    parser.add_argument("checkpoint", type=str, help="a .ckpt written by textclf fit")
    parser.add_argument(
        "inputs",
        type=str,
        nargs="*",
        default=["-"],
        help="texts to explain, or files of texts (an argument naming an existing file is read as one: .csv/.tsv/"
        ".jsonl by --text_column, any other file a text per line), or - for stdin (default)",
    )
    parser.add_argument("-o", "--output", type=str, default="-", help="JSONL output file, or - for stdout")
    parser.add_argument(
        "--html", type=str, default=None, help="also write an HTML page of tokens coloured by attribution"
    )
    _option(
        parser,
        "target",
        type=str | None,
        default=None,
        help="the label to explain for every text (default: each text's most probable label)",
    )
    _option(parser, "n_steps", type=int, default=50, help="integration steps of Integrated Gradients")
    _option(parser, "text_column", type=str | int, default="text", help="CSV column / JSON key holding the text")
    _option(
        parser,
        "max_length",
        type=int | None,
        default=None,
        help="tokens kept per text (default: the checkpoint's tokenizer max_length, else 10,000)",
    )
    _option(parser, "device", type=str, default="cpu", help="torch device, e.g. cpu or cuda")


def texts_of(inputs: Sequence[str], text_column: str | int = "text") -> Iterator[str]:
    """The texts of ``inputs``: each an existing file (read as ``textclf predict`` reads it), ``-`` or a text."""
    from textclf.predict import MAX_TOKENS, read_records

    for item in inputs:
        if item != "-" and (not item.strip() or not Path(item).is_file()):  # "" or a folder's name: a text
            yield item
            continue
        for text, _ in read_records(item, text_column, max_chars=MAX_TOKENS * 64):
            if isinstance(text, str):
                yield text


def run(config: Namespace) -> None:
    """Run ``textclf explain``: JSONL records to ``--output``, and the HTML page with ``--html``."""
    from textclf.checkpoint import load_model
    from textclf.errors import TextclfError
    from textclf.explain import integrated_gradients, iter_explanations, refuse_context
    from textclf.model import TextClassifier
    from textclf.wording import counted

    integrated_gradients()  # a missing extra is said before the checkpoint is read
    if not 1 <= config.n_steps <= 10_000:  # textclf.explain.MAX_N_STEPS (not imported: --help stays light)
        raise TextclfError(f"--n_steps must be in [1, 10000], got {config.n_steps}")
    model = load_model(TextClassifier, config.checkpoint)
    refuse_context(model, config.checkpoint)  # before the output is opened
    texts = texts_of(config.inputs or ["-"], config.text_column)
    explained = iter_explanations(
        model, texts, target=config.target, n_steps=config.n_steps, max_length=config.max_length, device=config.device
    )
    records, count = [], 0
    out = sys.stdout if config.output == "-" else open(config.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for record in explained:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            count += 1
            if config.html:
                records.append(record)
    finally:
        if out is not sys.stdout:
            out.close()
    where = "" if config.output == "-" else f" to {config.output}"
    log.info("explained %s%s", counted(count, "text"), where)
    if config.html:
        from textclf.explain_view import write_html

        log.info("HTML view: %s", write_html(config.html, records))

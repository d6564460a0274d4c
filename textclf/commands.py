"""The subcommands of ``textclf`` that run on a checkpoint alone: predict, evaluate, export, serve and explain.

Each one is a :class:`Command`: a one-line description, the arguments it adds to its jsonargparse parser (the
same parser family as ``fit``/``validate``/``test``, so ``-c config.yaml`` and ``--print_config`` work alike)
and the function that runs it on the parsed configuration. Options are spelled ``--text_column`` (the config
key) with the dashed ``--text-column`` accepted too. The work itself lives in :mod:`textclf.predict`,
:mod:`textclf.evaluate` and :mod:`textclf.export`, imported only when the command runs.
"""

from __future__ import annotations

import logging
import sys
from argparse import SUPPRESS
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any, NoReturn, get_args

from jsonargparse import ActionYesNo, ArgumentParser, Namespace
from jsonargparse.typing import PositiveInt

log = logging.getLogger("textclf")

PROG = "textclf"
DESCRIPTION = (
    "Train, test and use text classifiers. Every subcommand but vectors takes -c config.yaml and --print_config; "
    "textclf SUBCOMMAND --help lists its options."
)

DESCRIPTIONS = {
    "fit": "Train from a recipe, keep the best epoch, test it.",
    "validate": "Score a checkpoint on a recipe's validation split.",
    "test": "Score a checkpoint on a recipe's test split, report.",
    "predict": "Classify texts (files or stdin) with a checkpoint.",
    "evaluate": "Score a checkpoint on a labelled file, report.",
    "export": "Export a checkpoint to ONNX and/or TorchScript.",
    "serve": "Serve a checkpoint over HTTP: POST /predict, GET /health.",
    "explain": "Explain predictions: token attributions (Integrated Gradients), JSONL and HTML.",
    "cv": "Cross-validate a recipe: train and test every fold, mean ± std.",
    "tune": "Search hyperparameters with Optuna (SQLite study, pruning), write best.yaml.",
    "vectors": "Train word vectors (Word2Vec, fastText) on your own text, for recipes to use.",
}
"""One line per subcommand, in the order ``textclf --help`` lists them.

``serve`` and ``explain`` repeat the ``DESCRIPTION`` of :mod:`textclf.serve_cli` / :mod:`textclf.explain_cli` (a test
checks it), so that ``textclf --help`` imports neither."""


def one_line_error(parser: ArgumentParser, message: str, ex: Exception | None = None) -> NoReturn:
    """Write ``textclf: error: MESSAGE (see PROG --help)`` on one line to stderr and exit with status 2."""
    failing = getattr(ex, "subcommand_parser", None) or parser
    prog = failing.prog.replace(" [options]", "")
    text = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
    parser._logger.error(message)
    sys.stderr.write(f"textclf: error: {text} (see {prog} --help)\n")
    parser.exit(2)


EXPORT_FORMATS = ("onnx", "torchscript", "both")
"""``textclf export --format`` choices: :data:`textclf.export.EXPORT_FORMATS`, here so --help needs no torch."""
DEFAULT_OPSET = 17
"""``textclf export --opset`` default: :data:`textclf.export.DEFAULT_OPSET`, here so --help needs no torch."""


@dataclass(frozen=True)
class Command:
    """A subcommand that needs no recipe: its arguments and what runs it."""

    description: str
    add_arguments: Callable[[ArgumentParser], None]
    run: Callable[[Namespace], None]


def add_threads_argument(parser: ArgumentParser) -> None:
    """``--threads N`` (recipe key ``threads``): torch's CPU threads in this process (:mod:`textclf.threads`).

    Nothing is added when the subcommand has its own ``--threads`` (``serve``: the threads of each worker).
    """
    if any("--threads" in action.option_strings for action in parser._actions):
        return
    parser.add_argument(
        "--threads",
        type=PositiveInt,
        default=None,
        help="CPU threads torch uses in this process (default: torch's own count, at most the CPUs this process may "
        "use; when OMP_NUM_THREADS is set, that; an explicit --threads wins over OMP_NUM_THREADS). Fewer are often "
        "faster: see docs/performance.md",
    )


def _option(parser: ArgumentParser, name: str, **kwargs: Any) -> None:
    """``--name`` (the config key), also spelled ``--na-me`` when the name has underscores."""
    spellings = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    parser.add_argument(*spellings, **kwargs)


# ---- predict --------------------------------------------------------------------------------------------------


def _header_option(parser: ArgumentParser, files: str) -> None:
    """``--header true|false`` (the config key ``header``), and ``--no-header`` for ``--header false``."""
    parser.add_argument(
        "--header",
        type=bool,
        default=True,
        help=f"false: {files} no header row; the column options are then positions, 1 = the first column",
    )
    parser.add_argument(
        "--no-header", dest="header", action="store_const", const=False, default=SUPPRESS, help="same as --header false"
    )


def add_predict_arguments(parser: ArgumentParser) -> None:
    """Arguments of ``textclf predict`` (see :func:`textclf.predict.predict_files`)."""
    parser.add_argument("checkpoint", type=str, help="a .ckpt written by textclf fit")
    parser.add_argument("inputs", type=str, nargs="*", default=["-"], help="input files, or - for stdin (default)")
    parser.add_argument("-o", "--output", type=str, default="-", help="output file (.jsonl or .csv), or - for stdout")
    _option(
        parser,
        "format",
        choices=["jsonl", "csv"],
        default=None,
        help="output format (default: from --output, else jsonl)",
    )
    _option(
        parser,
        "text_column",
        type=str | int,
        default="text",
        help="CSV column / JSON key holding the text (with --no-header: its position, 1 = the first column)",
    )
    _option(
        parser,
        "id_column",
        type=str | int | None,
        default=None,
        help="CSV column / JSON key of each record's id, copied into its output record; for plain text the output "
        "field of that name holds the line number",
    )
    _option(
        parser,
        "keep_columns",
        type=str,
        default="",
        help="comma-separated CSV columns / JSON keys copied into the output records",
    )
    _header_option(parser, "the CSV/TSV inputs have")
    _option(
        parser,
        "group_column",
        type=str | int | None,
        default=None,
        help="for a model with a context head (docs/sequential.md): the CSV column / JSON key naming each text's group "
        "(conversation, document; with --no-header: its position); each text is classified with the texts of its "
        "group around it. Required for CSV, TSV, JSONL and Parquet inputs; a plain-text input (or stdin) is one "
        "group, in line order. A group lives in one input. Output records stay in input order. Each input's records "
        "are held in memory (a group can be anywhere in the file); refused for a model without a context head",
    )
    _option(
        parser,
        "order_column",
        type=str | int | None,
        default=None,
        help="with --group-column: the column / key of each text's position in its group (numbers; default: input "
        "order; ties keep it)",
    )
    parser.add_argument(
        "--online",
        action="store_true",
        help="with a causal context head (not a bidirectional one): predict and write each record as soon as it is "
        "read, with the texts of its group read before it; each group must arrive in order (no --order-column)",
    )
    _option(
        parser,
        "top_k",
        type=int | None,
        default=None,
        help="write the K most probable labels and their probabilities (field top_k, CSV columns "
        "topI_label/topI_prob) instead of every class's probability",
    )
    _option(
        parser,
        "threshold",
        type=float | None,
        default=None,
        help="labels: every label with probability >= P; label: the best one, or null (empty in CSV) when none "
        "reaches P. Multi-label models always write labels, with the checkpoint's per-label thresholds unless "
        "--threshold replaces them",
    )
    _option(
        parser,
        "max_length",
        type=int | None,
        default=None,
        help="tokens kept per text (default: the checkpoint's tokenizer max_length, else 10,000; never more than the "
        "checkpoint's, nor than 100,000); a line is first cut to 64 bytes per token, so memory stays bounded whatever "
        "the line lengths",
    )
    _option(parser, "batch_size", type=int, default=256, help="texts per forward pass")
    _option(parser, "device", type=str, default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--progress", action=ActionYesNo(no_prefix="no-"), default=True, help="progress on stderr (--no-progress: none)"
    )


def run_predict(config: Namespace) -> None:
    """Run ``textclf predict``."""
    from textclf.predict import predict_files

    keep = (config.keep_columns or "").split(",")
    predict_files(
        config.checkpoint,
        config.inputs or ["-"],
        config.output,
        format=config.format,
        text_column=config.text_column,
        id_column=config.id_column,
        keep_columns=[name.strip() for name in keep if name.strip()],
        header=config.header,
        group_column=config.group_column,
        order_column=config.order_column,
        online=config.online,
        top_k=config.top_k,
        threshold=config.threshold,
        max_length=config.max_length,
        batch_size=config.batch_size,
        device=config.device,
        progress=config.progress,
    )


# ---- evaluate -------------------------------------------------------------------------------------------------


def add_evaluate_arguments(parser: ArgumentParser) -> None:
    """Arguments of ``textclf evaluate`` (see :func:`textclf.evaluate.evaluate_file`)."""
    from textclf.data.readers import FileFormat

    parser.add_argument("checkpoint", type=str, help="a .ckpt written by textclf fit")
    parser.add_argument("file", type=str, help="a labelled file (or folder) read like FileDataModule's splits")
    _option(parser, "text_column", type=str | int, default="text", help="CSV column / JSON key holding the text")
    _option(parser, "label_column", type=str | int, default="label", help="CSV column / JSON key holding the label")
    _option(
        parser,
        "group_column",
        type=str | int | None,
        default=None,
        help="for a model with a context head, and required for one (docs/sequential.md): the CSV column / JSON key "
        "naming each text's group (conversation, document); each text is scored with the texts of its group around "
        "it. CSV, TSV, JSONL and Parquet files",
    )
    _option(
        parser,
        "order_column",
        type=str | int | None,
        default=None,
        help="with --group-column: the column / key of each text's number within its group (default: file order)",
    )
    _header_option(parser, "the CSV/TSV file has")
    _option(parser, "format", choices=list(get_args(FileFormat)), default="auto", help="file format")
    _option(parser, "line_pattern", type=str | None, default=None, help="format lines: a regex with groups label, text")
    _option(
        parser, "encoding", type=str, default="auto", help="auto (UTF-8, then Windows-1252, then latin-1) or a codec"
    )
    _option(parser, "label_delimiter", type=str | None, default=None, help="multi-label: separator of labels in a cell")
    _option(
        parser,
        "report_dir",
        type=str | None,
        default=None,
        help="folder for the report (default: <the checkpoint's run directory>/evaluate/<file stem>)",
    )
    _option(parser, "batch_size", type=int, default=256, help="texts per forward pass")
    _option(parser, "device", type=str, default="cpu", help="torch device, e.g. cpu or cuda")


def run_evaluate(config: Namespace) -> None:
    """Run ``textclf evaluate`` (it logs the scores and where the report went)."""
    from textclf.evaluate import evaluate_file

    options = {key: config[key] for key in ("report_dir", "text_column", "label_column", "header", "format")}
    options.update((key, config[key]) for key in ("group_column", "order_column") if config[key] is not None)
    options["line_pattern"] = config.line_pattern
    options.update((key, config[key]) for key in ("encoding", "label_delimiter", "batch_size", "device"))
    evaluate_file(config.checkpoint, config.file, **options)


# ---- export ---------------------------------------------------------------------------------------------------


def add_export_arguments(parser: ArgumentParser) -> None:
    """Arguments of ``textclf export`` (see :func:`textclf.export.export_checkpoint`)."""
    parser.add_argument("checkpoint", type=str, help="a .ckpt written by textclf fit")
    parser.add_argument("output_dir", type=str, help="folder for the exported files (created if missing)")
    parser.add_argument("--format", choices=list(EXPORT_FORMATS), default="both", help="what to export")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset")
    parser.add_argument("--overwrite", action="store_true", help="replace an export already in OUTPUT_DIR")


def run_export(config: Namespace) -> None:
    """Run ``textclf export``."""
    from textclf.export import export_checkpoint

    written = export_checkpoint(
        config.checkpoint, config.output_dir, config.format, opset=config.opset, overwrite=config.overwrite
    )
    log.info("exported %s", ", ".join(str(path) for path in written))


# ---- serve, explain: their own modules, imported when their parser is built or they run ------------------------


def lazy_command(name: str, module: str) -> Command:
    """The :class:`Command` of a module exposing ``add_arguments(parser)`` and ``run(config)``, imported on first use.

    ``textclf --help`` (and every other subcommand) thus never imports it.
    """

    def add_arguments(parser: ArgumentParser) -> None:
        import_module(module).add_arguments(parser)

    def run(config: Namespace) -> None:
        import_module(module).run(config)

    return Command(DESCRIPTIONS[name], add_arguments, run)


COMMANDS = {
    "predict": Command(DESCRIPTIONS["predict"], add_predict_arguments, run_predict),
    "evaluate": Command(DESCRIPTIONS["evaluate"], add_evaluate_arguments, run_evaluate),
    "export": Command(DESCRIPTIONS["export"], add_export_arguments, run_export),
    "serve": lazy_command("serve", "textclf.serve_cli"),
    "explain": lazy_command("explain", "textclf.explain_cli"),
}
"""The subcommands beside LightningCLI's fit/validate/test, in the order ``textclf --help`` lists them."""

"""``textclf evaluate``: score a trained checkpoint on any labelled file and write the full evaluation report.

It needs no recipe and no vectors file: the checkpoint holds the vocabulary, the tokenizer, the labels and the
embedding matrix. The file is read by the same reader layer as training (:func:`textclf.data.readers.read_labelled`:
CSV, TSV, JSONL, Parquet, label-first lines, one folder per label; the same encoding detection), predicted by
:func:`textclf.inference.predict_proba` and scored by the model's task (:mod:`textclf.tasks`), so the numbers
mean what ``textclf test`` logs. A model with a context head reads each text with its group's (``group_column``,
read as training reads it: :func:`textclf.data.grouping.group_split`), through
:func:`textclf.sequence_inference.predict_groups`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from textclf.data.columns import check_header, column_key
from textclf.data.grouping import GROUP_FORMATS, group_split
from textclf.data.readers import DEFAULT_LINE_PATTERN, file_format, read_labelled
from textclf.data.splits import LabelledSplit, check_known_labels, clean_split, encode_labels
from textclf.errors import TextclfError
from textclf.inference import encode_texts, predict_proba
from textclf.model import TextClassifier
from textclf.report import write_report
from textclf.sequence_inference import predict_groups

log = logging.getLogger(__name__)


def evaluate_file(
    checkpoint: str | Path,
    file: str | Path,
    *,
    report_dir: str | Path | None = None,
    text_column: str | int = "text",
    label_column: str | int = "label",
    group_column: str | int | None = None,
    order_column: str | int | None = None,
    header: bool = True,
    format: str = "auto",
    line_pattern: str | None = None,
    encoding: str = "auto",
    label_delimiter: str | None = None,
    batch_size: int = 256,
    device: str = "cpu",
) -> dict[str, Any]:
    """Score ``checkpoint`` on the labelled ``file`` and write the report (see docs/evaluation.md).

    Args:
        checkpoint: a ``.ckpt`` written by ``textclf fit``.
        file: the labelled texts (format from the suffix unless ``format`` says otherwise).
        report_dir: where the report goes; default ``<the checkpoint's run directory>/evaluate/<file stem>``
            (``<file stem>.1``, ``.2``... when that holds a report already). An explicit folder that holds a
            report is refused, so no report is overwritten.
        text_column: CSV/TSV column or JSON key of the texts.
        label_column: column or key of the labels (multi-label checkpoints: a list, or a string split on
            ``label_delimiter``).
        group_column: for a model with a context head, and required for one: the column or key naming each text's
            group (conversation, document); each text is then scored with the texts of its group around it.
            CSV, TSV, JSONL and Parquet files only.
        order_column: with ``group_column``: the column of each text's number within its group (default: file
            order).
        header: false: a CSV/TSV file without a header row, whose ``text_column`` and ``label_column`` are 1-based
            column positions (see docs/custom-corpora.md); refused for other formats.
        format: ``auto``, ``csv``, ``tsv``, ``jsonl``, ``parquet``, ``lines`` or ``folder``.
        line_pattern: for ``lines``: a regular expression with groups ``label`` and ``text``.
        encoding: ``auto`` (UTF-8, then Windows-1252, then latin-1) or a codec name.
        label_delimiter: multi-label checkpoints: the separator of labels in a string cell (default ``|``).
        batch_size: texts per forward pass.
        device: torch device, e.g. ``cpu`` or ``cuda``.

    Returns:
        The scores written to ``metrics.json`` (the task's metric set, ``loss``, ``n``, and where they came from).

    Raises:
        TextclfError: the checkpoint or the file cannot be read, or the file has a label the checkpoint lacks
            (the message names the row), or ``header`` false for a file that is not CSV or TSV; a model with a
            context head without ``group_column``, or ``group_column`` for one without; an empty group cell or an
            order cell that is no number (naming the row).
    """
    fmt = file_format(Path(file)) if format == "auto" else format
    check_header(file, fmt, header)  # these before the checkpoint is loaded
    columns: dict[str, str | int | None] = {"text_column": text_column, "label_column": label_column}
    columns.update(group_column=group_column, order_column=order_column)
    for option, value in columns.items():
        if value is not None:
            column_key(value, header, option)
    if order_column is not None and group_column is None:
        raise TextclfError("--order-column needs --group-column (the position of each text in its group)")
    if group_column is not None and fmt not in GROUP_FORMATS:
        raise TextclfError(f"{file}: --group-column needs a CSV, TSV, JSONL or Parquet file, not {fmt}")
    model = TextClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    _check_groups(model, checkpoint, group_column)
    multi_label = model.task.multi_label
    split = read_labelled(
        Path(file),
        fmt=format,
        text_column=text_column,
        label_column=label_column,
        line_pattern=line_pattern or DEFAULT_LINE_PATTERN,
        encoding=encoding,
        label_delimiter=(label_delimiter or "|") if multi_label else None,
        multi_label=multi_label,
        header=header,
    )
    if group_column is not None:  # rows sorted into group order, meta "group" and "order"
        split = _grouped(split, file, fmt, group_column, order_column, encoding, header)
    split = clean_split(split)
    check_known_labels(split, model.labels, f"the labels of {checkpoint}: {model.labels}")
    texts = list(split.texts)
    targets = encode_labels(split.labels, model.labels, multi_label)
    if group_column is None:
        probs = predict_proba(model, encode_texts(model, texts), batch_size, device=device)
    else:
        model.to(device)
        probs = predict_groups(model, texts, groups=split.meta["group"], batch_size=batch_size)  # rows in group order
    directory = _report_dir(report_dir, Path(checkpoint), Path(file))
    extra = {"checkpoint": str(checkpoint), "file": str(file)}
    write_report(directory, model.task, targets, probs, texts, extra, model.label_thresholds())
    scores: dict[str, Any] = json.loads((directory / "metrics.json").read_text())
    summary = ", ".join(f"{name}={value:.4f}" for name, value in scores.items() if isinstance(value, float))
    log.info("%s on %s: %s", checkpoint, file, summary)
    log.info("evaluation report: %s", directory)
    return scores


def _check_groups(model: TextClassifier, checkpoint: str | Path, group_column: str | int | None) -> None:
    """Refuse group options that do not fit the model (one line)."""
    if model.windowing is None and group_column is not None:
        raise TextclfError(f"--group-column: {checkpoint} has no context head, it classifies each text alone")
    if model.windowing is not None and group_column is None:
        raise TextclfError(
            f"{checkpoint} has a context head: pass --group-column, the column naming each text's group "
            "(conversation, document), and --order-column if the rows are not in order (see docs/sequential.md)"
        )


def _grouped(
    split: LabelledSplit,
    file: str | Path,
    fmt: str,
    group_column: str | int,
    order_column: str | int | None,
    encoding: str,
    header: bool,
) -> LabelledSplit:
    """``split`` with meta ``group`` and ``order``, its rows in group order (:func:`group_split`)."""
    order = None if order_column is None else column_key(order_column, header, "order_column")
    group = column_key(group_column, header, "group_column")
    return group_split(split, Path(file), fmt, group, order, encoding=encoding, header=header)


def _report_dir(report_dir: str | Path | None, checkpoint: Path, file: Path) -> Path:
    if report_dir is not None:
        directory = Path(report_dir)
        if (directory / "metrics.json").exists():
            raise TextclfError(f"{directory} already holds a report; pick another --report-dir")
        return directory
    parent = checkpoint.resolve().parent
    run_dir = parent.parent if parent.name == "checkpoints" else parent
    base = run_dir / "evaluate" / (file.stem or "input")
    directory, number = base, 0
    while (directory / "metrics.json").exists():
        number += 1
        directory = base.with_name(f"{base.name}.{number}")
    return directory

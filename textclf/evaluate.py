"""``textclf evaluate``: score a trained checkpoint on any labelled file and write the full evaluation report.

It needs no recipe and no vectors file: the checkpoint holds the vocabulary, the tokenizer, the labels and the
embedding matrix. The file is read by the same reader layer as training (:func:`textclf.data.readers.read_labelled`:
CSV, TSV, JSONL, Parquet, label-first lines, one folder per label; the same encoding detection), predicted by
:func:`textclf.inference.predict_proba` and scored by the model's task (:mod:`textclf.tasks`), so the numbers
mean what ``textclf test`` logs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from textclf.data.columns import check_header, column_key
from textclf.data.readers import DEFAULT_LINE_PATTERN, file_format, read_labelled
from textclf.data.splits import check_known_labels, clean_split, encode_labels
from textclf.errors import TextclfError
from textclf.inference import encode_texts, predict_proba
from textclf.model import TextClassifier
from textclf.report import write_report

log = logging.getLogger(__name__)


def evaluate_file(
    checkpoint: str | Path,
    file: str | Path,
    *,
    report_dir: str | Path | None = None,
    text_column: str | int = "text",
    label_column: str | int = "label",
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
            (the message names the row), or ``header`` false for a file that is not CSV or TSV.
    """
    fmt = file_format(Path(file)) if format == "auto" else format
    check_header(file, fmt, header)  # these two before the checkpoint is loaded
    for value, option in ((text_column, "text_column"), (label_column, "label_column")):
        column_key(value, header, option)
    model = TextClassifier.load_from_checkpoint(checkpoint, map_location="cpu")
    multi_label = model.task.multi_label
    split = clean_split(
        read_labelled(
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
    )
    check_known_labels(split, model.labels, f"the labels of {checkpoint}: {model.labels}")
    texts = list(split.texts)
    targets = encode_labels(split.labels, model.labels, multi_label)
    probs = predict_proba(model, encode_texts(model, texts), batch_size, device=device)
    directory = _report_dir(report_dir, Path(checkpoint), Path(file))
    extra = {"checkpoint": str(checkpoint), "file": str(file)}
    write_report(directory, model.task, targets, probs, texts, extra, model.label_thresholds())
    scores: dict[str, Any] = json.loads((directory / "metrics.json").read_text())
    summary = ", ".join(f"{name}={value:.4f}" for name, value in scores.items() if isinstance(value, float))
    log.info("%s on %s: %s", checkpoint, file, summary)
    log.info("evaluation report: %s", directory)
    return scores


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

"""``textclf predict`` for a model with a context head: each text classified with the texts of its group around it.

Batch (the default): every record of an input is held in memory (a group's texts may be anywhere in the file), the
groups are put in order and predicted by :func:`textclf.sequence_inference.predict_groups`, and the records are
written back in input order. Online (``--online``, causal heads only): each record is predicted by
:class:`textclf.sequence_inference.OnlinePredictor` with the texts of its group read before it, and written (and
flushed) before the next record is read; a group's order is the order its records arrive in.

A group lives in one input: the same group name in two inputs is two groups. A plain-text input (or stdin) is one
group, in line order. An unreadable plain-text line is an error record in its place and no text of its group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from textclf.data.columns import HEADER_FORMATS, PREDICT_HINT, Table, check_header, column_key
from textclf.data.readers import file_format
from textclf.data.tables import table_columns
from textclf.errors import TextclfError
from textclf.predict_input import Grouped
from textclf.predict_output import OutputFormat
from textclf.sequence_inference import OnlinePredictor, predict_groups

GROUP_FORMATS = ("csv", "tsv", "jsonl", "parquet")
WRITE_CHUNK = 8192  # records written at a time (and counted for the progress) after a batch prediction


def check_group_options(
    inputs: Sequence[str], group_column: str | int | None, order_column: str | int | None, online: bool, header: bool
) -> None:
    """The group options, and the group and order columns of every table, checked before the model is loaded.

    Raises:
        TextclfError: ``order_column`` without ``group_column`` or with ``online``; a column option that is no
            position without a header; ``group_column`` with a plain-text input; a table without these columns.
    """
    if order_column is not None and group_column is None:
        raise TextclfError("--order-column needs --group-column (the position of each text in its group)")
    if online and order_column is not None:
        raise TextclfError("--online predicts each text as it arrives, in arrival order: drop --order-column")
    if group_column is None:
        return
    names = [(column_key(group_column, header, "group_column"), "group")]
    if order_column is not None:
        names.append((column_key(order_column, header, "order_column"), "order"))
    for source in inputs:
        fmt = "lines" if source == "-" else file_format(Path(source))
        if fmt not in GROUP_FORMATS:
            raise TextclfError(
                f"{source}: --group-column needs CSV, TSV, JSONL or Parquet input; a plain-text input is one group"
            )
        check_header(source, fmt, header)
        if fmt in (*HEADER_FORMATS, "parquet"):
            columns = table_columns(Path(source), fmt, "auto", header)
            for name, what in names:
                Table(Path(source), fmt, "auto", header).require(columns, name, what, PREDICT_HINT)


def check_model(
    model: Any, checkpoint: str, inputs: Sequence[str], group_column: str | int | None, online: bool
) -> bool:
    """Whether ``model`` has a context head, once the options fit it.

    Raises:
        TextclfError: ``group_column`` or ``online`` for a model without a context head; ``online`` for a
            bidirectional one; a table or JSONL input without ``group_column`` for a model with one.
    """
    windowing = getattr(model, "windowing", None)
    if windowing is None:
        for option, given in (("--group-column", group_column is not None), ("--online", online)):
            if given:
                raise TextclfError(f"{option}: {checkpoint} has no context head, it classifies each text alone")
        return False
    if online and windowing.after:
        raise TextclfError(
            f"--online needs a causal context head; {checkpoint}'s is bidirectional (it reads the texts after each "
            "one): predict without --online"
        )
    tables = [source for source in inputs if source != "-" and file_format(Path(source)) != "lines"]
    if group_column is None and tables:
        raise TextclfError(
            f"{tables[0]}: {checkpoint} has a context head: pass --group-column, the column naming each text's "
            "group (conversation, document); a plain-text input is one group (see docs/sequential.md)"
        )
    return True


def write_batch(
    model: Any,
    records: Iterable[Grouped],
    writer: OutputFormat,
    out: IO[str],
    batch_size: int,
    progress: Callable[[int], None],
) -> None:
    """Predict the records of one input with their groups and write them in input order.

    Every record is held until its input is read; an :class:`~textclf.predict_output.Unreadable` text is written
    as an error record and left out of its group.
    """
    held = list(records)
    probs = np.zeros((len(held), len(model.labels)), dtype=np.float32)
    good = [i for i, ((text, _), _, _) in enumerate(held) if isinstance(text, str)]
    if good:
        positions = [held[i][2] for i in good]
        order = None if None in positions else positions  # exact numbers (orders past 2**53 stay apart)
        texts, groups = [str(held[i][0][0]) for i in good], [held[i][1] for i in good]
        probs[good] = predict_groups(model, texts, groups=groups, order=order, batch_size=batch_size)
    for start in range(0, len(held), WRITE_CHUNK):
        chunk = [record for record, _, _ in held[start : start + WRITE_CHUNK]]
        writer.write(out, chunk, probs[start : start + WRITE_CHUNK])
        progress(len(chunk))


def write_online(
    model: Any, records: Iterable[Grouped], writer: OutputFormat, out: IO[str], progress: Callable[[int], None]
) -> None:
    """Predict each record of one input as it is read, with its group's texts before it, and write it at once.

    Raises:
        TextclfError: the model's context head is not causal.
    """
    predictor = OnlinePredictor(model)
    for record, group, _ in records:
        probs = np.zeros((1, len(model.labels)), dtype=np.float32)
        if isinstance(record[0], str):
            probs[0] = predictor.push(group, record[0])
        writer.write(out, [record], probs)
        out.flush()
        progress(1)

"""PublicCorpus: the base of every public corpus, read from the Hugging Face Hub or from its original files."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

from textclf.data import hub
from textclf.data.base import TextDataModule
from textclf.data.cache import path_fingerprint
from textclf.data.splits import LabelledSplit
from textclf.errors import TextclfError

log = logging.getLogger(__name__)

Source = Literal["auto", "files", "hub"]


class PublicCorpus(TextDataModule):
    """A public corpus with fixed label names and official splits, from one of two sources.

    ``files``: the corpus as its authors distribute it, in ``data_dir`` (default: ``$TEXTCLF_DATA/<folder>``),
    read by the subclass's :meth:`read_files`. ``hub``: a Parquet-backed Hugging Face Hub dataset loaded with
    ``datasets.load_dataset`` (any local directory laid out like the Hub repository works too). ``auto`` takes the
    files when they are all present (then nothing touches the network), else the Hub.

    Offline first (:mod:`textclf.data.hub`): with ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` set, or when the Hub
    does not answer within seconds, a Hub id is loaded from the Hub cache only, and failing that the error (one
    line, within seconds) names the folder searched, the files expected there and how to fix it.

    Subclasses set the class attributes below and implement :meth:`read_files`; a few lines each.

    Args:
        source: ``auto``, ``files`` or ``hub``.
        data_dir: directory holding the original files (default ``$TEXTCLF_DATA/<folder>``).
        hub_id: override the Hub dataset id (or give a local directory laid out like it).
        hub_revision: a Hub revision (branch, tag or commit) to pin.
        **kwargs: tokenizer, vocabulary, vectors, batching and split options of :class:`TextDataModule`.
    """

    folder: ClassVar[str]
    files: ClassVar[tuple[str, ...]]
    label_names: tuple[str, ...]  # per instance where an option changes the label set (TREC fine)
    hub: ClassVar[str]
    hub_config: ClassVar[str | None] = None
    hub_data_dir: ClassVar[str | None] = None  # a folder of the repository (e.g. of a Parquet export branch)
    hub_text: ClassVar[tuple[str, ...]] = ("text",)
    hub_label: str = "label"
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "test": "test"}

    def __init__(
        self,
        *,
        source: Source = "auto",
        data_dir: str | None = None,
        hub_id: str | None = None,
        hub_revision: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.data_dir = data_dir
        self.hub_id = hub_id or self.hub
        self.hub_revision = hub_revision

    # ---- what subclasses implement -----------------------------------------------------------------------

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """The splits from the original files in ``directory`` (labels as names from ``label_names``)."""
        raise NotImplementedError

    # ---- sources -----------------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """Where the original files are looked for."""
        if self.data_dir:
            return Path(self.data_dir).expanduser()
        return Path(os.environ.get("TEXTCLF_DATA") or ".").expanduser() / self.folder

    def resolved_source(self) -> Literal["files", "hub"]:
        """``files`` or ``hub``; with ``auto``, files when every expected file is in :attr:`directory`."""
        if self.source != "auto":
            return self.source
        return "files" if not self.missing_files() else "hub"

    def missing_files(self) -> list[str]:
        """The expected original files that are not in :attr:`directory`."""
        return missing_in(self.directory, self.files)

    def searched(self) -> str:
        """:attr:`directory` and where it came from, for messages: ``/data/trec ($TEXTCLF_DATA/trec)``."""
        if self.data_dir:
            return f"{self.directory} (data_dir)"
        if os.environ.get("TEXTCLF_DATA"):
            return f"{self.directory} ($TEXTCLF_DATA/{self.folder})"
        return f"{self.directory} (TEXTCLF_DATA is not set)"

    def files_problem(self) -> str:
        """Which original files are missing from which folder: ``no original files in /x (data_dir): expected ...``."""
        missing = self.missing_files()
        expected = ", ".join(self.files)
        if not self.directory.is_dir():
            return f"{self.searched()} does not exist: expected the original files {expected} there"
        if len(missing) == len(self.files):
            return f"no original files in {self.searched()}: expected {expected}"
        return f"{self.searched()} lacks {', '.join(missing)} of the original files {expected}"

    def files_fix(self) -> str:
        """How to point textclf at the original files: a nearby folder that holds them all, else the two settings."""
        root = Path(os.environ["TEXTCLF_DATA"]).expanduser() if os.environ.get("TEXTCLF_DATA") else None
        candidates = [self.directory / self.folder]  # data_dir or TEXTCLF_DATA set one level too high
        if self.data_dir and root is not None:
            candidates.append(root / self.folder)
        for candidate in candidates:
            if candidate.is_dir() and not missing_in(candidate, self.files):
                return f"{candidate} holds them: set data_dir to {candidate}"
        if not self.data_dir and root is not None and root.is_dir() and not missing_in(root, self.files):
            return f"$TEXTCLF_DATA holds them: set it to the folder holding {self.folder}/, or data_dir to {root}"
        return (
            f"point data_dir at the folder holding {' and '.join(self.files)}, or set TEXTCLF_DATA to the folder "
            f"holding {self.folder}/"
        )

    def read_splits(self) -> dict[str, LabelledSplit]:
        """Read from the resolved source.

        Raises:
            TextclfError: the original files are missing (``source: files``) or, without them, the Hub copy cannot
                be loaded (see :meth:`load_hub`); one line naming the folder searched and the files expected there.
        """
        if self.resolved_source() == "hub":
            if self.source == "auto":
                log.info("%s: %s; trying the Hub's %s", type(self).__name__, self.files_problem(), self.hub_id)
            return self.read_hub()
        if self.missing_files():
            raise TextclfError(f"{type(self).__name__}: {self.files_problem()}; {self.files_fix()}, or source: hub")
        return self.read_files(self.directory)

    def read_hub(self) -> dict[str, LabelledSplit]:
        """Load :attr:`hub_id` (:meth:`load_hub`) and map its columns and integer labels."""
        loaded = self.load_hub()
        return {ours: self._hub_split(loaded, ours, theirs) for ours, theirs in self.hub_splits.items()}

    def load_hub(self, **options: Any) -> Any:
        """``datasets.load_dataset`` of :attr:`hub_id` (a local directory, or a Hub id: offline first).

        A Hub id is loaded from the Hub cache only, with no request, when ``HF_HUB_OFFLINE`` or
        ``HF_DATASETS_OFFLINE`` is set or when the Hub does not answer one request within seconds
        (:func:`textclf.data.hub.unreachable`); otherwise with ``datasets``' own download and retries.

        Args:
            **options: more arguments of ``datasets.load_dataset`` (``split``).

        Raises:
            TextclfError: it cannot be loaded; one line naming the folder searched for the original files, the
                files expected there, why the Hub copy could not be used, and how to fix it.
        """
        import datasets

        arguments = {"name": self.hub_config, "data_dir": self.hub_data_dir, "revision": self.hub_revision, **options}
        load = partial(datasets.load_dataset, self.hub_id, **arguments)
        if Path(self.hub_id).expanduser().is_dir():  # a local directory laid out like the Hub repository
            return self._load_or_explain(load, "")
        variable = hub.offline_variable()
        reason = f"{variable} is set" if variable else hub.unreachable(self.hub_id)
        if reason is None:
            return self._load_or_explain(load, "")
        fix = f", or unset {variable.partition('=')[0]}" if variable else ", or go online"
        with hub.offline_mode():  # the Hub cache only: no request, no retries
            loaded = self._load_or_explain(load, fix, f"{reason}, and it is not in the Hub cache {hub.cache_folder()}")
        log.info("%s: %s, so %s was loaded from the Hub cache", type(self).__name__, reason, self.hub_id)
        return loaded

    def _load_or_explain(self, load: Callable[[], Any], fix: str, why: str | None = None) -> Any:
        """``load()``, or the one-line error of a Hub copy that cannot be used (``why``, else the exception)."""
        try:
            return load()
        except Exception as e:
            if why is None:
                detail = str(e).strip().split("\n")[0]
                why = f"{type(e).__name__}: {detail}" if detail else type(e).__name__
        name = type(self).__name__
        copy = f"the Hub copy {self.hub_id}"
        if self.missing_files():
            message = f"{name}: {self.files_problem()}, and {copy} cannot be used: {why}; {self.files_fix()}{fix}"
        else:
            files = f"the original files are in {self.searched()}: set source: files"
            message = f"{name}: {copy} cannot be used: {why}; {files}"
        raise TextclfError(message)

    def _hub_split(self, loaded: Any, ours: str, theirs: str) -> LabelledSplit:
        where = f"{self.hub_id} [{theirs}]"
        if theirs not in loaded:
            raise TextclfError(f"{where}: no such split (splits: {', '.join(loaded)})")
        table = loaded[theirs]
        missing = [c for c in (*self.hub_text, self.hub_label) if c not in table.column_names]
        if missing:
            raise TextclfError(f"{where}: no column {', '.join(missing)} (columns: {', '.join(table.column_names)})")
        columns = [table[c] for c in self.hub_text]
        texts = [" ".join(str(part) for part in parts if part) for parts in zip(*columns, strict=True)]
        names = getattr(table.features[self.hub_label], "names", None)  # a ClassLabel knows its own names
        labels = [self.label_name(value, names, where) for value in table[self.hub_label]]
        return LabelledSplit(texts, labels, where)

    def label_name(self, value: Any, names: list[str] | None, where: str) -> str:
        """The label name of a Hub label value.

        An integer goes through the column's ClassLabel names when it has them, else indexes :attr:`label_names`;
        the result (or a string value) must be one of :attr:`label_names`.
        """
        if isinstance(value, int) and names is not None and 0 <= value < len(names):
            value = names[value]
        elif isinstance(value, int) and 0 <= value < len(self.label_names):
            value = self.label_names[value]
        if str(value) in self.label_names:
            return str(value)
        raise TextclfError(f"{where}: unexpected label {value!r} (labels: {', '.join(self.label_names)})")

    # ---- TextDataModule hooks ----------------------------------------------------------------------------

    def fixed_labels(self) -> list[str]:
        """The corpus's label names, in their fixed order."""
        return list(self.label_names)

    def fingerprint(self) -> dict[str, Any]:
        """The Hub id and revision, or the sizes and modification times of the original files."""
        if self.resolved_source() == "hub":
            return {"hub": self.hub_id, "config": self.hub_config, "revision": self.hub_revision}
        present = [name for name in self.files if (self.directory / name).exists()]
        return {"files": {name: path_fingerprint(self.directory / name) for name in present}}


def missing_in(directory: Path, names: tuple[str, ...]) -> list[str]:
    """The ``names`` that are not in ``directory``."""
    return [name for name in names if not (directory / name).exists()]

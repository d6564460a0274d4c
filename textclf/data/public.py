"""PublicCorpus: the base of every public corpus, read from the Hugging Face Hub or from its original files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from textclf.data.base import TextDataModule
from textclf.data.cache import path_fingerprint
from textclf.data.splits import LabelledSplit
from textclf.errors import TextclfError

Source = Literal["auto", "files", "hub"]


class PublicCorpus(TextDataModule):
    """A public corpus with fixed label names and official splits, from one of two sources.

    ``files``: the corpus as its authors distribute it, in ``data_dir`` (default: ``$TEXTCLF_DATA/<folder>``),
    read by the subclass's :meth:`read_files`. ``hub``: a Parquet-backed Hugging Face Hub dataset loaded with
    ``datasets.load_dataset`` (any local directory laid out like the Hub repository works too). ``auto`` takes the
    files when they are all present, else the Hub.

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
        return [name for name in self.files if not (self.directory / name).exists()]

    def read_splits(self) -> dict[str, LabelledSplit]:
        """Read from the resolved source."""
        if self.resolved_source() == "hub":
            return self.read_hub()
        missing = self.missing_files()
        if missing:
            raise TextclfError(
                f"{type(self).__name__}: {self.directory} lacks {', '.join(missing)} (expected the original files "
                f"{', '.join(self.files)}); set data_dir or TEXTCLF_DATA, or source: hub"
            )
        return self.read_files(self.directory)

    def read_hub(self) -> dict[str, LabelledSplit]:
        """Load :attr:`hub_id` with ``datasets.load_dataset`` and map its columns and integer labels."""
        import datasets

        try:
            loaded = datasets.load_dataset(
                self.hub_id, self.hub_config, data_dir=self.hub_data_dir, revision=self.hub_revision
            )
        except Exception as e:
            raise TextclfError(
                f"{type(self).__name__}: could not load {self.hub_id!r} from the Hugging Face Hub "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); offline, give the original "
                f"files ({', '.join(self.files)}) in data_dir or $TEXTCLF_DATA/{self.folder}"
            ) from None
        return {ours: self._hub_split(loaded, ours, theirs) for ours, theirs in self.hub_splits.items()}

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

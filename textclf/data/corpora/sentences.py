"""Sentence-level benchmarks of Kim (2014): TREC, SST, MR, Subj, CR, MPQA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textclf.data.public import PublicCorpus
from textclf.data.readers import read_lines
from textclf.data.splits import LabelledSplit

__all__ = ["TREC"]

TREC_COARSE = ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")


class TREC(PublicCorpus):
    """TREC question classification (Li & Roth 2002): 6 coarse or 50 fine classes, 5,452 train / 500 test.

    Original files ``TREC.train`` and ``TREC.test`` (``COARSE:fine question`` lines, latin-1). There is no
    validation split: ``val_fraction`` of train is held out.

    Args:
        fine: the 50 fine classes (``LOC:city``, ...) instead of the 6 coarse ones.
        **kwargs: source and preparation options of :class:`PublicCorpus`.
    """

    folder = "trec"
    files = ("TREC.train", "TREC.test")
    label_names: tuple[str, ...] = TREC_COARSE
    hub = "CogComp/trec"
    hub_label = "coarse_label"

    def __init__(self, *, fine: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fine = fine
        if fine:
            self.hub_label = "fine_label"
            self.label_names = TREC_FINE

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """Both files; the label is the coarse class, or ``COARSE:fine``."""
        label = r"(?P<label>[^:\s]+:\S+)" if self.fine else r"(?P<label>[^:\s]+):\S+"
        pattern = rf"^{label}\s+(?P<text>.*)$"
        splits = {}
        for split, name in (("train", "TREC.train"), ("test", "TREC.test")):
            texts, labels = read_lines(directory / name, pattern)
            splits[split] = LabelledSplit(texts, labels or [], str(directory / name))
        return splits


TREC_FINE = tuple(
    f"{coarse}:{fine}"
    for coarse, fines in (
        ("ABBR", "abb exp"),
        ("ENTY", "animal body color cremat currency dismed event food instru lang letter other plant product "
         "religion sport substance symbol techmeth termeq veh word"),
        ("DESC", "def desc manner reason"),
        ("HUM", "gr ind title desc"),
        ("LOC", "city country mount other state"),
        ("NUM", "code count date dist money ord other period perc speed temp volsize weight"),
    )
    for fine in fines.split()
)  # fmt: skip

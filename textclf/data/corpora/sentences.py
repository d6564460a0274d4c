"""Sentence-level benchmarks of Kim (2014): TREC, SST, MR, Subj, CR, MPQA."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar

from textclf.data.cache import path_fingerprint
from textclf.data.encoding import detect_file_encoding
from textclf.data.public import PublicCorpus
from textclf.data.readers import read_lines, read_table
from textclf.data.splits import LabelledSplit
from textclf.errors import TextclfError

__all__ = ["CR", "MPQA", "MR", "SST2", "SST5", "TREC", "GlueSST2", "Subj"]

log = logging.getLogger(__name__)

TREC_COARSE = ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM")
SENTIMENT = ("negative", "positive")
SST5_LABELS = ("very negative", "negative", "neutral", "positive", "very positive")
SENTENCE = r"^\s*(?P<text>.*?)\s*$"  # one sentence per line; the Cornell files end every line with a space


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
        """Both files; the label is the coarse class, or ``COARSE:fine``.

        The release is latin-1 (one non-ASCII byte in ``TREC.train``, line 66): a known quirk, so no warning.
        """
        label = r"(?P<label>[^:\s]+:\S+)" if self.fine else r"(?P<label>[^:\s]+):\S+"
        pattern = rf"^{label}\s+(?P<text>.*)$"
        splits = {}
        for split, name in (("train", "TREC.train"), ("test", "TREC.test")):
            path = directory / name
            texts, labels = read_lines(path, pattern, detect_file_encoding(path, warn=False))
            splits[split] = LabelledSplit(texts, labels or [], str(path))
        return splits


def index_labels(labels: list[str], names: tuple[str, ...], source: Path) -> list[str]:
    """Label names of integer labels (``"0"`` -> ``names[0]``); any other value is an error naming its row."""
    index = {str(i): name for i, name in enumerate(names)}
    try:
        return [index[label] for label in labels]
    except KeyError:
        row, label = next((row, label) for row, label in enumerate(labels, start=1) if label not in index)
        raise TextclfError(
            f"{source}, row {row}: unexpected label {label!r} (expected 0..{len(names) - 1} for {', '.join(names)})"
        ) from None


class StsaCorpus(PublicCorpus):
    """The SST sentence files of Kim (2014): ``<prefix>.{train,dev,test}``, ``LABEL text`` lines (label 0..k-1)."""

    prefix: ClassVar[str]
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "val": "validation", "test": "test"}
    SUFFIXES: ClassVar[dict[str, str]] = {"train": "train", "val": "dev", "test": "test"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """``files`` follow from ``prefix``: ``<prefix>.train``, ``<prefix>.dev``, ``<prefix>.test``."""
        super().__init_subclass__(**kwargs)
        cls.files = tuple(f"{cls.prefix}.{suffix}" for suffix in cls.SUFFIXES.values())

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """The three files; integer labels become :attr:`label_names`."""
        pattern = r"^(?P<label>\d+)\s+(?P<text>.*)$"
        splits = {}
        for split, suffix in self.SUFFIXES.items():
            path = directory / f"{self.prefix}.{suffix}"
            texts, labels = read_lines(path, pattern)
            splits[split] = LabelledSplit(texts, index_labels(labels or [], self.label_names, path), str(path))
        return splits


class SST2(StsaCorpus):
    """SST-2 at sentence level (Socher et al. 2013), the split of Kim (2014): 6,920 / 872 / 1,821 sentences.

    Original files ``stsa.binary.{train,dev,test}``: ``LABEL text`` lines, tokenised and lowercased, UTF-8,
    label 0 = negative, 1 = positive (neutral sentences removed). Hub: ``SetFit/sst2`` (JSON Lines, no script;
    columns ``text``, ``label`` 0/1, ``label_text``; splits train / validation / test).
    """

    folder = "sst2"
    prefix = "stsa.binary"
    label_names: tuple[str, ...] = SENTIMENT
    hub = "SetFit/sst2"


class SST5(StsaCorpus):
    """SST-1 (five classes) at sentence level, the split of Kim (2014): 8,544 / 1,101 / 2,210 sentences.

    Original files ``stsa.fine.{train,dev,test}``: ``LABEL text`` lines, label 0 = very negative .. 4 = very
    positive. Hub: ``SetFit/sst5`` (JSON Lines; columns ``text``, ``label`` 0..4, ``label_text``).
    """

    folder = "sst5"
    prefix = "stsa.fine"
    label_names: tuple[str, ...] = SST5_LABELS
    hub = "SetFit/sst5"


class GlueSST2(PublicCorpus):
    """GLUE SST-2 (Wang et al. 2019): 67,349 train phrases and sentences / 872 dev / 1,821 test sentences.

    Original files ``train.tsv``, ``dev.tsv`` and (optional) ``test.tsv``: TSV with the header
    ``sentence<TAB>label`` (0 = negative, 1 = positive). A labelled ``test.tsv`` is the test split; the GLUE
    release's own ``test.tsv`` is unlabelled (``index<TAB>sentence``), and then, as with the Hub, the test split is
    held out from train (``test_fraction``). Hub: ``nyu-mll/glue``, config ``sst2`` (Parquet; columns
    ``sentence``, ``label`` ClassLabel negative/positive, ``idx``): only train and validation are mapped, because
    the Hub's test labels are all -1.
    """

    folder = "glue-sst2"
    files = ("train.tsv", "dev.tsv")
    label_names: tuple[str, ...] = SENTIMENT
    hub = "nyu-mll/glue"
    hub_config = "sst2"
    hub_text = ("sentence",)
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "val": "validation"}

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """``train.tsv`` and ``dev.tsv``, and ``test.tsv`` when it is there and labelled."""
        splits = {}
        for split, name in (("train", "train.tsv"), ("val", "dev.tsv"), ("test", "test.tsv")):
            path = directory / name
            if split == "test" and not path.exists():
                log.info("%s: no test.tsv, the test split is held out from train", directory)
                continue
            texts, labels = read_table(path, "tsv", "sentence", "label")
            if labels is None and split == "test":
                log.info("%s is unlabelled (the GLUE test set): the test split is held out from train", path)
                continue
            if labels is None:
                raise TextclfError(f"{path}: no column 'label' (expected the header sentence<TAB>label)")
            splits[split] = LabelledSplit(texts, index_labels(labels, self.label_names, path), str(path))
        return splits

    def fingerprint(self) -> dict[str, Any]:
        """The base fingerprint, plus the optional ``test.tsv``."""
        fingerprint = super().fingerprint()
        test = self.directory / "test.tsv"
        if "files" in fingerprint and test.exists():
            fingerprint["files"]["test.tsv"] = path_fingerprint(test)
        return fingerprint


class PolarityCorpus(PublicCorpus):
    """A corpus distributed as one file of sentences per class, without an official split (MR, Subj, CR, MPQA).

    The whole corpus is the training pool. By default the test split is a seeded stratified hold-out of
    ``test_fraction`` (10%) of it and val another ``val_fraction`` (10%), both from ``seed``; with ``fold: k``
    (0-based) the test split is fold k of a seeded stratified ``num_folds``-fold partition (10-fold
    cross-validation as in Kim 2014: run k = 0..9 and average), and val is held out from the other folds. On the
    Hub, every split of the copy (:attr:`hub_splits`) is pooled the same way.

    :attr:`files` name one file per class, in the order of :attr:`label_names`; one sentence per line, UTF-8 or
    Windows-1252/latin-1, without a warning (see :meth:`read_files`).
    """

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """All sentences of every class file, as ``train``.

        The Cornell (MR, Subj) and Kim-2014 (CR, MPQA) files predate UTF-8: their high bytes are Windows-1252
        dashes, quotes and ellipses (0x85, NEL in latin-1) besides latin-1 letters. A known quirk, so no warning.
        """
        texts: list[str] = []
        labels: list[str] = []
        for name, label in zip(self.files, self.label_names, strict=True):
            path = directory / name
            found, _ = read_lines(path, SENTENCE, detect_file_encoding(path, warn=False))
            texts += found
            labels += [label] * len(found)
        return {"train": LabelledSplit(texts, labels, f"{directory}/{{{','.join(self.files)}}}")}

    def read_hub(self) -> dict[str, LabelledSplit]:
        """Every mapped Hub split, pooled into ``train``."""
        parts = list(super().read_hub().values())
        texts = [text for part in parts for text in part.texts]
        labels = [label for part in parts for label in part.labels]
        return {"train": LabelledSplit(texts, labels, f"{self.hub_id} [{'+'.join(self.hub_splits.values())}]")}


class MR(PolarityCorpus):
    """MR, movie-review sentence polarity (Pang & Lee 2005): 5,331 negative + 5,331 positive sentences.

    Original files ``rt-polarity.neg`` and ``rt-polarity.pos`` (rt-polaritydata v1.0): Windows-1252 bytes with
    0x85 ellipses (NEL in latin-1, read here as "…"; lines are split on newlines only). No official split: see
    :class:`PolarityCorpus` (default: seeded 80/10/10 hold-out; ``fold: 0..9`` for 10-fold CV). Hub:
    ``mattymchen/mr`` (Parquet, SentEval's copy; columns ``text``, ``label`` 0 = negative, 1 = positive), whose one
    split ``test`` holds all 10,662 sentences.
    """

    folder = "mr"
    files = ("rt-polarity.neg", "rt-polarity.pos")
    label_names: tuple[str, ...] = SENTIMENT
    hub = "mattymchen/mr"
    hub_splits: ClassVar[dict[str, str]] = {"test": "test"}


class Subj(PolarityCorpus):
    """Subj, subjectivity (Pang & Lee 2004): 5,000 objective + 5,000 subjective sentences.

    Original files ``subj.objective`` (plot summaries) and ``subj.subjective`` (review snippets), rotten_imdb v1.0:
    Windows-1252/latin-1 bytes. No official split: see :class:`PolarityCorpus` (default: seeded 80/10/10 hold-out;
    ``fold: 0..9`` for 10-fold CV). Hub: ``SetFit/subj`` (JSON Lines; columns ``text``, ``label``,
    ``label_text`` objective/subjective, read by name), its train (8,000) and test (2,000) pooled.
    """

    folder = "subj"
    files = ("subj.objective", "subj.subjective")
    label_names: tuple[str, ...] = ("objective", "subjective")
    hub = "SetFit/subj"
    hub_label = "label_text"
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "test": "test"}


class CR(PolarityCorpus):
    """CR, customer reviews (Hu & Liu 2004) as in Kim (2014): 3,775 sentences.

    Original files ``custrev.neg`` and ``custrev.pos`` of the Kim (2014) / SentEval data: one sentence per line.
    No official split: see :class:`PolarityCorpus` (default: seeded 80/10/10 hold-out; ``fold: 0..9`` for 10-fold
    CV). Hub: ``mattymchen/cr`` (Parquet, SentEval's copy; columns ``text``, ``label`` 0 = negative,
    1 = positive), whose one split ``test`` holds the whole corpus.
    """

    folder = "cr"
    files = ("custrev.neg", "custrev.pos")
    label_names: tuple[str, ...] = SENTIMENT
    hub = "mattymchen/cr"
    hub_splits: ClassVar[dict[str, str]] = {"test": "test"}


class MPQA(PolarityCorpus):
    """MPQA opinion polarity (Wiebe et al. 2005) as in Kim (2014): 10,606 phrases.

    Original files ``mpqa.neg`` and ``mpqa.pos`` of the Kim (2014) / SentEval data: one phrase per line. No
    official split: see :class:`PolarityCorpus` (default: seeded 80/10/10 hold-out; ``fold: 0..9`` for 10-fold
    CV). Hub: ``jxm/mpqa`` (Parquet, the LM-BFF copy; columns ``sentence``, ``label`` 0 = negative,
    1 = positive), its train and test pooled (its 256-example dev split is left out).
    """

    folder = "mpqa"
    files = ("mpqa.neg", "mpqa.pos")
    label_names: tuple[str, ...] = SENTIMENT
    hub = "jxm/mpqa"
    hub_text = ("sentence",)
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "test": "test"}


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

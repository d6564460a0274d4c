"""Dialog-act corpora of Lee & Dernoncourt (2016): MRDA and SwDA, with conversation ids and utterance order.

Both are read from the NathanDuran/MRDA-Corpus and NathanDuran/Switchboard-Corpus processing: ``train/``, ``val/``
and ``test/`` folders with one file per conversation, ``speaker|utterance|tag...`` per line in dialogue order.
Besides texts and labels every split keeps three per-utterance columns, aligned with the prepared split and exposed
by :meth:`~textclf.data.base.TextDataModule.split_meta`: ``conversation`` (the file stem), ``speaker`` and
``position`` (0-based index of the utterance in its conversation file). Empty utterances are dropped when the
splits are cleaned and their meta goes with them, so positions are those of the original file and may have gaps.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from textclf.data.encoding import decode
from textclf.data.public import PublicCorpus
from textclf.data.splits import LabelledSplit
from textclf.errors import TextclfError
from textclf.wording import counted

__all__ = ["MRDA", "SwDA"]

log = logging.getLogger(__name__)

PARQUET_EXPORT = "refs/convert/parquet"
SPLIT_FOLDERS = ("train", "val", "test")

# metadata/{basic,general,full}_labels.txt of NathanDuran/MRDA-Corpus, in file order
MRDA_BASIC = ("S", "B", "D", "F", "Q")
MRDA_GENERAL = ("s", "b", "fh", "qy", "%", "fg", "qw", "h", "qrr", "qh", "qr", "qo")
# fmt: off
MRDA_FULL = (
    "s", "b", "fh", "bk", "aa", "df", "e", "%", "rt", "fg", "cs", "ba", "bu", "d", "na", "qw", "ar", "2", "no", "h",
    "co", "qy", "nd", "j", "bd", "cc", "ng", "am", "qrr", "fe", "m", "fa", "t", "br", "aap", "qh", "tc", "r", "t1",
    "t3", "bh", "bsc", "arp", "bs", "f", "qr", "ft", "g", "qo", "bc", "by", "fw",
)
# metadata/labels.txt of NathanDuran/Switchboard-Corpus (SWBD-DAMSL, 41 tags), in file order
SWDA_TAGS = (
    "sd", "b", "sv", "%", "aa", "ba", "qy", "ny", "fc", "qw", "nn", "bk", "h", "qy^d", "bh", "^q", "bf",
    'fo_o_fw_"_by_bc', "na", "ad", "^2", "b^m", "qo", "qh", "^h", "ar", "ng", "br", "no", "fp", "qrr", "arp_nd",
    "t3", "oo_co_cc", "aap_am", "t1", "bd", "^g", "qw^d", "fa", "ft",
)
# fmt: on


def read_conversations(folder: Path, layout: str, tag: int, known: tuple[str, ...]) -> LabelledSplit:
    """Every conversation file in ``folder`` (sorted by name), lines laid out as ``layout`` (``speaker|utterance|tag``).

    The utterance is everything between the first ``|`` and the trailing tag fields, so a ``|`` inside it is kept.
    ``tag`` picks the label among the trailing tag fields; every label must be one of ``known``.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    if not files:
        raise TextclfError(f"{folder}: no conversation files (expected one file of '{layout}' lines each)")
    known_set = set(known)
    tags = layout.count("|") - 1
    texts: list[str] = []
    labels: list[str] = []
    meta: dict[str, list[Any]] = {"conversation": [], "speaker": [], "position": []}
    for path in files:
        position = 0
        for number, line in enumerate(decode(path).split("\n"), start=1):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            speaker, _, rest = line.partition("|")
            fields = rest.rsplit("|", tags)
            if len(fields) != tags + 1:
                raise TextclfError(
                    f"{path}, line {number}: expected {tags + 2} '|'-separated fields ({layout}), found "
                    f"{line.count('|') + 1}: {line[:80]!r}"
                )
            label = fields[1 + tag]
            if label not in known_set:
                known_list = f"the {len(known)}: {', '.join(known[:6])}, ..."
                raise TextclfError(f"{path}, line {number}: unknown tag {label!r} (not one of {known_list})")
            texts.append(fields[0])
            labels.append(label)
            meta["conversation"].append(path.stem)
            meta["speaker"].append(speaker)
            meta["position"].append(position)
            position += 1
    return LabelledSplit(texts, labels, str(folder), meta=meta)


class DialogCorpus(PublicCorpus):
    """A dialog-act corpus: per-conversation files, and meta (conversation, speaker, position) from either source.

    The Hub source reads the Parquet export of a script-based dataset (branch ``refs/convert/parquet``, one folder
    per config: ``<config>/<split>/*.parquet``), so the config is given as ``data_dir`` there.
    """

    files = SPLIT_FOLDERS
    hub = "eusip/silicone"
    hub_text = ("Utterance",)
    hub_label = "Label"
    hub_splits: ClassVar[dict[str, str]] = {"train": "train", "val": "validation", "test": "test"}
    hub_conversation: ClassVar[str] = "Dialogue_ID"
    hub_speaker: ClassVar[str] = "Speaker"
    hub_aliases: ClassVar[dict[str, str]] = {}  # Hub label name -> ours
    hub_dropped: ClassVar[frozenset[str]] = frozenset()  # Hub labels outside our label set: dropped, logged
    layout: ClassVar[str] = "speaker|utterance|tag"  # the fields of a line

    def __init__(self, *, hub_revision: str | None = PARQUET_EXPORT, **kwargs: Any) -> None:
        super().__init__(hub_revision=hub_revision, **kwargs)

    def tag_index(self) -> int:
        """Which of the trailing tag fields is the label."""
        return 0

    def read_files(self, directory: Path) -> dict[str, LabelledSplit]:
        """``train/``, ``val/`` and ``test/``, one file per conversation, read in file-name order."""
        return {
            ours: read_conversations(directory / folder, self.layout, self.tag_index(), self.label_names)
            for ours, folder in zip(("train", "val", "test"), SPLIT_FOLDERS, strict=True)
        }

    def _hub_split(self, loaded: Any, ours: str, theirs: str) -> LabelledSplit:
        where = f"{self.hub_id} [{self.hub_data_dir}/{theirs}]"
        if theirs not in loaded:
            raise TextclfError(f"{where}: no such split (splits: {', '.join(loaded)})")
        table = loaded[theirs]
        wanted = (*self.hub_text, self.hub_label, self.hub_conversation, self.hub_speaker)
        missing = [c for c in wanted if c not in table.column_names]
        if missing:
            raise TextclfError(f"{where}: no column {', '.join(missing)} (columns: {', '.join(table.column_names)})")
        names = getattr(table.features[self.hub_label], "names", None)
        values = list(table[self.hub_label])
        raw = [names[v] if isinstance(v, int) and names and 0 <= v < len(names) else v for v in values]
        raw = [self.hub_aliases.get(str(v), v) for v in raw]
        dropped = Counter(str(v) for v in raw if str(v) in self.hub_dropped)
        if dropped:
            log.warning("%s: dropped %s with tags outside %s's: %s", where, counted(sum(dropped.values()), "utterance"),
                        type(self).__name__, dict(dropped))  # fmt: skip
        keep = [i for i, v in enumerate(raw) if str(v) not in self.hub_dropped]
        texts, conversations, speakers = (
            list(table[c]) for c in (self.hub_text[0], self.hub_conversation, self.hub_speaker)
        )
        seen: Counter[str] = Counter()
        positions = []
        for conversation in conversations:  # rows are in dialogue order: position = index in the conversation
            positions.append(seen[str(conversation)])
            seen[str(conversation)] += 1
        meta: dict[str, list[Any]] = {
            "conversation": [str(conversations[i]) for i in keep],
            "speaker": [str(speakers[i]) for i in keep],
            "position": [positions[i] for i in keep],
        }
        labels = [self.label_name(raw[i], None, where) for i in keep]
        return LabelledSplit([str(texts[i] or "") for i in keep], labels, where, [i + 1 for i in keep], meta)


class MRDA(DialogCorpus):
    """ICSI Meeting Recorder Dialog Act corpus (Shriberg et al. 2004) as processed in NathanDuran/MRDA-Corpus.

    75,067 / 16,433 / 16,702 utterances (train / val / test) in 51 / 12 / 12 meetings. Original files: ``train/``,
    ``val/``, ``test/`` with one file per meeting, ``speaker|utterance|basic|general|full`` lines in dialogue order
    (the ``{train,val,test}_set.txt`` concatenations and ``metadata/`` are not needed).

    Labels, in the order of the corpus's ``metadata/*_labels.txt``: ``basic`` 5 (S statement, B backchannel,
    D disruption, F floor grabber/holder, Q question), ``general`` 12, ``full`` 52.

    Hub (unverified: no Hub access here): ``eusip/silicone`` (the SILICONE benchmark, a dataset script) through its
    Parquet export, revision ``refs/convert/parquet``, folder ``mrda``; columns ``Utterance`` (text), ``Label``
    (ClassLabel ``s d b f q``, mapped by letter to ``S D B F Q``; SILICONE's script describes ``d`` and ``f`` as
    declarative question and "follow-me"), ``Dialogue_ID`` (conversation), ``Speaker``. Only the basic labels are
    there, and SILICONE's train / validation / test split is not NathanDuran's.

    Args:
        labels: ``basic``, ``general`` or ``full``.
        **kwargs: source and preparation options of :class:`~textclf.data.public.PublicCorpus`.
    """

    folder = "mrda"
    hub_data_dir = "mrda"
    label_names: tuple[str, ...] = MRDA_BASIC
    layout = "speaker|utterance|basic|general|full"
    LABEL_SETS: ClassVar[dict[str, tuple[str, ...]]] = {"basic": MRDA_BASIC, "general": MRDA_GENERAL, "full": MRDA_FULL}

    def __init__(self, *, labels: Literal["basic", "general", "full"] = "basic", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if labels not in self.LABEL_SETS:
            raise TextclfError(f"MRDA: labels must be one of {', '.join(self.LABEL_SETS)}, got {labels!r}")
        self.labels_option = labels
        self.label_names = self.LABEL_SETS[labels]

    def tag_index(self) -> int:
        """basic, general, full: the 1st, 2nd or 3rd tag field."""
        return list(self.LABEL_SETS).index(self.labels_option)

    def read_hub(self) -> dict[str, LabelledSplit]:
        """SILICONE's ``mrda``: basic labels only."""
        if self.labels_option != "basic":
            raise TextclfError(
                f"MRDA: the Hub's {self.hub_id} ({self.hub_data_dir}) has only the 5 basic labels; labels="
                f"{self.labels_option} needs the original files: {self.files_problem()}; {self.files_fix()}"
            )
        return super().read_hub()

    def label_name(self, value: Any, names: list[str] | None, where: str) -> str:
        """SILICONE's lowercase basic tags are ours in capitals."""
        return super().label_name(value.upper() if isinstance(value, str) else value, names, where)


class SwDA(DialogCorpus):
    """Switchboard Dialog Act corpus (Jurafsky et al. 1997) as processed in NathanDuran/Switchboard-Corpus.

    192,390 / 3,272 / 4,078 utterances (train / val / test) in 1,115 / 21 / 19 conversations; 41 SWBD-DAMSL tags in
    the order of the corpus's ``metadata/labels.txt``. Original files: ``train/``, ``val/``, ``test/`` with one
    file per conversation, ``speaker|utterance|tag`` lines in order (the concatenated train file is not part of the
    distribution, so every split is read from its folder).

    Hub (unverified: no Hub access here): ``eusip/silicone`` through its Parquet export, revision
    ``refs/convert/parquet``, folder ``swda``; columns ``Utterance`` (text), ``Label`` (ClassLabel of 46 tags),
    ``Dialogue_ID`` (conversation), ``From_Caller`` (speaker). Its tag ``fo_o_fw_by_bc_"`` is our
    ``fo_o_fw_"_by_bc``; utterances tagged ``+`` (continuations), ``x`` (non-verbal) and the rare compound tags
    outside the 41 are dropped with a logged count. SILICONE's split differs from NathanDuran's.

    Args:
        **kwargs: source and preparation options of :class:`~textclf.data.public.PublicCorpus`.
    """

    folder = "swda"
    hub_data_dir = "swda"
    hub_speaker = "From_Caller"
    label_names: tuple[str, ...] = SWDA_TAGS
    hub_aliases: ClassVar[dict[str, str]] = {'fo_o_fw_by_bc_"': 'fo_o_fw_"_by_bc'}
    hub_dropped: ClassVar[frozenset[str]] = frozenset({"+", "x", "sv_fx", "qy_qr", "ba_fe"})

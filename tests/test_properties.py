"""Property-based tests (hypothesis): the tokenizer, the vocabulary, batching and the prediction path.

Every property is one a user relies on: no text breaks the tokenizer, ids are stable, every text is seen once per
epoch, and a text's probabilities never depend on what it is batched with, on the batch size or on the order.
"""

from __future__ import annotations

import itertools
import json
import re
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from factories import tiny_model
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from textclf import TextClassifier
from textclf.checkpoint import read_vocabulary
from textclf.data.batching import BucketBatchSampler, TokenIdsDataset, bucket_loader
from textclf.encoders import BagOfEmbeddingsEncoder, RNNEncoder
from textclf.errors import TextclfError
from textclf.export import tokenizer_settings
from textclf.inference import predict_proba
from textclf.tokenize import Tokenizer
from textclf.vocab import PAD, UNK, Vocabulary, merge_vocabularies

pytestmark = pytest.mark.usefixtures("one_thread")

# No example database: nothing is written into the working tree; failures print the example to pin with @example.
FEW = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# ---- tokenizer ---------------------------------------------------------------------------------------------------

# Pieces that broke or could break tokenizers: NUL, CR, line/paragraph separators, combining marks (decomposed
# accents, Devanagari vowel signs, Hebrew points), joiners (a Persian word with ZWNJ), BOM, RTL text and overrides,
# astral characters.
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
NASTY = ["\x00", "\r", "\r\n", "\u2028", "\u2029", "\x85", "\u00a0", "\u3000", "e\u0301", "\u0301", "\u20dd",
         "\u093f", "हिन्दी", "שָׁלוֹם", PERSIAN, "\u200d", "\u200b", "\ufeff", "\u202e", "İ", "ß", "ﬁ",
         "\U0001f600", "\U0001d165", "don't", "re-imagine", "'", "-", "\u2019"]  # fmt: skip
pieces = st.one_of(st.text(max_size=12), st.sampled_from(NASTY))
repeats = st.tuples(st.sampled_from([*NASTY, "a", "a-", "a'", " ", "!"]), st.integers(1_000, 20_000))
texts = st.one_of(st.lists(pieces, max_size=12).map("".join), repeats.map(lambda r: r[0] * r[1]))
MODES = ["basic", "cased", "whitespace"]


def is_mark(char: str) -> bool:
    """A combining mark or a zero-width (non-)joiner: part of the character before it."""
    return unicodedata.category(char)[0] == "M" or char in "\u200c\u200d"


@pytest.mark.parametrize("mode", MODES)
@FEW
@given(text=texts, max_length=st.one_of(st.none(), st.integers(1, 20)))
def test_any_text_tokenizes_into_non_empty_tokens_without_whitespace(mode, text, max_length):
    everything = Tokenizer(mode)(text)
    tokens = Tokenizer(mode, max_length)(text)
    assert all(isinstance(t, str) and t and not any(c.isspace() for c in t) for t in everything)
    assert tokens == everything[:max_length]  # max_length keeps the first tokens
    assert Tokenizer(mode, max_length).batch([text, "", text]) == [tokens, [], tokens]
    if mode == "whitespace":
        assert everything == text.split()


@pytest.mark.parametrize("mode", ["basic", "cased"])
@SOME
@given(text=texts)
@example(text="हिन्दी भाषा")  # vowel signs (Mc/Mn) were split off as tokens of their own: ह ि न ् द ी
@example(text="cafe\u0301 naïve")  # a decomposed accent became a token: cafe ́
@example(text="İstanbul")  # lowercased, İ is i + U+0307: "i", "̇", "stanbul"
def test_basic_and_cased_lose_no_character_and_never_split_a_mark_from_its_letter(mode, text):
    """Whitespace always separates tokens; inside a run of non-space characters, tokens concatenate to the run and
    a combining mark always stays with the character before it."""
    tokenizer = Tokenizer(mode)
    source = text.lower() if mode == "basic" else text
    runs = source.split()
    assert tokenizer(text) == [token for run in runs for token in tokenizer(run)]
    for run in runs:
        tokens = tokenizer(run)
        assert "".join(tokens) == run
        assert not any(is_mark(token[0]) for token in tokens[1:]), tokens
    if mode == "basic":
        assert all(token == token.lower() for token in tokenizer(text))


@pytest.mark.parametrize("mode", MODES)
@FEW
@given(text=texts)
def test_the_exported_token_pattern_tokenizes_like_the_tokenizer(mode, text):
    settings_ = json.loads(json.dumps(tokenizer_settings(Tokenizer(mode))))  # as a runtime reads tokenizer.json
    pattern = re.compile(settings_["token_pattern"])
    assert pattern.findall(text.lower() if settings_["lowercase"] else text) == Tokenizer(mode)(text)


# ---- vocabulary --------------------------------------------------------------------------------------------------

words = st.one_of(st.text(max_size=6), st.sampled_from([PAD, UNK, "a", "b", "the"]))


@SOME
@given(
    counts=st.dictionaries(words, st.integers(1, 6), max_size=25),
    options=st.fixed_dictionaries({
        "min_freq": st.integers(1, 4),
        "max_size": st.one_of(st.none(), st.integers(0, 12)),
        "keep": st.sets(words, max_size=4),
        "extra": st.lists(words, max_size=10),
    }),
)  # fmt: skip
def test_a_vocabulary_builds_from_any_counts(counts, options):
    vocab = Vocabulary.build(Counter(counts), **options)
    assert vocab.tokens[:2] == [PAD, UNK] and (vocab.pad_index, vocab.unk_index) == (0, 1)
    assert len(set(vocab.tokens)) == len(vocab) and all(vocab.index[t] == i for i, t in enumerate(vocab.tokens))
    kept = [w for w, n in counts.items() if (n >= options["min_freq"] or w in options["keep"]) and w not in (PAD, UNK)]
    trained = sorted(kept, key=lambda w: (-counts[w], w))[: options["max_size"]]  # by frequency, ties alphabetically
    assert vocab.tokens[2 : vocab.trained_size] == trained
    added = [w for w in dict.fromkeys(options["extra"]) if w not in {PAD, UNK, *trained}]  # in order, once each
    assert vocab.tokens[vocab.trained_size :] == added
    shuffled = Counter(dict(reversed(counts.items())))  # the order the counts were made in never matters
    assert Vocabulary.build(shuffled, **options) == vocab
    queries = [*counts, *options["extra"], "never-seen-word", PAD, UNK]
    ids = vocab.encode(queries)
    assert ids == [vocab.index.get(q, 1) for q in queries]  # unknown words are <unk>
    assert all(vocab.tokens[i] == q for i, q in zip(ids, queries, strict=True) if i != 1)
    assert vocab.encode([]) == [1]


@FEW
@given(
    counts=st.dictionaries(st.text(min_size=1, max_size=8), st.integers(1, 5), max_size=20),
    extra=st.lists(words, max_size=5),
)
@example(counts={"\x00": 1, "\ud7ff\U0010ffff": 2, "\u2028": 1}, extra=[PAD, "\ufeff"])
def test_a_vocabulary_survives_its_checkpoint_and_cache_round_trips(counts, extra):
    vocab = Vocabulary.build(Counter(counts), extra=extra)
    meta = json.loads(json.dumps({"vocab": vocab.tokens, "trained_size": vocab.trained_size}))  # the cache's meta.json
    assert Vocabulary(meta["vocab"], meta["trained_size"]) == vocab
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.ckpt"
        model, saved = tiny_model(vocab), {}
        model.on_save_checkpoint(saved)  # what Lightning adds to the checkpoints of textclf fit
        torch.save({"state_dict": model.state_dict(), **saved}, path)
        restored, tokenizer = read_vocabulary(path)
        assert TextClassifier.load_from_checkpoint(path).vocab == vocab
    assert (restored, tokenizer.mode) == (vocab, "basic")
    assert restored.encode([*counts, "zzz-unknown"]) == vocab.encode([*counts, "zzz-unknown"])


@FEW
@given(
    base=st.lists(words, max_size=12, unique=True),
    own=st.lists(words, max_size=12, unique=True),
    cuts=st.tuples(st.integers(0, 12), st.integers(0, 12)),
)
def test_merging_vocabularies_keeps_every_base_index(base, own, cuts):
    def vocabulary(tokens: list[str], cut: int) -> Vocabulary:
        tokens = [PAD, UNK, *(t for t in tokens if t not in (PAD, UNK))]
        return Vocabulary(tokens, min(len(tokens), 2 + cut))

    first, second = vocabulary(base, cuts[0]), vocabulary(own, cuts[1])
    merged = merge_vocabularies(first, second)
    assert merged.tokens[: first.trained_size] == first.tokens[: first.trained_size]
    assert set(merged.tokens) == set(first.tokens) | set(second.tokens)
    assert set(second.tokens[: second.trained_size]) <= set(merged.tokens[: merged.trained_size])


# ---- batching ----------------------------------------------------------------------------------------------------

sampler_options = st.fixed_dictionaries({
    "batch_size": st.integers(1, 12),
    "bucket_size": st.integers(1, 5),
    "shuffle": st.booleans(),
    "drop_last": st.booleans(),
    "seed": st.integers(0, 2**32 - 1),
})  # fmt: skip
lengths_lists = st.lists(st.integers(1, 40), max_size=120).map(lambda x: np.array(x, dtype=np.int64))


def _kept(n: int, batch_size: int, bucket_size: int, shuffle: bool, drop_last: bool) -> int:
    """How many texts one epoch holds: all, or with drop_last the full batches of each sorted chunk."""
    if not drop_last:
        return n
    chunk = batch_size * bucket_size if shuffle else max(n, 1)
    return sum(min(chunk, n - start) // batch_size * batch_size for start in range(0, n, chunk))


@SOME
@given(lengths=lengths_lists, options=sampler_options, epoch=st.integers(0, 5))
def test_one_process_sees_every_text_once_per_epoch_in_an_order_fixed_by_seed_and_epoch(lengths, options, epoch):
    sampler = BucketBatchSampler(lengths, **options)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert len(sampler) == len(batches)
    assert all(1 <= len(b) <= options["batch_size"] for b in batches)
    if options["drop_last"]:
        assert all(len(b) == options["batch_size"] for b in batches)
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen)) == _kept(len(lengths), **{k: v for k, v in options.items() if k != "seed"})
    assert all(np.all(np.diff(lengths[b]) >= 0) for b in batches)  # each batch is cut from a length-sorted chunk
    if not options["shuffle"]:
        assert np.all(np.diff(lengths[seen]) >= 0)
    fresh = BucketBatchSampler(lengths, **options)
    for other in (epoch + 1, epoch):  # whatever came before, (seed, epoch) gives the same order
        fresh.set_epoch(other)
        list(fresh)
    assert list(fresh) == batches == list(sampler)


@SOME
@given(lengths=lengths_lists, options=sampler_options, replicas=st.integers(2, 5))
def test_ddp_ranks_share_an_epoch_between_them(lengths, options, replicas):
    """Training: every rank gets as many batches (or DDP hangs), no text is dropped and none twice across ranks while
    there are enough texts to split; evaluation: every text exactly once, every rank at least one batch."""
    samplers = [BucketBatchSampler(lengths, **options, num_replicas=replicas, rank=r) for r in range(replicas)]
    kept = _kept(len(lengths), **{k: v for k, v in options.items() if k != "seed"})
    if not options["shuffle"] and 0 < kept < replicas:
        with pytest.raises(TextclfError, match=f"cannot evaluate {kept} texts on {replicas} ranks"):
            list(samplers[0])
        return
    per_rank = [list(s) for s in samplers]
    assert [len(s) for s in samplers] == [len(b) for b in per_rank]
    total = len(BucketBatchSampler(lengths, **options))  # batches of one process
    surplus = total % replicas
    splittable = kept >= total + replicas - surplus  # enough texts to halve batches up to the next multiple
    merged = options["shuffle"] and not options["drop_last"] and surplus and kept >= replicas and not splittable
    limit = 2 * options["batch_size"] if merged else options["batch_size"]  # too few texts to halve: merged
    assert all(1 <= len(b) <= limit for batches in per_rank for b in batches)
    seen = Counter(i for batches in per_rank for b in batches for i in b)
    if options["shuffle"]:
        assert len({len(b) for b in per_rank}) == 1
    if not options["shuffle"]:  # with drop_last, the last (longest) batch is left out
        assert set(seen) == set(np.argsort(lengths, kind="stable")[:kept].tolist())
    elif not options["drop_last"]:
        assert set(seen) == set(range(len(lengths)))
    enough = len(lengths) >= replicas
    if not options["shuffle"] or options["drop_last"] or enough:
        assert all(count == 1 for count in seen.values()), seen


def test_ddp_training_with_batch_size_one_trains_each_text_once_when_there_are_enough_texts():
    """Five texts on four ranks in batches of one: halving cannot reach eight batches, so two texts share a batch
    (three were trained twice before): every rank one step, every text once, as BucketBatchSampler promises."""
    samplers = [BucketBatchSampler(np.ones(5, dtype=np.int64), 1, num_replicas=4, rank=r) for r in range(4)]
    per_rank = [list(sampler) for sampler in samplers]
    assert sorted(i for batches in per_rank for b in batches for i in b) == [0, 1, 2, 3, 4]
    assert [len(batches) for batches in per_rank] == [len(sampler) for sampler in samplers] == [1, 1, 1, 1]


@FEW
@given(
    sequences=st.lists(st.lists(st.integers(1, 99), min_size=1, max_size=15), max_size=40),
    batch_size=st.integers(1, 9),
    shuffle=st.booleans(),
    shard=st.integers(1, 3).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
)
def test_bucket_loader_pads_with_zeros_and_returns_each_text_unchanged(sequences, batch_size, shuffle, shard):
    dataset = TokenIdsDataset.from_lists(sequences, targets=list(range(len(sequences))))
    loader = bucket_loader(dataset, batch_size, shuffle=shuffle, seed=3, bucket_size=2, shard=shard)
    if not shuffle and 0 < len(sequences) < shard[0]:
        with pytest.raises(TextclfError):
            list(loader)
        return
    for batch in loader:
        assert batch["token_ids"].shape == (len(batch["index"]), int(batch["lengths"].max()))
        for row, length, index, target in zip(
            batch["token_ids"], batch["lengths"], batch["index"], batch["targets"], strict=True
        ):
            assert row[:length].tolist() == sequences[index] and not row[length:].any() and target == index


# ---- prediction --------------------------------------------------------------------------------------------------

WORDS = ["good", "bad", "film", "great", "plot", "dull", "superb", "acting"]
VOCAB = Vocabulary([PAD, UNK, *WORDS], trained_size=7)  # the last three words came from a vectors file (frozen)
UNKNOWN = ["zebra", "qwerty", "xyzzy"]
RNN_KINDS = [
    {"cell": c, "bidirectional": b, "pooling": p, "implementation": i, "num_layers": n}
    for c, b, p, i, n in itertools.product(["lstm", "gru"], [False, True], ["last", "mean", "max", "attention"],
                                           ["auto", "packed", "padded"], [1, 2])
]  # fmt: skip
KINDS = [*RNN_KINDS, {"bag": "mean"}, {"bag": "max"}]
KIND_IDS = [
    "bag-" + k["bag"] if "bag" in k else "-".join(str(k[n]) for n in ("cell", "pooling", "implementation"))
    + ("-bi" if k["bidirectional"] else "-uni") + f"-{k['num_layers']}layer"
    for k in KINDS
]  # fmt: skip
FIXED_TEXTS = ["", "zebra qwerty", "good", " ".join(["bad film superb !"] * 15), "GREAT plot, dull acting?", "\n"]
_MODELS: dict[str, TextClassifier] = {}


def model_of(kind: dict[str, Any], embedding_mode: str = "random", multi_label: bool = False) -> TextClassifier:
    """A small random classifier (3 labels, 6-d embeddings, hidden size 5) in eval mode, built once per setting."""
    key = json.dumps([kind, embedding_mode, multi_label], sort_keys=True)
    if key not in _MODELS:
        torch.manual_seed(0)
        encoder = BagOfEmbeddingsEncoder(pooling=kind["bag"]) if "bag" in kind else RNNEncoder(hidden_size=5, **kind)
        pretrained = None if embedding_mode == "random" else torch.randn(len(VOCAB), 6)
        labels = ["neg", "neutral", "pos"]
        options = {"embedding_mode": embedding_mode, "pretrained_embeddings": pretrained, "multi_label": multi_label}
        _MODELS[key] = TextClassifier(encoder, vocab=VOCAB, labels=labels, embedding_dim=6, **options).eval()
    return _MODELS[key]


def assert_batching_never_matters(model: TextClassifier, texts: list[str], batch_size: int, order: list[int]) -> None:
    """Each text's probabilities alone equal its row with all the texts, in any batch size and any order."""
    alone = np.concatenate([model.predict_proba([text], batch_size=1) for text in texts])
    assert np.isfinite(alone).all() and alone.shape == (len(texts), len(model.labels))
    for size in (1, batch_size, 64):
        np.testing.assert_allclose(predict_proba(model, texts, size), alone, atol=1e-5, rtol=0)
    shuffled = predict_proba(model, [texts[i] for i in order], batch_size)
    np.testing.assert_allclose(shuffled, alone[order], atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.predict_proba(texts, batch_size), alone, atol=1e-5, rtol=0)
    assert not model.training


def assert_padding_content_never_matters(model: TextClassifier, texts: list[str], extra: int, seed: int) -> None:
    """Logits of a batch padded with random word ids (not only <pad>) and ``extra`` more steps equal each text's own."""
    ids = [model.vocab.encode(tokens) for tokens in model.tokenizer.batch(texts)]
    lengths = torch.tensor([len(row) for row in ids])
    generator = torch.Generator().manual_seed(seed)
    token_ids = torch.randint(0, len(model.vocab), (len(ids), int(lengths.max()) + extra), generator=generator)
    for row, text_ids in enumerate(ids):
        token_ids[row, : len(text_ids)] = torch.tensor(text_ids)
    with torch.no_grad():
        batched = model(token_ids, lengths)
        own = torch.cat([model(torch.tensor([text_ids]), torch.tensor([len(text_ids)])) for text_ids in ids])
    torch.testing.assert_close(batched, own, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_no_encoder_kind_lets_batching_or_padding_change_a_prediction(kind):
    model = model_of(kind)
    assert_batching_never_matters(model, FIXED_TEXTS, 2, [3, 0, 5, 1, 4, 2])
    assert_padding_content_never_matters(model, FIXED_TEXTS, extra=7, seed=0)


prediction_texts = st.one_of(
    st.sampled_from(["", " \t\n", "!!"]),
    st.lists(st.sampled_from(UNKNOWN), min_size=1, max_size=6).map(" ".join),  # only unknown words
    st.lists(st.sampled_from([*WORDS, *UNKNOWN, "GOOD", "film,", "?"]), max_size=60).map(" ".join),
)


@SOME
@given(
    kind=st.sampled_from(KINDS),
    embedding_mode=st.sampled_from(["random", "non-static", "static", "multichannel"]),
    multi_label=st.booleans(),
    texts=st.lists(prediction_texts, min_size=1, max_size=10),
    batch_size=st.integers(1, 64),
    data=st.data(),
)
def test_batching_padding_and_order_never_change_a_prediction(
    kind, embedding_mode, multi_label, texts, batch_size, data
):
    model = model_of(kind, embedding_mode, multi_label)
    order = data.draw(st.permutations(range(len(texts))))
    assert_batching_never_matters(model, texts, batch_size, list(order))
    assert_padding_content_never_matters(model, texts, data.draw(st.integers(0, 20)), data.draw(st.integers(0, 99)))

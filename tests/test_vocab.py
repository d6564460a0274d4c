from collections import Counter

import pytest

from textclf.vocab import PAD, UNK, Vocabulary

COUNTS = Counter({"the": 5, "b": 3, "a": 3, "rare": 1, "odd": 1, "c": 2})


def test_specials_come_first():
    vocab = Vocabulary.build(COUNTS)
    assert vocab.tokens[:2] == [PAD, UNK]
    assert vocab.index[PAD] == vocab.pad_index == 0
    assert vocab.index[UNK] == vocab.unk_index == 1


def test_frequency_then_alphabetical_order():
    vocab = Vocabulary.build(COUNTS)
    assert vocab.tokens == [PAD, UNK, "the", "a", "b", "c", "odd", "rare"]
    assert len(vocab) == 8


def test_min_freq_drops_rare_words():
    vocab = Vocabulary.build(COUNTS, min_freq=2)
    assert vocab.tokens == [PAD, UNK, "the", "a", "b", "c"]


def test_max_size_keeps_the_most_frequent_not_counting_specials():
    vocab = Vocabulary.build(COUNTS, max_size=2)
    assert vocab.tokens == [PAD, UNK, "the", "a"]


def test_keep_retains_rare_words_below_min_freq():
    vocab = Vocabulary.build(COUNTS, min_freq=2, keep=["rare", "never-seen"])
    assert "rare" in vocab.index
    assert "odd" not in vocab.index
    assert "never-seen" not in vocab.index  # keep only rescues training words
    assert vocab.tokens == [PAD, UNK, "the", "a", "b", "c", "rare"]


def test_specials_in_the_counts_are_not_duplicated():
    vocab = Vocabulary.build(Counter({PAD: 9, UNK: 9, "x": 1}))
    assert vocab.tokens == [PAD, UNK, "x"]


def test_encode_maps_unknown_words_to_unk():
    vocab = Vocabulary.build(COUNTS)
    assert vocab.encode(["the", "zebra", "a"]) == [2, 1, 3]


def test_encode_of_an_empty_text_is_one_unk():
    assert Vocabulary.build(COUNTS).encode([]) == [1]


def test_constructor_checks_specials_and_uniqueness():
    with pytest.raises(ValueError):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError):
        Vocabulary([PAD, UNK, "a", "a"])


def test_equality_and_hash_follow_the_tokens():
    a, b = Vocabulary.build(COUNTS), Vocabulary.build(Counter(COUNTS))
    assert a == b and hash(a) == hash(b)
    assert a != Vocabulary.build(COUNTS, min_freq=2)

import pytest

from textclf.tokenize import Tokenizer


def test_basic_lowercases_and_splits_punctuation():
    assert Tokenizer()("Don't stop!") == ["don't", "stop", "!"]
    assert Tokenizer("basic")("A re-imagining, of Beauty.") == ["a", "re-imagining", ",", "of", "beauty", "."]


def test_cased_keeps_case_and_splits_the_same_way():
    assert Tokenizer("cased")("Don't stop, NASA!") == ["Don't", "stop", ",", "NASA", "!"]


def test_whitespace_only_splits_on_whitespace():
    assert Tokenizer("whitespace")("Don't  stop!\tNow\n") == ["Don't", "stop!", "Now"]


@pytest.mark.parametrize("mode", ["basic", "cased"])
def test_combining_marks_stay_with_their_letter(mode):
    """Vowel signs, vowel points and decomposed accents are not punctuation: the word stays one token."""
    assert Tokenizer(mode)("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert Tokenizer(mode)("שָׁלוֹם, cafe\u0301!") == ["שָׁלוֹם", ",", "cafe\u0301", "!"]
    assert Tokenizer(mode)("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == [
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    ]
    assert Tokenizer("basic")("İstanbul") == ["i\u0307stanbul"]  # "İ".lower() is i + U+0307


def test_empty_text_has_no_tokens():
    assert Tokenizer()("   ") == []


@pytest.mark.parametrize("mode", ["basic", "cased", "whitespace"])
def test_max_length_keeps_the_first_tokens_in_call_and_batch(mode):
    tokenizer = Tokenizer(mode, max_length=3)
    texts = ["one two three four five", "a b", "x , y . z"]
    single = [tokenizer(text) for text in texts]
    assert single == tokenizer.batch(texts)
    assert single[0] == ["one", "two", "three"]
    assert single[1] == ["a", "b"]
    assert all(len(tokens) <= 3 for tokens in single)


def test_no_max_length_keeps_everything():
    text = " ".join(["w"] * 1000)
    assert len(Tokenizer()(text)) == 1000


def test_dict_round_trip():
    tokenizer = Tokenizer("cased", max_length=7)
    settings = tokenizer.to_dict()
    assert settings == {"mode": "cased", "max_length": 7}
    restored = Tokenizer.from_dict(settings)
    assert restored == tokenizer
    assert restored("Hello World") == ["Hello", "World"]


def test_invalid_mode_is_a_value_error():
    with pytest.raises(ValueError, match="unknown tokenizer mode"):
        Tokenizer("spacy")  # type: ignore[arg-type]


def test_invalid_max_length_is_a_value_error():
    with pytest.raises(ValueError, match="max_length"):
        Tokenizer(max_length=0)

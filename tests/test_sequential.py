"""Context heads and sequential classification (Lee & Dernoncourt 2016): equations, boundaries, windows, online."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from factories import TINY_VOCAB, quiet_trainer, tiny_model

from textclf import FeedForwardContext, NoContext, OnlinePredictor, RNNContext, TextClassifier
from textclf.context import segment_positions, shifted
from textclf.data.batching import TokenIdsDataset
from textclf.data.groups import Windowing, cut_windows, group_codes, window_dataset
from textclf.errors import TextclfError

VOCAB = [*TINY_VOCAB, "okay", "so", "yeah", "what", "why", "right", "uh", "huh"]
WORDS = VOCAB[2:]


def texts_of(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 6)))) for _ in range(count)]


def context_model(context: Any, seed: int = 0, **options: Any) -> TextClassifier:
    return tiny_model(VOCAB, labels=("a", "b", "c"), seed=seed, context=context, dropout=0.0, embedding_dropout=0.0,
                      **options).eval()  # fmt: skip


def reference_feedforward(head: FeedForwardContext, vectors: torch.Tensor, groups: list[int]) -> torch.Tensor:
    """The paper's equations, text by text in a Python loop: zero vectors before each group's start."""
    rows = []
    y_cache: dict[int, torch.Tensor] = {}

    def s(j: int, i: int) -> torch.Tensor:
        return vectors[j] if j >= 0 and groups[j] == groups[i] else torch.zeros_like(vectors[0])

    def y(j: int) -> torch.Tensor:
        if j not in y_cache:
            y_cache[j] = torch.tanh(head.first(torch.cat([s(j - d, j) for d in range(head.d1 + 1)])))
        return y_cache[j]

    for i in range(len(vectors)):
        ys = [y(i - d) if i - d >= 0 and groups[i - d] == groups[i] else torch.zeros_like(y(i)) for d in
              range(head.d2 + 1)]  # fmt: skip
        rows.append(head.second(torch.cat(ys)))
    return torch.stack(rows)


# ---- the heads --------------------------------------------------------------------------------------------------


def test_segment_positions_and_shift() -> None:
    segments = torch.tensor([4, 4, 4, 7, 9, 9])
    index, position, lengths = segment_positions(segments)
    assert index.tolist() == [0, 0, 0, 1, 2, 2]
    assert position.tolist() == [0, 1, 2, 0, 0, 1]
    assert lengths.tolist() == [3, 1, 2]
    x = torch.arange(6.0).unsqueeze(1)
    assert shifted(x, segments, 1).squeeze(1).tolist() == [0, 0, 1, 0, 0, 4]  # never from another segment
    assert shifted(x, segments, 2).squeeze(1).tolist() == [0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(("d1", "d2"), [(0, 0), (1, 0), (0, 2), (2, 1), (2, 2)])
def test_feedforward_is_the_papers_equations(d1: int, d2: int) -> None:
    torch.manual_seed(d1 * 3 + d2)
    head = FeedForwardContext(d1, d2)
    head.build(4, 3)
    vectors = torch.randn(9, 4)
    groups = [0, 0, 0, 0, 1, 1, 2, 2, 2]
    got = head(vectors, torch.tensor(groups))
    assert got.shape == (9, 3)
    torch.testing.assert_close(got, reference_feedforward(head, vectors, groups))


def test_feedforward_hidden_size_defaults_to_the_number_of_classes() -> None:
    head = FeedForwardContext(2, 1)
    head.build(10, 5)
    assert head.first.weight.shape == (5, 30) and head.second.weight.shape == (5, 10)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_context_reads_its_segment_only(bidirectional: bool) -> None:
    torch.manual_seed(0)
    head = RNNContext(hidden_size=6, bidirectional=bidirectional).eval()
    head.build(4, 3)
    vectors = torch.randn(7, 4)
    segments = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    together = head(vectors, segments)
    torch.testing.assert_close(together[:3], head(vectors[:3], segments[:3]))
    torch.testing.assert_close(together[3:], head(vectors[3:], segments[3:]))
    if not bidirectional:  # causal: a text's output ignores the texts after it
        torch.testing.assert_close(together[:2], head(vectors[:2], segments[:2]))


@pytest.mark.parametrize(("options", "message"), [
    ({"d1": -1}, "d1 must be an integer >= 0"), ({"d2": 1.5}, "d2 must be an integer >= 0"),
    ({"hidden_size": 0}, "hidden_size must be a positive integer"),
])  # fmt: skip
def test_feedforward_refuses_bad_settings(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TextclfError, match=message):
        FeedForwardContext(**options)


@pytest.mark.parametrize(("options", "message"), [
    ({"num_layers": 10**6}, "num_layers must be a positive integer <= 16"),
    ({"bidirectional": "false"}, "bidirectional must be true or false"), ({"dropout": 1.0}, "dropout must be"),
])  # fmt: skip
def test_rnn_context_refuses_bad_settings(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TextclfError, match=message):
        RNNContext(**options)


@pytest.mark.parametrize(("options", "message"), [
    ({"window": 0}, "window must be an integer from 1 to 100,000"),
    ({"window": 10**20}, "window must be an integer from 1 to 100,000"),
    ({"history": 10**6}, "history must be an integer from 0 to 100,000"),
])  # fmt: skip
def test_window_and_history_are_bounded(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TextclfError, match=message):
        context_model(RNNContext(hidden_size=4), **options)


def test_history_below_d1_plus_d2_is_refused() -> None:
    with pytest.raises(TextclfError, match=r"history \(1\) must be at least d1 \+ d2 = 3"):
        context_model(FeedForwardContext(2, 1), history=1)


# ---- the model --------------------------------------------------------------------------------------------------


def test_no_context_equals_the_plain_classifier_on_the_same_weights() -> None:
    plain = tiny_model(VOCAB, labels=("a", "b", "c"), seed=0).eval()
    sequential = context_model(NoContext())
    state = {k.replace("head.", "head.linear."): v for k, v in plain.state_dict().items()}
    sequential.load_state_dict(state)
    texts = texts_of(12)
    np.testing.assert_allclose(sequential.predict_proba(texts, groups=[i % 3 for i in range(12)]),
                               plain.predict_proba(texts), atol=1e-6)  # fmt: skip


def test_d1_d2_zero_classifies_every_text_alone() -> None:
    model = context_model(FeedForwardContext(0, 0))
    texts = texts_of(10)
    alone = model.predict_proba(texts, groups=list(range(10)))  # every text its own group
    np.testing.assert_allclose(model.predict_proba(texts), alone, atol=1e-6)  # all one group


@pytest.mark.parametrize("context", [FeedForwardContext(2, 1), RNNContext(hidden_size=4),
                                     RNNContext(hidden_size=4, bidirectional=True)])  # fmt: skip
def test_changing_group_a_never_changes_group_b(context: Any) -> None:
    model = context_model(context, window=3)
    texts = texts_of(14)
    groups = ["A", "B"] * 7  # interleaved in the input
    before = model.predict_proba(texts, groups=groups)
    changed = [t if g == "B" else "why why why" for t, g in zip(texts, groups, strict=True)]
    after = model.predict_proba(changed, groups=groups)
    b = np.array(groups) == "B"
    np.testing.assert_allclose(after[b], before[b], atol=1e-6)
    assert not np.allclose(after[~b], before[~b])


def test_first_texts_get_zero_context() -> None:
    model = context_model(FeedForwardContext(2, 1))
    texts = texts_of(6)
    head: FeedForwardContext = model.head  # type: ignore[assignment]
    with torch.no_grad():
        batch = TokenIdsDataset.from_lists([model.vocab.encode(model.tokenizer(t)) for t in texts]).__getitems__(
            list(range(6)))  # fmt: skip
        vectors = model.encoder(model.embedding(batch["token_ids"]), batch["lengths"])
        expected = torch.softmax(reference_feedforward(head, vectors, [0] * 6), dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(texts), expected, atol=1e-5)


def test_order_puts_texts_in_sequence_and_results_come_back_in_input_order() -> None:
    model = context_model(FeedForwardContext(1, 1))
    texts = texts_of(8)
    in_order = model.predict_proba(texts, groups=[0] * 8)
    reverse = list(range(8))[::-1]
    shuffled = model.predict_proba([texts[i] for i in reverse], groups=[0] * 8, order=reverse)
    np.testing.assert_allclose(shuffled, in_order[reverse], atol=1e-6)
    with pytest.raises(TextclfError, match="order must be finite numbers, got 'x'"):
        model.predict_proba(texts[:2], order=[1, "x"])
    with pytest.raises(TextclfError, match="8 texts but 3 groups"):
        model.predict_proba(texts, groups=[0, 0, 1])


def test_orders_past_2_to_the_53_keep_their_exact_order() -> None:
    model = context_model(FeedForwardContext(1, 1))
    texts = texts_of(2)
    small = model.predict_proba(texts, order=[2, 1])  # nanosecond timestamps differ past float64's 53 bits
    np.testing.assert_allclose(model.predict_proba(texts, order=[2**60 + 2, 2**60 + 1]), small, atol=1e-6)
    assert not np.allclose(model.predict_proba(texts, order=[1, 2]), small)
    with pytest.raises(TextclfError, match="order must be finite numbers, got True"):
        model.predict_proba(texts, order=[True, False])


def test_windows_give_the_whole_group_result_for_feedforward() -> None:
    texts, groups = texts_of(40), [i // 17 for i in range(40)]
    whole = context_model(FeedForwardContext(2, 2), window=1000).predict_proba(texts, groups=groups)
    windowed = context_model(FeedForwardContext(2, 2), window=3).predict_proba(texts, groups=groups)
    np.testing.assert_allclose(windowed, whole, atol=1e-6)


def test_one_encoder_call_per_batch_of_windows() -> None:
    model = context_model(FeedForwardContext(1, 1), window=4)
    calls: list[int] = []
    model.encoder.register_forward_hook(lambda module, args, out: calls.append(len(out)))
    model.predict_proba(texts_of(30), groups=[i // 10 for i in range(30)], batch_size=1000)
    assert calls == [30 + 3 * 2 * 2]  # in each group of 10, windows 2 and 3 also read 2 texts of history


@pytest.mark.parametrize("context", [FeedForwardContext(2, 1), RNNContext(hidden_size=4)])
def test_online_equals_batch_prediction(context: Any) -> None:
    model = context_model(context, window=4, history=3)
    texts, groups = texts_of(25), [("x", "y")[i % 3 == 0] for i in range(25)]
    batch = model.predict_proba(texts, groups=groups)
    online = OnlinePredictor(model)
    streamed = np.stack([online.push(g, t) for t, g in zip(texts, groups, strict=True)])
    np.testing.assert_allclose(streamed, batch, atol=1e-5)


def test_online_forgets_an_ended_group() -> None:
    model = context_model(FeedForwardContext(1, 0))
    online = OnlinePredictor(model)
    first = online.push("a", "good film")
    online.push("a", "bad film")
    online.end("a")
    np.testing.assert_allclose(online.push("a", "good film"), first, atol=1e-6)  # a new conversation "a"


def test_online_refuses_a_bidirectional_context() -> None:
    with pytest.raises(TextclfError, match="causal"):
        OnlinePredictor(context_model(RNNContext(hidden_size=4, bidirectional=True)))


def test_plain_model_refuses_groups_and_context_model_refuses_the_plain_loop() -> None:
    from textclf.inference import predict_proba

    with pytest.raises(TextclfError, match="only a model with a context head reads groups"):
        tiny_model(VOCAB).predict_proba(["good"], groups=[1])
    with pytest.raises(TextclfError, match="context head"):
        predict_proba(context_model(FeedForwardContext()), ["good"])


# ---- windows ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("window", "before", "after"), [(1, 0, 0), (3, 2, 0), (4, 1, 1), (50, 5, 5)])
def test_every_text_is_scored_once_and_reads_its_own_group(window: int, before: int, after: int) -> None:
    groups = group_codes(["a"] * 7 + ["b"] * 1 + ["c"] * 10)
    windows = cut_windows(groups, Windowing(window, before, after))
    scored = np.concatenate([np.arange(s, e) for _, s, e, _ in windows])
    assert sorted(scored.tolist()) == list(range(18))
    for read_start, start, end, read_end in windows:
        assert groups[read_start] == groups[read_end - 1] == groups[start]
        assert start - read_start <= before and read_end - end <= after and end - start <= window


def test_window_batches_flag_scored_rows_and_segments() -> None:
    texts = TokenIdsDataset.from_lists([[2]] * 6, targets=[0, 1, 2, 0, 1, 2])
    data = window_dataset(texts, group_codes([0, 0, 0, 0, 1, 1]), Windowing(2, 1, 0))
    batch = data.__getitems__(list(range(len(data))))
    assert batch["index"].tolist() == [0, 1, 1, 2, 3, 4, 5]
    assert batch["scored"].tolist() == [True, True, False, True, True, True, True]
    assert batch["segments"].tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_groups_must_be_consecutive() -> None:
    with pytest.raises(TextclfError, match="group 'a' are not consecutive"):
        group_codes(["a", "b", "a"])


# ---- training and checkpoints -----------------------------------------------------------------------------------


def test_fit_checkpoint_predict_round_trip(tmp_path: Path) -> None:
    from factories import write_vectors

    from textclf.data.base import TextDataModule
    from textclf.data.splits import LabelledSplit

    class Dialogues(TextDataModule):
        def read_splits(self) -> dict[str, LabelledSplit]:
            rng = np.random.default_rng(0)
            splits = {}
            for name, count in (("train", 20), ("val", 4), ("test", 4)):
                texts, labels, meta = [], [], {"group": []}
                for g in range(count):
                    for _ in range(int(rng.integers(3, 9))):
                        label = str(rng.choice(["pos", "neg"]))
                        texts.append("good film" if label == "pos" else "bad film")
                        labels.append(label)
                        meta["group"].append(f"{name}{g}")
                splits[name] = LabelledSplit(texts, labels, name, meta=meta)
            return splits

        def fingerprint(self) -> dict[str, Any]:
            return {"dialogues": 1}

    data = Dialogues(vectors=str(write_vectors(tmp_path / "v.txt")), cache_dir=str(tmp_path / "cache"), batch_size=8)
    from textclf import RNNEncoder

    model = TextClassifier.for_data(data, RNNEncoder(hidden_size=6), context=FeedForwardContext(1, 1), window=5,
                                    optimizer=lambda params: torch.optim.Adam(params, lr=0.05))  # fmt: skip
    trainer = quiet_trainer(max_epochs=4, enable_checkpointing=True, default_root_dir=str(tmp_path))
    trainer.fit(model, datamodule=data)
    scores = trainer.test(model, datamodule=data, verbose=False)[0]
    assert scores["test/acc"] > 0.9
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    loaded = TextClassifier.load_from_checkpoint(path)
    assert loaded.windowing == model.windowing and isinstance(loaded.head, FeedForwardContext)
    texts, groups = ["good film", "bad film", "good film"], [1, 1, 2]
    np.testing.assert_allclose(loaded.predict_proba(texts, groups=groups),
                               model.eval().predict_proba(texts, groups=groups), atol=1e-6)  # fmt: skip
    assert loaded.predict(texts, groups=groups) == ["pos", "neg", "pos"]
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["textclf"]["context"]["class_path"] == "textclf.context.FeedForwardContext"
    checkpoint["textclf"]["context"]["class_path"] = "os.system"
    torch.save(checkpoint, tmp_path / "hostile.ckpt")
    with pytest.raises(TextclfError, match=r"unknown context head 'os\.system' .*textclf\.context\.RNNContext"):
        TextClassifier.load_from_checkpoint(tmp_path / "hostile.ckpt")
    checkpoint["textclf"]["context"]["class_path"] = "textclf.RNNContext"
    checkpoint["textclf"]["context"]["init_args"] = {"dropout": "x"}
    torch.save(checkpoint, tmp_path / "bad_args.ckpt")
    with pytest.raises(TextclfError, match="its context head: RNNContext: dropout must be a number"):
        TextClassifier.load_from_checkpoint(tmp_path / "bad_args.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["textclf"]["model"]["window"] = 10**30  # would overflow the window arithmetic
    torch.save(checkpoint, tmp_path / "huge_window.ckpt")
    with pytest.raises(TextclfError, match=r"model\.window is 10+, not an integer from 1 to 100,000"):
        TextClassifier.load_from_checkpoint(tmp_path / "huge_window.ckpt")

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from factories import quiet_trainer, tiny_data, tiny_model, write_csv

from textclf import FileDataModule, RNNEncoder, TextClassifier, TextclfError, Tokenizer, Vocabulary, WordEmbedding
from textclf.checkpoint import build_model, model_config
from textclf.embedding import EmbeddingMode


@pytest.mark.parametrize("mode", ["static", "non-static", "multichannel", "random"])
def test_embedding_modes_keep_pad_zero_and_freeze_what_they_promise(mode: EmbeddingMode) -> None:
    pretrained = torch.randn(5, 4)
    embedding = WordEmbedding(5, 4, mode=mode, pretrained=pretrained)
    out = embedding(torch.tensor([[2, 3, 0]]))
    assert out.shape == (1, 3, 8 if mode == "multichannel" else 4)
    assert torch.all(out[0, 2] == 0)
    if mode != "static":
        out.sum().backward()
    trainable = [p for p in embedding.parameters() if p.requires_grad]
    assert len(trainable) == {"static": 0, "non-static": 1, "multichannel": 1, "random": 1}[mode]
    for p in trainable:
        assert torch.all(p.grad[0] == 0)
    if mode == "non-static":  # a trained row: the vector itself
        assert torch.equal(out[0, 0], pretrained[2])
    if mode == "static":  # the frozen channel is every word's input: kept float32, the vector itself
        assert torch.equal(out[0, 0], pretrained[2])
    if mode == "non-static":  # rows no training text reads: rounded to float16 once, when the model is built
        untrained = WordEmbedding(5, 4, mode=mode, pretrained=pretrained, trained_rows=3)
        assert torch.equal(untrained(torch.tensor([[4]]))[0, 0], pretrained[4].half().float())
    if mode == "random":
        assert not torch.allclose(out[0, 0], pretrained[2])


def test_dimension_is_stated_once() -> None:
    with pytest.raises(TextclfError, match=r"embedding_dim is 7 but the pretrained vectors have dimension 6"):
        tiny_model(embedding_mode="non-static", pretrained_embeddings=torch.randn(5, 6), embedding_dim=7)
    with pytest.raises(TextclfError, match=r"set model\.embedding_dim"):
        tiny_model(embedding_dim=None)
    model = tiny_model(embedding_mode="non-static", pretrained_embeddings=torch.randn(5, 6), embedding_dim=None)
    assert model.embedding_dim == 6


def test_class_weights_list_dict_and_errors() -> None:
    assert tiny_model(class_weights=[1.0, 3.0]).loss_weight.tolist() == [1.0, 3.0]
    assert tiny_model(class_weights={"pos": 2.0}).loss_weight.tolist() == [1.0, 2.0]
    with pytest.raises(TextclfError, match="unknown labels"):
        tiny_model(class_weights={"maybe": 2.0})
    with pytest.raises(TextclfError, match="3 values for 2 classes"):
        tiny_model(class_weights=[1.0, 2.0, 3.0])


def test_padding_does_not_change_logits() -> None:
    model = tiny_model().eval()
    alone = model(torch.tensor([[2, 4]]), torch.tensor([2]))
    padded = model(torch.tensor([[2, 4, 0, 0, 0], [3, 3, 4, 2, 4]]), torch.tensor([2, 5]))
    assert torch.allclose(alone[0], padded[0], atol=1e-6)


def test_predict_keeps_input_order_and_handles_empty_texts() -> None:
    model = tiny_model()
    texts = ["good film " * 7, "bad", "", "film good bad", "good"]
    probs = model.predict_proba(texts)
    assert probs.shape == (5, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    for i, text in enumerate(texts):  # each row equals the text predicted on its own
        np.testing.assert_allclose(model.predict_proba([text])[0], probs[i], atol=1e-6)
    assert model.predict(texts) == [model.labels[i] for i in probs.argmax(axis=1)]
    with pytest.raises(TypeError):
        model.predict_proba("one string")


def test_truncation_applies_at_prediction_too() -> None:
    model = tiny_model(tokenizer=Tokenizer("basic", max_length=2))
    np.testing.assert_allclose(
        model.predict_proba(["good bad film film"]), model.predict_proba(["good bad"]), atol=1e-6
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TextClassifier, Path, FileDataModule]:
    root = tmp_path_factory.mktemp("trained")
    data = tiny_data(root, rows=60)
    model = TextClassifier.for_data(
        data,
        RNNEncoder(cell="gru", hidden_size=6, pooling="last"),
        embedding_mode="multichannel",
        optimizer=partial(torch.optim.Adam, lr=0.01),
        class_weights="balanced",
    )
    trainer = quiet_trainer(2, enable_checkpointing=True, default_root_dir=root)
    trainer.fit(model, data)
    path = root / "model.ckpt"
    trainer.save_checkpoint(path)
    return model, path, data


def test_checkpoint_is_self_contained_and_plain(trained: tuple[TextClassifier, Path, FileDataModule]) -> None:
    model, path, data = trained
    checkpoint = torch.load(path, weights_only=True)  # raises on any pickled object
    config = checkpoint["textclf"]
    assert config["format_version"] == 2
    assert config["vocab"] == data.vocab.tokens
    assert config["labels"] == ["neg", "pos"]
    assert config["encoder"]["init_args"]["cell"] == "gru"
    loaded = TextClassifier.load_from_checkpoint(path)
    texts = ["good film", "awful boring plot", "the acting was superb", ""]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.cpu().predict_proba(texts), atol=1e-6)
    assert loaded.embedding_mode == "multichannel"


def test_balanced_class_weights_come_from_training_counts(trained: tuple[TextClassifier, Path, FileDataModule]) -> None:
    model, _, data = trained
    counts = torch.tensor(data.label_counts, dtype=torch.float32)
    assert torch.allclose(model.loss_weight.cpu(), counts.sum() / (2 * counts))


def test_bad_checkpoints_fail_clearly(tmp_path: Path, trained: tuple[TextClassifier, Path, FileDataModule]) -> None:
    with pytest.raises(TextclfError, match="checkpoint not found"):
        TextClassifier.load_from_checkpoint(tmp_path / "nope.ckpt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(TextclfError, match="not a readable checkpoint"):
        TextClassifier.load_from_checkpoint(garbage)
    checkpoint = torch.load(trained[1], weights_only=True)
    checkpoint["textclf"]["format_version"] = 99
    future = tmp_path / "future.ckpt"
    torch.save(checkpoint, future)
    with pytest.raises(TextclfError, match="format version 99"):
        TextClassifier.load_from_checkpoint(future)
    del checkpoint["textclf"]
    torch.save(checkpoint, future)
    with pytest.raises(TextclfError, match="not a textclf checkpoint"):
        TextClassifier.load_from_checkpoint(future)


def test_static_mode_without_vectors_is_refused_at_fit(tmp_path: Path) -> None:
    data = FileDataModule(str(write_csv(tmp_path / "t.csv")), cache_dir=str(tmp_path / "c"))
    model = TextClassifier.for_data(data, RNNEncoder(hidden_size=4), embedding_mode="static", embedding_dim=8)
    trainer = quiet_trainer()
    with pytest.raises(TextclfError, match="needs pretrained vectors"):
        trainer.fit(model, data)


def test_words_added_from_vectors_keep_their_vectors_and_stay_out_of_the_optimizer() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "good", "bad", "zebra", "quokka"], trained_size=4)
    pretrained = torch.randn(6, 4)
    model = TextClassifier(RNNEncoder(hidden_size=3), vocab=vocab, labels=["a", "b"], pretrained_embeddings=pretrained)
    trainable = sum(p.numel() for p in model.embedding.parameters() if p.requires_grad)
    assert trainable == 4 * 4
    out = model.embedding(torch.tensor([[2, 5, 0, 4]]))
    rounded = pretrained.half().float()  # the frozen rows are kept as float16
    assert torch.equal(out[0, 0], pretrained[2]) and torch.equal(out[0, 1], rounded[5])
    assert torch.equal(out[0, 3], rounded[4]) and torch.all(out[0, 2] == 0)
    assert model_config(model)["vocab_trained_size"] == 4
    rebuilt = build_model(TextClassifier, model_config(model))
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.vocab == vocab
    assert torch.allclose(rebuilt.embedding(torch.tensor([[5, 2]])), model.embedding(torch.tensor([[5, 2]])))

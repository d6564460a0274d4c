"""Fine-tuning from a checkpoint: vocabulary kept or extended, weights copied by token, freezing, body learning rate."""

from __future__ import annotations

import math
import re
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch
from factories import QUIET_TRAINER_ARGS, RECIPES, quiet_trainer, sentiment_rows, tiny_data, write_csv, write_vectors

from textclf import BagOfEmbeddingsEncoder, FileDataModule, RNNEncoder, TextClassifier, TextclfError, Vocabulary
from textclf.cli import main
from textclf.finetune import BackboneFreeze
from textclf.vocab import merge_vocabularies

NEW_WORDS = ["zebra", "quokka"]  # in the new corpus only; 'zebra' has a vector, 'quokka' none


def write_new_corpus(path: Path, labels: tuple[str, str] = ("neg", "pos"), rows: int = 30) -> Path:
    """A corpus like write_csv's, plus two words the first corpus never had."""
    source = enumerate(sentiment_rows(rows, seed=3))
    return write_csv(
        path,
        ([f"{text} {NEW_WORDS[i % 2]}", labels[0] if label == "neg" else labels[1]] for i, (text, label) in source),
    )


def initialised(model: TextClassifier) -> TextClassifier:
    """The model after the hook that copies init_from's weights, as it runs when training starts."""
    model.setup("fit")
    return model


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint trained on write_csv's corpus (labels neg/pos, basic tokenizer, 8-d vectors, GRU encoder)."""
    root = tmp_path_factory.mktemp("base")
    data = tiny_data(root, rows=40)
    model = TextClassifier.for_data(data, RNNEncoder(cell="gru", hidden_size=6, pooling="max"))
    fitted = quiet_trainer(default_root_dir=root)
    fitted.fit(model, data)
    path = root / "base.ckpt"
    fitted.save_checkpoint(path)
    return path


def new_data(root: Path, checkpoint: Path | None, **kwargs) -> FileDataModule:
    options = {"vectors": str(write_vectors(root / "vectors.txt")), "batch_size": 8, "cache_dir": str(root / "c")}
    labels = kwargs.pop("labels_in_file", ("neg", "pos"))
    train = root / f"new-{labels[0]}.csv"  # written once: rewriting it would change the cache key of earlier modules
    if not train.exists():
        write_new_corpus(train, labels)
    options.update(kwargs)
    return FileDataModule(str(train), init_vocab_from=str(checkpoint) if checkpoint else None, **options)


def test_merge_keeps_every_base_token_and_makes_new_training_words_trainable() -> None:
    base = Vocabulary(["<pad>", "<unk>", "good", "bad", "zebra"], trained_size=4)  # zebra: from a vectors file
    own = Vocabulary(["<pad>", "<unk>", "zebra", "good", "quokka", "yak"], trained_size=5)  # yak: from vectors
    merged = merge_vocabularies(base, own)
    assert merged.tokens == ["<pad>", "<unk>", "good", "bad", "zebra", "quokka", "yak"]
    assert merged.trained_size == 6


def test_data_module_keeps_or_extends_the_checkpoint_vocabulary(tmp_path: Path, base: Path) -> None:
    old = TextClassifier.load_from_checkpoint(base).vocab
    kept = new_data(tmp_path, base, extend_vocab=False)
    assert kept.vocab == old and kept.tokenizer.mode == "basic"
    extended = new_data(tmp_path, base)
    assert extended.vocab.tokens[: old.trained_size] == old.tokens[: old.trained_size]
    assert set(NEW_WORDS) <= set(extended.vocab.tokens[: extended.vocab.trained_size])
    assert kept.split("train").ids.max() < len(old)  # the kept vocabulary numericalised it (new words -> <unk>)
    assert extended._cache_path() != kept._cache_path() != new_data(tmp_path, None)._cache_path()


def test_tokenizer_follows_the_checkpoint_and_another_one_is_refused(tmp_path: Path, base: Path) -> None:
    with pytest.raises(
        TextclfError, match=rf"'whitespace' but {re.escape(str(base))} was trained with the 'basic' tokenizer"
    ):
        new_data(tmp_path, base, tokenizer="whitespace").prepare()  # read on first use, never in __init__
    assert new_data(tmp_path, base, tokenizer="basic").tokenizer.mode == "basic"


def test_weights_are_copied_by_token_and_the_head_continues_for_the_same_labels(tmp_path: Path, base: Path) -> None:
    old = TextClassifier.load_from_checkpoint(base)
    data = new_data(tmp_path, base, labels=["pos", "neg"])  # the same label set, in another order
    model = initialised(TextClassifier.for_data(data, dropout=0.3))  # init_from, encoder: from the checkpoint
    assert model.init_from == str(base) and isinstance(model.encoder, RNNEncoder) and model.encoder.cell == "gru"
    for word in ["good", "awful", "the", "<unk>"]:
        assert torch.equal(
            model.embedding(torch.tensor([model.vocab.index[word]])),
            old.embedding(torch.tensor([old.vocab.index[word]])),
        )
    assert torch.equal(model.embedding(torch.tensor([0])), torch.zeros(1, 8))
    zebra = model.vocab.index["zebra"]  # a new word with a vector: the vectors file's row
    assert torch.equal(model.embedding(torch.tensor([zebra]))[0], data.embeddings[zebra])
    for key, value in old.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value)
    assert torch.equal(model.head.weight, old.head.weight.flip(0)) and torch.equal(
        model.head.bias, old.head.bias.flip(0)
    )
    texts = ["a good and lovely film", "an awful boring plot"]
    assert torch.allclose(
        torch.tensor(model.predict_proba(texts)), torch.tensor(old.predict_proba(texts)).flip(1), atol=1e-6
    )


def test_other_labels_get_a_new_head_and_words_without_vectors_the_documented_init(tmp_path: Path, base: Path) -> None:
    old = TextClassifier.load_from_checkpoint(base)
    data = new_data(tmp_path, base, vectors=None, labels_in_file=("negative", "positive"))
    assert data.labels == ["negative", "positive"]
    model = initialised(TextClassifier.for_data(data))
    assert not torch.equal(model.head.weight, old.head.weight)
    quokka = model.embedding(torch.tensor([model.vocab.index["quokka"]]))
    a = math.sqrt(3.0) * float(old.embedding.full_table("tuned")[2:].std())
    assert 0 < float(quokka.abs().max()) <= a
    assert torch.equal(
        model.embedding(torch.tensor([model.vocab.index["good"]])),
        old.embedding(torch.tensor([old.vocab.index["good"]])),
    )


def test_incompatible_or_unreadable_checkpoints_fail_with_one_line_naming_them(tmp_path: Path, base: Path) -> None:
    data = new_data(tmp_path, base)
    options = {
        "vocab": data.vocab,
        "labels": data.labels,
        "pretrained_embeddings": data.embeddings,
        "init_from": str(base),
    }

    def encoder() -> RNNEncoder:  # the checkpoint's settings
        return RNNEncoder(cell="gru", hidden_size=6, pooling="max")

    with pytest.raises(
        TextclfError,
        match=rf"{re.escape(str(base))}: its encoder .* does not fit model.encoder: .* is \(18.*there, \(12.* here",
    ):
        initialised(TextClassifier(RNNEncoder(cell="gru", hidden_size=4), **options))
    with pytest.raises(
        TextclfError, match=rf"{re.escape(str(base))} has encoder textclf.encoders.RNNEncoder\(cell=gru"
    ):
        initialised(TextClassifier(BagOfEmbeddingsEncoder(), **options))
    with pytest.raises(
        TextclfError, match=rf"{re.escape(str(base))} has 8-dimensional word vectors but this model's are 4-dimensional"
    ):
        initialised(TextClassifier(encoder(), **{**options, "pretrained_embeddings": torch.randn(len(data.vocab), 4)}))
    with pytest.raises(TextclfError, match=r"embedding_mode 'non-static'.*'multichannel' gives 16"):
        initialised(TextClassifier(encoder(), **{**options, "embedding_mode": "multichannel"}))
    checkpoint = torch.load(base, weights_only=True)
    checkpoint["textclf"]["format_version"] = 7
    torch.save(checkpoint, future := tmp_path / "future.ckpt")
    with pytest.raises(TextclfError, match=rf"{re.escape(str(future))}: checkpoint format version 7 is not supported"):
        initialised(TextClassifier(encoder(), **{**options, "init_from": str(future)}))
    with pytest.raises(TextclfError, match=rf"{re.escape(str(future))}: checkpoint format version 7"):
        new_data(tmp_path, future).prepare()
    (garbage := tmp_path / "garbage.ckpt").write_bytes(b"\x00 not a checkpoint")
    with pytest.raises(TextclfError, match=rf"{re.escape(str(garbage))}: not a readable checkpoint"):
        new_data(tmp_path, garbage).prepare()
    with pytest.raises(TextclfError, match="checkpoint not found"):
        initialised(TextClassifier(encoder(), **{**options, "init_from": str(tmp_path / "missing.ckpt")}))


class Snapshots(L.Callback):
    """Copies of the body and head parameters at the start and after each training epoch."""

    def __init__(self) -> None:
        self.body: list[dict[str, torch.Tensor]] = []
        self.head: list[torch.Tensor] = []

    def _take(self, model: TextClassifier) -> None:
        self.body.append(
            {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith(("embedding.", "encoder."))}
        )
        self.head.append(model.head.weight.detach().clone())

    def on_train_start(self, trainer: L.Trainer, model: TextClassifier) -> None:
        self._take(model)

    def on_train_end(self, trainer: L.Trainer, model: TextClassifier) -> None:
        self.in_optimizer = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}

    def on_train_epoch_end(self, trainer: L.Trainer, model: TextClassifier) -> None:
        self._take(model)


def test_frozen_backbone_stays_put_for_n_epochs_then_trains(tmp_path: Path, base: Path) -> None:
    data = new_data(tmp_path, base)
    model = TextClassifier.for_data(data, freeze_backbone_epochs=2, optimizer=partial(torch.optim.Adam, lr=0.01))
    snapshots = Snapshots()
    quiet_trainer(3, default_root_dir=tmp_path, callbacks=[snapshots]).fit(model, data)
    body = [n for n, p in model.named_parameters() if n.startswith(("embedding.", "encoder."))]
    assert {id(p) for n, p in model.named_parameters() if n in body} <= snapshots.in_optimizer
    for epoch in (1, 2):  # frozen during epochs 0 and 1; the head trains
        assert all(torch.equal(snapshots.body[epoch][n], snapshots.body[0][n]) for n in body)
        assert not torch.equal(snapshots.head[epoch], snapshots.head[epoch - 1])
    assert all(not torch.equal(snapshots.body[3][n], snapshots.body[2][n]) for n in body)  # epoch 2 trains them
    assert all(p.requires_grad for n, p in model.named_parameters() if n in body)


def test_backbone_learning_rate_is_scaled_through_parameter_groups(tmp_path: Path, base: Path) -> None:
    data = new_data(tmp_path, base)
    model = TextClassifier.for_data(data, backbone_lr_scale=0.1, optimizer=partial(torch.optim.SGD, lr=0.5))
    fitted = quiet_trainer(default_root_dir=tmp_path)
    fitted.fit(model, data)
    head, backbone = fitted.optimizers[0].param_groups
    assert backbone["lr"] == pytest.approx(0.05) and head["lr"] == 0.5
    assert {id(p) for p in head["params"]} == {id(model.head.weight), id(model.head.bias)}
    assert len(backbone["params"]) == len(
        [n for n, _ in model.named_parameters() if n.startswith(("embedding.", "encoder."))]
    )
    plain = TextClassifier.for_data(data)
    assert not any(isinstance(c, BackboneFreeze) for c in plain.configure_callbacks())
    assert len(plain.configure_optimizers().param_groups) == 1
    with pytest.raises(TextclfError, match="must be >= 0"):
        TextClassifier.for_data(data, freeze_backbone_epochs=-1)


def test_the_old_body_names_still_work_with_a_deprecation_warning(tmp_path: Path, base: Path) -> None:
    data = new_data(tmp_path, base)
    with pytest.warns(FutureWarning, match="freeze_body_epochs is deprecated.*freeze_backbone_epochs"):
        model = TextClassifier.for_data(data, freeze_body_epochs=1)
    with pytest.warns(FutureWarning, match="body_lr_scale is deprecated.*backbone_lr_scale"):
        scaled = TextClassifier.for_data(data, body_lr_scale=0.3)
    assert model.freeze_backbone_epochs == 1 and scaled.backbone_lr_scale == 0.3
    assert model.hparams["freeze_backbone_epochs"] == 1
    with pytest.raises(TextclfError, match=r"are the same setting: keep freeze_backbone"):
        TextClassifier.for_data(data, freeze_body_epochs=1, freeze_backbone_epochs=2)


def test_recipe_fine_tunes_into_a_new_run_and_never_touches_the_checkpoint(tmp_path: Path, capsys) -> None:
    vectors = write_vectors(tmp_path / "vectors.txt")
    common = [f"--data.init_args.vectors={vectors}", f"--data.init_args.cache_dir={tmp_path / 'cache'}"]
    common += ["--data.init_args.batch_size=8", "--trainer.max_epochs=1", *QUIET_TRAINER_ARGS]
    common += [f"--trainer.default_root_dir={tmp_path / 'runs'}"]
    main(
        [
            "fit",
            "-c",
            str(RECIPES / "custom" / "csv.yaml"),
            f"--data.init_args.train={write_csv(tmp_path / 'a.csv', rows=40)}",
            "--model.encoder.init_args.hidden_size=8",
            *common,
        ]
    )
    start = tmp_path / "runs" / "custom" / "csv" / "version_0" / "checkpoints" / "best.ckpt"
    before = start.read_bytes()
    finetune = [
        "fit",
        "-c",
        str(RECIPES / "custom" / "finetune_csv.yaml"),
        f"--model.init_from={start}",
        f"--data.init_args.train={write_new_corpus(tmp_path / 'b.csv', rows=40)}",
        *common,
    ]
    main(finetune)
    tuned = TextClassifier.load_from_checkpoint(
        tmp_path / "runs" / "custom" / "finetune_csv" / "version_0" / "checkpoints" / "best.ckpt"
    )
    assert "quokka" in tuned.vocab.index and set(TextClassifier.load_from_checkpoint(start).vocab.tokens) <= set(
        tuned.vocab.tokens
    )
    bad_encoder = '--model.encoder={"class_path": "textclf.RNNEncoder", "init_args": {"hidden_size": 5}}'
    into_its_folder = [
        "--overwrite=true",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={tmp_path / 'runs'}",
        "--trainer.logger.name=custom/csv",
        "--trainer.logger.version=0",
    ]
    for extra, message in ((bad_encoder, "does not fit model.encoder"), (into_its_folder, "beside")):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(finetune + ([extra] if isinstance(extra, str) else extra))
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert exit_info.value.code == 2 and last.startswith("textclf: error: ") and message in last
        assert str(start) in last
    assert start.read_bytes() == before

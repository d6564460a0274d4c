"""The ``textclf`` command: LightningCLI's fit / validate / test over recipes, plus ``predict`` on raw texts."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from textclf.data.base import TextDataModule
from textclf.errors import TextclfError
from textclf.model import TextClassifier

log = logging.getLogger("textclf")


class TextclfCLI(LightningCLI):
    """LightningCLI with the data module's vocabulary, labels, tokenizer and vectors linked into the model.

    ``fit`` also tests the best checkpoint (by the recipe's ModelCheckpoint monitor) when the data has a test
    split, and writes ``test_metrics.json`` next to it. ``fit`` and ``test`` write the evaluation report
    (:mod:`textclf.report`) into ``<run directory>/report/``, or into ``--report_dir``. A run without an
    explicit logger gets a ``CSVLogger`` under ``runs/<recipe folder>/<recipe name>/version_N``, so runs never
    overwrite each other.
    """

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(
            TextClassifier,
            TextDataModule,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            parser_kwargs={
                "description": "Train, validate and test text classifiers from recipes. To classify texts with a "
                "trained checkpoint: textclf predict CHECKPOINT [INPUT ...] (textclf predict --help); to export "
                "one for onnxruntime or TorchScript: textclf export CHECKPOINT OUTPUT_DIR (textclf export --help)."
            },
            args=args,
            **kwargs,
        )

    @classmethod
    def subcommands(cls) -> dict[str, set[str]]:
        """fit, validate and test; prediction on raw texts is ``textclf predict`` (see :mod:`textclf.predict`)."""
        return {name: keys for name, keys in LightningCLI.subcommands().items() if name != "predict"}

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Link the prepared data into the model, so each size is stated once; add ``--overwrite``."""
        parser.add_argument(
            "--overwrite", type=bool, default=False, help="allow a run to reuse a run directory that holds a run"
        )
        parser.add_argument(
            "--report_dir",
            type=str | None,
            default=None,
            help="folder for the evaluation report of fit/test (default: <run directory>/report; with "
            "--trainer.logger=false, the checkpoint's run directory)",
        )
        for source, target in (
            ("vocab", "vocab"),
            ("labels", "labels"),
            ("tokenizer", "tokenizer"),
            ("embeddings", "pretrained_embeddings"),
            ("multi_label", "multi_label"),
        ):
            parser.link_arguments("data", f"model.{target}", compute_fn=_attribute(source), apply_on="instantiate")
        # fine-tuning: the data numericalises with the vocabulary of the checkpoint the model starts from
        parser.link_arguments("model.init_from", "data.init_args.init_vocab_from", apply_on="parse")

    def before_instantiate_classes(self) -> None:
        """Give runs without an explicit logger a versioned CSVLogger named after the recipe."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        self.save_config_kwargs["overwrite"] = bool(config.get("overwrite"))
        if config.trainer.logger in (None, True):
            recipes = config.get("config") or []
            name = "textclf"
            if recipes:
                recipe = _recipe_file([Path(str(path)) for path in recipes])
                name = f"{recipe.parent.name}/{recipe.stem}" if recipe.parent.name else recipe.stem
            config.trainer.logger = Namespace(
                class_path="lightning.pytorch.loggers.CSVLogger",
                init_args=Namespace(save_dir=config.trainer.default_root_dir or "runs", name=name),
            )

    def before_fit(self) -> None:
        """Refuse to train into a run directory that already holds a run, unless ``--overwrite`` is given."""
        run_dir = Path(self.trainer.log_dir or ".")
        if self.save_config_kwargs.get("overwrite") or not run_dir.is_dir():
            return
        if (run_dir / "config.yaml").exists() or any(run_dir.glob("checkpoints/*.ckpt")):
            raise TextclfError(f"run directory {run_dir} already holds a run; pick another version or pass --overwrite")

    def after_fit(self) -> None:
        """Test the best checkpoint and write ``test_metrics.json`` into the run directory."""
        trainer, datamodule = self.trainer, self.datamodule
        if trainer.interrupted or not isinstance(datamodule, TextDataModule):
            return
        callback = trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", "") or None
        results = trainer.test(self.model, datamodule=datamodule, ckpt_path=best and "best")
        run_dir = Path(trainer.log_dir or ".")  # on every rank: under DDP, log_dir is a collective (broadcast)
        if trainer.is_global_zero and results:
            summary = {"checkpoint": best, **{k: float(v) for k, v in results[0].items()}}
            (run_dir / "test_metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
            log.info("best checkpoint: %s", best)
            log.info("test: %s", ", ".join(f"{k}={v:.4f}" for k, v in summary.items() if k != "checkpoint"))
        if results:
            self._write_report(best)

    def after_test(self) -> None:
        """Write the evaluation report of the tested checkpoint."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if not self.trainer.interrupted and isinstance(self.datamodule, TextDataModule):
            self._write_report(config.get("ckpt_path"))

    def _write_report(self, checkpoint: str | None) -> None:
        """Predict the test split once more with the tested model and write the report (rank 0 only)."""
        from textclf.report import collect_predictions, write_report

        trainer, datamodule = self.trainer, self.datamodule
        config = self.config[self.subcommand] if self.subcommand else self.config
        checkpoint = checkpoint if checkpoint and Path(checkpoint).is_file() else None
        directory: Path | None = None
        if config.get("report_dir"):
            directory = Path(config.report_dir)
        elif trainer.loggers:
            directory = Path(trainer.log_dir or ".") / "report"
        elif checkpoint:
            parent = Path(checkpoint).resolve().parent
            directory = (parent.parent if parent.name == "checkpoints" else parent) / "report"
        if not trainer.is_global_zero:
            return
        if directory is None:
            log.info("no evaluation report: no logger, no checkpoint and no --report_dir to say where it goes")
            return
        assert isinstance(datamodule, TextDataModule) and isinstance(self.model, TextClassifier)
        y_true, y_prob = collect_predictions(self.model, datamodule.split("test"), datamodule.eval_batch_size, trainer)
        extra = {"checkpoint": checkpoint}
        texts = datamodule.split_texts("test")
        write_report(directory, y_true, y_prob, datamodule.labels, texts, extra, self.model.label_thresholds())
        log.info("evaluation report: %s", directory)


def _recipe_file(configs: list[Path]) -> Path:
    """The last ``-c`` file that sets the data or the model: layers such as recipes/_base/ddp.yaml do not name runs."""
    import yaml

    for path in reversed(configs):
        try:
            content = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(content, dict) and ("data" in content or "model" in content):
            return path
    return configs[-1]


def _attribute(name: str) -> Any:
    def get(data: TextDataModule) -> Any:
        return getattr(data, name)

    return get


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        return f"textclf: {level}{record.getMessage()}"


def setup_logging(level: int = logging.INFO) -> None:
    """Show textclf's own messages (coverage, caching, dropped rows) on stderr."""
    root = logging.getLogger("textclf")
    if not any(isinstance(h.formatter, _Formatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter())
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``textclf`` console script and ``python -m textclf``."""
    args = list(sys.argv[1:] if argv is None else argv)
    setup_logging()
    try:
        if args and args[0] == "predict":
            from textclf.predict import predict_command

            predict_command(args[1:])
        elif args and args[0] == "export":
            from textclf.export import export_command

            export_command(args[1:])
        else:
            TextclfCLI(args=argv)
    except Exception as e:
        cause = _user_error(e)
        if cause is None:
            raise
        print(f"textclf: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None


def _user_error(error: BaseException | None) -> TextclfError | None:
    """The TextclfError behind ``error`` (jsonargparse wraps errors raised while computing linked arguments)."""
    while error is not None and not isinstance(error, TextclfError):
        error = error.__cause__ or error.__context__
    return error

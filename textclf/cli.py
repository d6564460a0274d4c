"""The ``textclf`` command: one jsonargparse parser for every subcommand.

``fit``, ``validate`` and ``test`` are LightningCLI's, over recipes; ``predict``, ``evaluate`` and ``export`` run
on a checkpoint alone (:mod:`textclf.commands`). All six take ``-c config.yaml`` and ``--print_config``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from textclf.commands import COMMANDS, DESCRIPTIONS
from textclf.data.base import TextDataModule
from textclf.data.batching import BucketBatchSampler
from textclf.errors import TextclfError
from textclf.model import TextClassifier
from textclf.resume import SIGTERM_EXIT, check_resume, keep_metrics
from textclf.runconfig import resolve

log = logging.getLogger("textclf")

TRAINER_SUBCOMMANDS = ("fit", "validate", "test")


class TextclfParser(LightningArgumentParser):
    """LightningCLI's parser with one-line argument errors, and ``--print_config`` showing what will run."""

    subcommand_name: str | None = None  # fit, validate or test on their parsers

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """``textclf: error: ...`` on one line and exit status 2 (an ArgumentError where exiting is off)."""
        if not self.exit_on_error:
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        text = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
        self._logger.error(message)
        sys.stderr.write(f"textclf: error: {text} (see {prog} --help)\n")
        self.exit(2)

    def dump(self, namespace: Namespace, *args: Any, **kwargs: Any) -> str:
        """Dump ``namespace`` as it will run (:func:`resolve`: the default logger, what checkpoints give)."""
        if "trainer" in namespace:
            from textclf.config_check import check_nulls

            check_nulls(namespace)  # --print_config prints nothing the run would refuse
            namespace = namespace.clone()
            resolve(namespace, self.subcommand_name)
        if "skip_none" in kwargs:  # Lightning's spelling, deprecated by jsonargparse (warned here, as textclf's)
            kwargs["skip_unset"] = kwargs.pop("skip_none")
        return super().dump(namespace, *args, **kwargs)


class TextclfCLI(LightningCLI):
    """LightningCLI with the data module's vocabulary, labels, tokenizer and vectors linked into the model.

    ``fit`` also tests the best checkpoint (by the recipe's ModelCheckpoint monitor) when the data has a test
    split, and writes ``test_metrics.json`` next to it. ``fit`` and ``test`` write the evaluation report
    (:mod:`textclf.report`) into ``<run directory>/report/``, or into ``--report_dir``. A run without an
    explicit logger gets a ``CSVLogger`` under ``runs/<recipe folder>/<recipe name>/version_N``, so runs never
    overwrite each other; ``fit --ckpt_path last`` (or a checkpoint in a run's ``checkpoints/``) continues that run
    in its directory, and a fit stopped by SIGTERM exits with status 143. ``validate`` and ``test`` with
    ``--ckpt_path`` take the vocabulary and word vectors from the checkpoint, not from the recipe's vectors file.
    ``predict``, ``evaluate`` and ``export`` (:data:`textclf.commands.COMMANDS`) are subcommands of the same
    parser that instantiate nothing.
    """

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(
            TextClassifier,
            TextDataModule,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            parser_class=TextclfParser,
            parser_kwargs={
                "prog": "textclf",
                "description": "Train, test and use text classifiers. Every subcommand takes -c config.yaml and "
                "--print_config; textclf SUBCOMMAND --help lists its options.",
            },
            args=args,
            **kwargs,
        )

    @classmethod
    def subcommands(cls) -> dict[str, set[str]]:
        """The Trainer's fit, validate and test; the other subcommands are :data:`textclf.commands.COMMANDS`."""
        return {name: keys for name, keys in LightningCLI.subcommands().items() if name in TRAINER_SUBCOMMANDS}

    def _add_subcommands(self, parser: LightningArgumentParser, **kwargs: Any) -> None:
        """fit, validate and test as LightningCLI adds them, then predict, evaluate and export."""
        self._subcommand_parsers: dict[str, LightningArgumentParser] = {}
        subcommands = parser.add_subcommands()
        for name, description in DESCRIPTIONS.items():
            options = {"description": description, **kwargs.get(name, {})}
            if name in TRAINER_SUBCOMMANDS:
                assert isinstance(self.trainer_class, type)
                subparser = self._prepare_subcommand_parser(self.trainer_class, name, **options)
                assert isinstance(subparser, TextclfParser)
                subparser.subcommand_name = name
            else:
                subparser = self.init_parser(**options)
                COMMANDS[name].add_arguments(subparser)
            self._subcommand_parsers[name] = subparser
            subcommands.add_subcommand(name, subparser, help=description)

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

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then fill in what the run takes by default (:func:`resolve`), so config.yaml records it."""
        super().parse_arguments(parser, args)
        from textclf.config_check import check_nulls

        check_nulls(self.config)
        subcommand = self.config.get("subcommand")
        if subcommand not in COMMANDS:  # fit, validate, test, or no subcommand (run=False)
            resolve(self.config[subcommand] if subcommand else self.config, subcommand)

    def _parse_ckpt_path(self) -> None:
        """Leave the model options to the recipe and :func:`from_checkpoint`.

        Lightning would merge the checkpoint's saved hyperparameters into the model options (and apply the parse
        links again, undoing :func:`from_checkpoint`), but they hold derived values (vocab_size, labels...) that
        are no options; :func:`from_checkpoint` reads the checkpoint's ``textclf`` section instead.
        """

    def _set_seed(self) -> None:
        if self.subcommand not in COMMANDS:
            super()._set_seed()

    def before_instantiate_classes(self) -> None:
        """Note ``--overwrite`` for the run directory check."""
        if self.subcommand not in COMMANDS:
            config = self.config[self.subcommand] if self.subcommand else self.config
            self.save_config_kwargs["overwrite"] = bool(config.get("overwrite")) or _resumed_run(config) is not None
            if self.subcommand in ("validate", "test") and config.trainer.logger is False:
                self.save_config_callback = None  # no run directory: no config.yaml in the working directory

    def instantiate_classes(self) -> None:
        """The model, data and trainer of fit/validate/test; predict, evaluate and export instantiate nothing."""
        if self.subcommand not in COMMANDS:
            super().instantiate_classes()

    def _run_subcommand(self, subcommand: str) -> None:
        if subcommand in COMMANDS:
            COMMANDS[subcommand].run(self.config[subcommand])
        else:
            super()._run_subcommand(subcommand)

    def before_fit(self) -> None:
        """Refuse to train into a run directory that holds a run, unless ``--overwrite`` is given or fit resumes it.

        A run resumes in its directory with ``--ckpt_path`` in its ``checkpoints/``; its metrics.csv rows are kept.
        """
        run_dir = Path(self.trainer.log_dir or ".")
        config = self.config[self.subcommand] if self.subcommand else self.config
        resumed = _resumed_run(config)
        if resumed is not None and resumed == run_dir.resolve():
            sampler = self.datamodule.train_dataloader().batch_sampler if self.datamodule else None
            assert isinstance(sampler, BucketBatchSampler)
            check_resume(str(config.ckpt_path), self.model, sampler.settings())  # before anything is written
            keep_metrics(self.trainer)
            return
        if bool(config.get("overwrite")) or not run_dir.is_dir():
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
        if results:
            self._write_outputs(results, best)

    def after_test(self) -> None:
        """Write the evaluation report of the tested checkpoint."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        if not self.trainer.interrupted and isinstance(self.datamodule, TextDataModule):
            self._write_outputs(None, config.get("ckpt_path"))

    def _write_outputs(self, results: Any, checkpoint: str | None) -> None:
        """test_metrics.json (fit) and the report, inside the run directory only (:mod:`textclf.run_outputs`)."""
        from textclf.run_outputs import write_test_outputs

        config = self.config[self.subcommand] if self.subcommand else self.config
        write_test_outputs(
            self.trainer,
            self.datamodule,
            self.model,
            results=results or None,
            checkpoint=checkpoint,
            report_dir=config.get("report_dir"),
            default_root_dir=config.trainer.get("default_root_dir"),
        )


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
    setup_logging()
    try:
        TextclfCLI(args=argv)
    except SIGTERMException:  # last.ckpt written (textclf.resume.Resumable); the status says it did not finish
        raise SystemExit(SIGTERM_EXIT) from None
    except Exception as e:
        cause = _user_error(e)
        if cause is None:
            raise
        print(f"textclf: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None


def _resumed_run(config: Namespace) -> Path | None:
    """The run directory a ``fit --ckpt_path .../checkpoints/FILE`` continues in (None for other runs)."""
    checkpoint = config.get("ckpt_path")
    if not checkpoint or config.get("trainer") is None:
        return None
    path = Path(str(checkpoint))
    return path.resolve().parent.parent if path.parent.name == "checkpoints" and path.is_file() else None


def _user_error(error: BaseException | None) -> TextclfError | None:
    """The TextclfError behind ``error`` (jsonargparse wraps errors raised while computing linked arguments)."""
    while error is not None and not isinstance(error, TextclfError):
        error = error.__cause__ or error.__context__
    return error

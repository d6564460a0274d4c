"""The LightningCLI of ``textclf fit``, ``validate`` and ``test`` (imported only for them; see :mod:`textclf.cli`).

:class:`TextclfCLI` is one jsonargparse parser for every subcommand: fit, validate and test over recipes, and
predict, evaluate and export (:mod:`textclf.commands`), which instantiate nothing here. ``textclf predict``,
``evaluate``, ``export`` and ``--help`` go through :mod:`textclf.cli`'s lighter parser of the same family instead,
so they never import this module or LightningCLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities.exceptions import SIGTERMException

from textclf.commands import COMMANDS, DESCRIPTION, DESCRIPTIONS, PROG, add_threads_argument, one_line_error
from textclf.data import corpora, files  # noqa: F401  (every data module a subclass the parser knows: --data TREC)
from textclf.data.base import TextDataModule
from textclf.data.batching import BucketBatchSampler
from textclf.errors import TextclfError
from textclf.model import TextClassifier
from textclf.resume import SIGTERM_EXIT, check_resume, keep_metrics
from textclf.runconfig import resolve
from textclf.threads import set_threads

TRAINER_SUBCOMMANDS = ("fit", "validate", "test")


def run(args: list[str] | None) -> None:
    """Run ``textclf fit|validate|test ARGS`` (or any argument list :mod:`textclf.cli` does not parse itself).

    ``args=None`` parses ``sys.argv[1:]``.

    Raises:
        SystemExit: 143 when a fit was stopped by SIGTERM (its last.ckpt is written; the run did not finish).
    """
    try:
        TextclfCLI(args=args)
    except SIGTERMException:  # last.ckpt written (textclf.resume.Resumable); the status says it did not finish
        raise SystemExit(SIGTERM_EXIT) from None


class TextclfParser(LightningArgumentParser):
    """LightningCLI's parser with one-line argument errors, and ``--print_config`` showing what will run."""

    subcommand_name: str | None = None  # fit, validate or test on their parsers

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """``textclf: error: ...`` on one line and exit status 2 (an ArgumentError where exiting is off)."""
        if not self.exit_on_error:
            super().error(message, ex)
        one_line_error(self, message, ex)

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
    explicit logger gets a ``CSVLogger`` under ``runs/<run name>/version_N`` (:func:`textclf.runconfig.run_name`),
    so runs never overwrite each other; ``fit --ckpt_path last`` (or a checkpoint in a run's ``checkpoints/``)
    continues that run in its directory, and a fit stopped by SIGTERM exits with status 143. ``validate`` and
    ``test`` with ``--ckpt_path`` take the vocabulary and word vectors from the checkpoint, not from the recipe's
    vectors file. ``predict``, ``evaluate`` and ``export`` (:data:`textclf.commands.COMMANDS`) are subcommands of
    the same parser that instantiate nothing.
    """

    def __init__(self, args: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(
            TextClassifier,
            TextDataModule,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            parser_class=TextclfParser,
            parser_kwargs={
                "prog": PROG,
                "description": DESCRIPTION,
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
            if name not in TRAINER_SUBCOMMANDS and name not in COMMANDS:
                continue  # cv: its own parser (textclf.cv), listed by textclf --help only
            options = {"description": description, **kwargs.get(name, {})}
            if name in TRAINER_SUBCOMMANDS:
                assert isinstance(self.trainer_class, type)
                subparser = self._prepare_subcommand_parser(self.trainer_class, name, **options)
                assert isinstance(subparser, TextclfParser)
                subparser.subcommand_name = name
            else:
                subparser = self.init_parser(**options)
                COMMANDS[name].add_arguments(subparser)
                add_threads_argument(subparser)
            self._subcommand_parsers[name] = subparser
            subcommands.add_subcommand(name, subparser, help=description)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Link the prepared data into the model, so each size is stated once; add ``--overwrite``, ``--threads``."""
        add_threads_argument(parser)
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
        """Set the thread count (``--threads``) before any work; note ``--overwrite`` for the run directory check."""
        if self.subcommand not in COMMANDS:
            config = self.config[self.subcommand] if self.subcommand else self.config
            set_threads(config.get("threads"))
            resumed = _resumed_run(config)
            self.save_config_kwargs["overwrite"] = bool(config.get("overwrite")) or resumed is not None
            if resumed is not None and self.subcommand == "fit":  # config.yaml stays; the resumed one goes beside it
                from textclf.run_outputs import free_name

                self.save_config_kwargs["config_filename"] = free_name(resumed / "config.yaml").name
            if self.subcommand in ("validate", "test") and config.trainer.logger is False:
                self.save_config_callback = None  # no run directory: no config.yaml in the working directory

    def instantiate_classes(self) -> None:
        """The model, data and trainer of fit/validate/test; predict, evaluate and export instantiate nothing."""
        if self.subcommand not in COMMANDS:
            super().instantiate_classes()

    def _run_subcommand(self, subcommand: str) -> None:
        if subcommand in COMMANDS:
            set_threads(self.config[subcommand].get("threads"))
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
            data = self.datamodule  # the model is not attached to the trainer yet: it says how to cut windows
            sampler = data.loader("train", shuffle=True, model=self.model).batch_sampler if data else None
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
        # verbose=False: the "test:" line of the run's story gives these scores (no second table on stdout)
        results = trainer.test(self.model, datamodule=datamodule, ckpt_path=best and "best", verbose=False)
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


def _resumed_run(config: Namespace) -> Path | None:
    """The run directory a ``fit --ckpt_path .../checkpoints/FILE`` continues in (None for other runs)."""
    checkpoint = config.get("ckpt_path")
    if not checkpoint or config.get("trainer") is None:
        return None
    path = Path(str(checkpoint))
    return path.resolve().parent.parent if path.parent.name == "checkpoints" and path.is_file() else None

"""The configuration of ``fit``/``validate``/``test`` as it will run, filled in right after parsing.

So that ``--print_config`` and the saved ``config.yaml`` show what runs: the default CSVLogger
(``runs/<run name>/version_N``, named after the recipe file: :func:`run_name`; for ``fit --ckpt_path``, the
checkpoint's run),
the settings a ``--ckpt_path`` checkpoint dictates for
``validate``/``test`` (its vocabulary, tokenizer, embedding size and encoder; no vectors file), and for fine-tuning
what ``model.init_from``'s checkpoint gives when the configuration leaves it unset. A ``--ckpt_path`` file is read
(as data) before anything runs, so a bad one is a one-line error.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jsonargparse import Namespace

log = logging.getLogger("textclf")
LIGHTNING_CKPT_NAMES = ("best", "last", "hpc")  # --ckpt_path values Lightning resolves itself
RUN_NAMED_LOGGERS = ("TensorBoardLogger", "WandbLogger")  # loggers whose null name becomes the run name


def resolve(config: Namespace, subcommand: str | None) -> None:
    """Fill in the configuration of fit/validate/test as it will run (idempotent; after the parse links).

    A run without an explicit logger gets its CSVLogger (:func:`set_default_logger`); ``validate``/``test
    --ckpt_path FILE`` take the data and model settings from that checkpoint (:func:`from_checkpoint`), other
    runs with ``model.init_from`` what the configuration leaves unset (:func:`from_init_checkpoint`).
    """
    set_default_logger(config)
    if config.get("weights_only") is False:  # Lightning would unpickle the checkpoint: arbitrary code from a file
        from textclf.errors import TextclfError

        raise TextclfError("--weights_only false is refused: textclf checkpoints load as data (weights_only=True)")
    if subcommand == "fit" and config.get("ckpt_path"):
        resume_in_run(config)
    if subcommand in ("validate", "test"):
        evaluated_checkpoint(config, subcommand)
    checkpoint = config.get("ckpt_path")
    if checkpoint and str(checkpoint) not in LIGHTNING_CKPT_NAMES:  # a file: refused in one line unless readable
        read_checked(str(checkpoint))
    if subcommand in ("validate", "test") and checkpoint and Path(checkpoint).is_file():
        from_checkpoint(config, str(checkpoint))
    elif config.model.get("init_from"):
        from_init_checkpoint(config, str(config.model.init_from))


def read_checked(checkpoint: str) -> dict[str, Any]:
    """The checkpoint (:func:`textclf.checkpoint.read_checkpoint`), its weights checked against the model it describes.

    Raises:
        TextclfError: one line naming the file (see :func:`~textclf.checkpoint.read_checkpoint`,
            :func:`~textclf.checkpoint.check_weights`).
    """
    from textclf.checkpoint import check_weights, read_checkpoint
    from textclf.model import TextClassifier

    content = read_checkpoint(checkpoint)
    check_weights(TextClassifier, content, checkpoint)  # on the meta device: huge claims cost nothing
    return content


def set_default_logger(config: Namespace) -> None:
    """Give a run without an explicit logger a versioned CSVLogger: ``runs/<run name>/version_N`` (:func:`run_name`).

    A TensorBoardLogger or WandbLogger whose ``name`` is null (recipes/_base/tensorboard.yaml, wandb.yaml) gets the
    run name, and its ``save_dir`` made absolute (``--trainer.default_root_dir`` when stated).
    """
    recipes = config.get("config") or []
    name = run_name(_recipe_file([Path(str(path)) for path in recipes])) if recipes else "textclf"
    logger = config.trainer.logger
    if isinstance(logger, Namespace) and str(logger.get("class_path")).rsplit(".", 1)[-1] in RUN_NAMED_LOGGERS:
        args = logger.get("init_args")
        if args is not None and args.get("name") is None:
            args.name = name
            args.save_dir = str(Path(config.trainer.default_root_dir or args.get("save_dir") or "runs").resolve())
    if config.trainer.logger not in (None, True):
        return
    config.trainer.logger = Namespace(
        class_path="lightning.pytorch.loggers.CSVLogger",
        # absolute: the checkpoints remember their folder, and a resume from another working directory must match it
        init_args=Namespace(save_dir=str(Path(config.trainer.default_root_dir or "runs").resolve()), name=name),
    )


def run_name(recipe: Path) -> str:
    """The run folder's name for a recipe file: its path under ``recipes/``, else under the working directory.

    Outside both, the file's stem. ``recipes/trec/bilstm_max.yaml`` -> ``trec/bilstm_max``; ``recipes/my_cr.yaml``
    -> ``my_cr``;
    ``./cr_bilstm.yaml`` -> ``cr_bilstm``; ``exp/a/recipe.yaml`` -> ``exp/a/recipe``; ``~/exp/cr_bilstm.yaml`` from
    elsewhere -> ``cr_bilstm``. The path is resolved first (``..``, links).
    """
    path = recipe.resolve()
    for parent in path.parents:
        if parent.name == "recipes":
            return path.relative_to(parent).with_suffix("").as_posix()
    try:  # under the working directory: its path there, so that a/recipe.yaml and c/recipe.yaml never share runs
        return path.relative_to(Path.cwd().resolve()).with_suffix("").as_posix()
    except ValueError:
        return path.stem


def legacy_run_name(recipe: Path) -> str:
    """The run name textclf gave a recipe before :func:`run_name`: ``<its folder>/<its stem>``."""
    path = recipe.resolve()
    return f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem


def resume_in_run(config: Namespace) -> None:
    """``fit --ckpt_path``: continue in the checkpoint's run directory, so metrics.csv and checkpoints stay together.

    ``last`` is the newest ``version_N/checkpoints/last.ckpt`` of this recipe's run name (:func:`textclf.resume.
    find_last`; runs named by earlier textclf versions, :func:`legacy_run_name`, too; with ``trainer.logger: false``,
    ``<default_root_dir>/checkpoints/last.ckpt``). A checkpoint file in a
    ``.../version_N/checkpoints/`` folder sets the CSV (or TensorBoard) logger's version to that run, unless the
    configuration names a version itself.

    Raises:
        TextclfError: ``last`` and no last.ckpt to resume from.
    """
    from textclf.errors import TextclfError
    from textclf.resume import VERSION, find_last

    logger = config.trainer.logger
    class_name = str(logger.get("class_path", "")).rsplit(".", 1)[-1] if isinstance(logger, Namespace) else ""
    args = logger.get("init_args") if class_name in ("CSVLogger", "TensorBoardLogger") else None
    if str(config.ckpt_path) == "last":
        if args is not None:
            save_dir = Path(args.get("save_dir") or ".")
            recipes = [Path(str(path)) for path in config.get("config") or []]
            earlier = [save_dir / legacy_run_name(_recipe_file(recipes))] if recipes else []
            config.ckpt_path = str(find_last(save_dir / (args.get("name") or ""), earlier))
        elif logger is False:
            path = Path(config.trainer.get("default_root_dir") or ".") / "checkpoints" / "last.ckpt"
            if not path.is_file():
                raise TextclfError(f"--ckpt_path last: no {path} to resume from; start the run without --ckpt_path")
            config.ckpt_path = str(path)
    path = Path(str(config.ckpt_path))
    if args is None or args.get("version") is not None or path.parent.name != "checkpoints" or not path.is_file():
        return
    run_dir = path.resolve().parent.parent
    if (Path(args.get("save_dir") or ".") / (args.get("name") or "")).resolve() != run_dir.parent:
        args.save_dir, args.name = str(run_dir.parent.parent), run_dir.parent.name
    match = VERSION.fullmatch(run_dir.name)
    args.version = int(match.group(1)) if match else run_dir.name


def evaluated_checkpoint(config: Namespace, subcommand: str) -> None:
    """``validate``/``test --ckpt_path last|best``: that file of the recipe's newest run (as ``fit`` finds it).

    Lightning would look for ``last``/``best`` in a callback of the new run, find none, warn and score the untrained
    model. Without ``--ckpt_path`` (and no ``model.init_from``) the untrained weights are scored: said in one line.

    Raises:
        TextclfError: ``last``/``best`` and no such checkpoint in any run of this recipe.
    """
    checkpoint = config.get("ckpt_path")
    if checkpoint is None:
        if not config.model.get("init_from"):
            log.warning("%s without --ckpt_path scores the model's initial, untrained weights", subcommand)
        return
    if str(checkpoint) not in ("last", "best"):
        return
    from textclf.errors import TextclfError
    from textclf.resume import find_last

    logger = config.trainer.logger
    args = logger.get("init_args") if isinstance(logger, Namespace) else None
    if args is None:
        raise TextclfError(f"--ckpt_path {checkpoint}: name the checkpoint file (no run folder to look in)")
    recipes = [Path(str(path)) for path in config.get("config") or []]
    earlier = [Path(args.get("save_dir") or ".") / legacy_run_name(_recipe_file(recipes))] if recipes else []
    try:
        last = find_last(Path(args.get("save_dir") or ".") / (args.get("name") or ""), earlier)
    except TextclfError as e:
        raise TextclfError(str(e).replace("to resume from; start the run without --ckpt_path", "to score")) from None
    found = last if str(checkpoint) == "last" else last.parent / "best.ckpt"
    if not found.is_file():
        raise TextclfError(f"--ckpt_path best: {found} does not exist; name the checkpoint file")
    config.ckpt_path = str(found)
    log.info("--ckpt_path %s: %s", checkpoint, found)


def from_checkpoint(config: Namespace, checkpoint: str) -> None:
    """Build the data and model of ``validate``/``test`` for ``checkpoint``, with no vectors file.

    The data numericalises with exactly the checkpoint's vocabulary and tokenizer; the model takes the checkpoint's
    embedding size and mode and its encoder (whatever the recipe says), so that every weight fits; Lightning restores
    them all, the embedding matrix included, so the vectors file training used is not read. Runs after the parse
    links (``model.init_from -> data.init_vocab_from``), which would otherwise undo ``init_vocab_from``.
    """
    section = read_checked(checkpoint)["textclf"]
    data = config.data.init_args
    data.vectors = None
    data.init_vocab_from = checkpoint
    data.extend_vocab = False
    data.tokenizer = None  # the checkpoint's, which its vocabulary needs
    config.model.embedding_dim = int(section["model"]["embedding_dim"])
    config.model.embedding_mode = section["model"]["embedding_mode"]
    config.model.encoder = _encoder(section)
    if config.model.get("init_from"):  # the checkpoint it was fine-tuned from: every weight comes from this one
        config.model.init_from = None


def from_init_checkpoint(config: Namespace, checkpoint: str) -> None:
    """Fine-tuning (``model.init_from``): the checkpoint's encoder, and its embedding size without vectors.

    Only what the configuration leaves unset, as :meth:`TextClassifier.for_data` does.
    """
    section = read_checked(checkpoint)["textclf"]
    if config.model.get("encoder") is None:
        config.model.encoder = _encoder(section)
    if config.data.init_args.get("vectors") is None and config.model.get("embedding_dim") is None:
        config.model.embedding_dim = int(section["model"]["embedding_dim"])


def _encoder(section: dict[str, Any]) -> Namespace:
    """The encoder of a checkpoint's ``textclf`` section as a configuration (built for the model's input size)."""
    init_args = {key: value for key, value in section["encoder"]["init_args"].items() if key != "input_size"}
    return Namespace(class_path=section["encoder"]["class_path"], init_args=Namespace(**init_args))


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

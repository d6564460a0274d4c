"""Where textclf's messages go: stderr lines for the CLI, the same lines for Python users, and Lightning's noise.

Every textclf module logs through a child of the ``textclf`` logger: corpus sizes, vector coverage, the run's story
(:mod:`textclf.story`), where the outputs are.

* ``textclf`` on the command line: :func:`setup_logging` writes ``textclf: ...`` lines to stderr, at INFO.
* From Python, the way Lightning treats its ``lightning.pytorch`` logger: importing textclf sets the ``textclf``
  logger to INFO (unless the application set a level on it first) and gives it a fallback handler that writes the
  same lines to stderr, but only while nothing else would show them: no other handler on the ``textclf`` logger and,
  as it propagates, none on the root logger. An application that configures logging (``logging.basicConfig``, its
  own handlers), before or after importing textclf, gets textclf's records through its own handlers instead.
  To turn the info lines off: ``logging.getLogger("textclf").setLevel(logging.WARNING)``.

Lightning messages that textclf cannot avoid at their source are dropped by their exact text (:func:`quiet_lightning`):
never a blanket filter.
"""

from __future__ import annotations

import logging
import sys
import warnings

LOGGER = "textclf"

# Lightning 2.6 builds its CombinedLoader's tree spec with torch's LeafSpec(), which torch >= 2.9 deprecates: every
# fit/validate/test of any Lightning model warns, once per loop (Lightning-AI/pytorch-lightning#21326). Not fixable
# from textclf: any data loader is such a leaf.
LEAFSPEC_WARNING = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
LEAFSPEC_MODULE = r"lightning\.pytorch\.utilities\._pytree"
# Advertising printed by every Trainer (litlogger: any logger but LitLogger; litmodels: the default checkpointing)
TIPS = ("💡 Tip: For seamless cloud logging", "💡 Tip: For seamless cloud uploads")
RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        return f"textclf: {level}{record.getMessage()}"


class _FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr (as it is when a record comes) when no other handler would show textclf's records."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(_Formatter())

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        logger = logging.getLogger(LOGGER)
        if any(handler is not self for handler in logger.handlers):
            return False
        if logger.propagate and logging.getLogger().handlers:
            return False
        self.stream = sys.stderr  # the current one (pytest's capture, a redirect made after import)
        return bool(super().handle(record))


class _TipFilter(logging.Filter):
    """Drop Lightning's litlogger/litmodels tips."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TIPS)


_TIP_FILTER = _TipFilter()


def quiet_lightning() -> None:
    """Drop the Lightning messages textclf cannot avoid: the LeafSpec deprecation and the litlogger/litmodels tips.

    Each is matched by its text (and the LeafSpec warning by Lightning's module); idempotent.
    """
    warnings.filterwarnings("ignore", message=LEAFSPEC_WARNING, category=FutureWarning, module=LEAFSPEC_MODULE)
    for name in RANK_ZERO_LOGGERS:
        logging.getLogger(name).addFilter(_TIP_FILTER)  # added once: addFilter skips a filter it holds


def setup_logging(level: int = logging.INFO) -> None:
    """Show textclf's own messages (coverage, caching, dropped rows, the run's story) on stderr: the CLI's set-up."""
    root = logging.getLogger(LOGGER)
    if not any(isinstance(h.formatter, _Formatter) and not isinstance(h, _FallbackHandler) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter())
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    quiet_lightning()


def library_defaults() -> None:
    """Python use: INFO on the ``textclf`` logger unless set, the fallback handler, :func:`quiet_lightning`."""
    logger = logging.getLogger(LOGGER)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not any(isinstance(handler, _FallbackHandler) for handler in logger.handlers):
        logger.addHandler(_FallbackHandler())
    quiet_lightning()


library_defaults()

"""Refuse, right after parsing, a ``null`` that jsonargparse lets through for a class's argument that is not Optional.

jsonargparse checks the value of every argument against its annotation, except ``null`` for the ``init_args`` of
a class given by ``class_path`` (``--data.init_args.vectors_vocab_size null``, ``--model.encoder.init_args.
hidden_size null``): those pass the parser and used to end in a traceback inside the run.
:func:`check_nulls` walks the parsed configuration and refuses each such ``null`` of a textclf class in one line,
so every value the parser accepts works.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any

from textclf.errors import TextclfError


def check_nulls(config: Any) -> None:
    """Refuse ``null`` for an ``init_args`` entry of a textclf class whose annotation does not admit None.

    Args:
        config: the parsed configuration (a jsonargparse Namespace, or the dict of a printed one); the whole
            configuration or one subcommand's.

    Raises:
        TextclfError: ``<key>: null is not allowed (expected <annotation>)``, naming the first such key.
    """
    if _is_namespace(config):
        config = config.as_dict()
    for key, class_path, init_args in _classes(config, ""):
        cls = _loaded_class(class_path)
        if cls is None or not init_args:
            continue
        for name, value in init_args.items():
            if value is not None:
                continue
            hint = _parameter_hint(cls, name)
            if hint is not inspect.Parameter.empty and not _admits_none(hint):
                shown = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
                raise TextclfError(f"{key}.init_args.{name}: null is not allowed (expected {shown})")


def _is_namespace(node: Any) -> bool:
    return type(node).__name__ == "Namespace" and type(node).__module__.startswith("jsonargparse")


def _classes(node: Any, key: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(key, class_path, init_args)`` of every class given by ``class_path`` in the configuration tree."""
    if isinstance(node, list | tuple):
        for i, item in enumerate(node):
            yield from _classes(item, f"{key}[{i}]")
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("class_path"), str):
        init_args = node.get("init_args")
        args: dict[str, Any] = init_args if isinstance(init_args, dict) else {}
        yield key, node["class_path"], args
        for name, value in args.items():
            yield from _classes(value, f"{key}.init_args.{name}")
        return
    for name, value in node.items():
        yield from _classes(value, f"{key}.{name}" if key else str(name))


def _loaded_class(class_path: str) -> type | None:
    """The textclf class ``class_path`` names, as already imported by the parser (nothing is imported here)."""
    module_name, _, name = class_path.rpartition(".")
    if module_name != "textclf" and not module_name.startswith("textclf."):
        return None
    found = getattr(sys.modules.get(module_name), name, None)
    return found if isinstance(found, type) else None


def _parameter_hint(cls: type, name: str) -> Any:
    """The annotation of ``name`` in ``cls.__init__``, following ``**kwargs`` up the base classes."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return inspect.Parameter.empty
        if name in parameters:
            try:
                return typing.get_type_hints(init).get(name, inspect.Parameter.empty)
            except Exception:  # an annotation that cannot be resolved here: leave it to the parser
                return inspect.Parameter.empty
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return inspect.Parameter.empty
    return inspect.Parameter.empty


def _admits_none(hint: Any) -> bool:
    if hint is Any or hint is None or hint is type(None):
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _admits_none(typing.get_args(hint)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_admits_none(arg) for arg in typing.get_args(hint))
    return False

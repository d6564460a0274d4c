"""Numbers as the parser restricts them and as checkpoints store them.

The ``textclf`` parser refuses out-of-range values through jsonargparse's restricted number types
(``PositiveInt``, ``ClosedUnitInterval``, :data:`DropoutRate`): subclasses of ``int``/``float`` that it hands to the
classes it builds. :func:`plain_value` turns them back into plain numbers wherever they would be stored, because
``torch.load(weights_only=True)`` refuses a checkpoint holding an instance of a jsonargparse class.
"""

from __future__ import annotations

from typing import Any

from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveInt, restricted_number_type

__all__ = ["DropoutRate", "NonNegativeFloat", "NonNegativeInt", "PositiveInt", "plain_value"]

DropoutRate = restricted_number_type("DropoutRate", float, [(">=", 0), ("<", 1)], docstring="float in [0, 1)")


def plain_value(value: Any) -> Any:
    """``value`` with every int/float subclass (bools aside) made a plain ``int``/``float``.

    Lists, tuples and dicts are copied with their items made plain; other values are returned as they are.
    """
    if isinstance(value, bool) or type(value) in (int, float):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, list | tuple):
        return type(value)(plain_value(item) for item in value)
    if isinstance(value, dict):
        return {key: plain_value(item) for key, item in value.items()}
    return value

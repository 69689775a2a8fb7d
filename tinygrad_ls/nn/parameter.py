"""``Parameter``: a Value that a Module owns and an optimizer updates."""
from __future__ import annotations

from ..value import Value


class Parameter(Value):
    """A leaf Value that requires grad (``requires_grad=False`` for a frozen one).

    ``Parameter(data)``: ``data`` as for ``Value`` (an ndarray keeps its dtype and is not
    copied; numbers and lists become the default float dtype). Modules register the
    Parameters assigned to them as attributes; ops on Parameters give plain Values.
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True, name: str | None = None):
        super().__init__(data, requires_grad=requires_grad, name=name)

    def __repr__(self) -> str:
        return 'Parameter' + super().__repr__()[len('Value'):]

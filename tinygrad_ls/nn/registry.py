"""``Registry``: the dict a Module keeps its Parameters, buffers or submodules in.

Every write — ``reg[k] = v``, ``del reg[k]``, ``pop``, ``popitem``, ``clear``, ``update``,
``setdefault``, ``|=`` — bumps the owner's ``structure_version``, so that no container method
(``Sequential.__setitem__``, ``ModuleList.append``, ``ModuleDict.pop``, a user's own
``module._modules[name] = ...``) can change a model without ``tl.compile``'s guards seeing it.
Reads are plain dict reads.
"""
from __future__ import annotations


class Registry(dict):
    """A dict whose writes bump ``owner.structure_version``."""

    def __init__(self, owner) -> None:
        super().__init__()
        self.owner = owner

    def _bump(self) -> None:
        owner = getattr(self, 'owner', None)  # unset while copy/deepcopy rebuilds a Registry
        if owner is not None:
            owner.__dict__['structure_version'] = owner.__dict__.get('structure_version', 0) + 1

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self._bump()

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        self._bump()

    def pop(self, *args):
        try:
            return super().pop(*args)
        finally:
            self._bump()

    def popitem(self):
        try:
            return super().popitem()
        finally:
            self._bump()

    def clear(self) -> None:
        super().clear()
        self._bump()

    def update(self, *args, **kwargs) -> None:
        super().update(*args, **kwargs)
        self._bump()

    def setdefault(self, key, default=None):
        try:
            return super().setdefault(key, default)
        finally:
            self._bump()

    def __ior__(self, other):
        super().__ior__(other)
        self._bump()
        return self

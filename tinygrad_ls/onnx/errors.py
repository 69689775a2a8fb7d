"""``ExportError``: an ONNX export that could not stand for the model, refused before anything
is written.

``ExportError`` subclasses ``RuntimeError``, as ``torch.onnx.errors.OnnxExporterError`` does:
most refusals are about what the traced call *did* (Python read its numbers, a random draw,
an in-place update), not about a bad argument, and the rest (names, opset, dtypes) are about
what the installed runtimes can load. ``UnsupportedOpError`` — an op with no ONNX mapping —
is also a ``NotImplementedError`` (itself a ``RuntimeError``), so code written against the
exporter's earlier ``NotImplementedError`` still catches it.
"""
from __future__ import annotations


class ExportError(RuntimeError):
    """The export cannot stand for the model; nothing was written.

    ``reason`` says why; ``op`` (the library op involved), ``module`` (which module of the
    model was running) and ``site`` (the user's ``file:line``) are set where they are known.
    """

    def __init__(self, reason: str, *, op: str | None = None, module: str | None = None,
                 site: str | None = None):
        super().__init__(reason)
        self.reason, self.op, self.module, self.site = reason, op, module, site

    def locate(self, op: str | None, module: str | None, site: str | None) -> ExportError:
        """Fill in whatever of ``op``, ``module`` and ``site`` is not known yet; returns self."""
        self.op = self.op or op
        self.module = self.module or module
        self.site = self.site or site
        return self

    def __str__(self) -> str:
        where = []
        if self.op:
            where.append(f"op '{self.op}'")
        if self.module:
            where.append(f"in module {self.module}")
        if self.site:
            where.append(f"at {self.site}")
        located = f" [{', '.join(where)}]" if where else ''
        return f"ONNX export: {self.reason}{located}; nothing was written"


class UnsupportedOpError(ExportError, NotImplementedError):
    """An op (or an op's setting) that has no ONNX mapping."""

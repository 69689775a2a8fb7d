"""``GraphBuilder``: the nodes and initializers of the graph being written, and ``OpContext``,
what a mapping function (``mapping.py``) sees of the op it turns into nodes.

Every argument and every array setting of an op goes through one door, ``GraphBuilder.value``:
an array an input or an earlier op made is that ONNX value (never a constant, so a mask
made by ``h > 0`` or an integer input read by ``one_hot`` stays fed by the graph); a
Parameter or buffer is the initializer named by its ``state_dict`` key; anything else is an
anonymous constant — unless it is a view of the call's own data made by NumPy outside the
library's ops (then the export is refused: the file would keep the example's numbers).
"""
from __future__ import annotations

import bisect
import itertools
from functools import cached_property

import numpy as np

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # NumPy < 2
    from numpy import byte_bounds

from ..value import Value
from .errors import ExportError
from .tape import arrays_in


class StepMemory:
    """Where the call's own arrays live, to tell a NumPy view of them from a real constant."""

    def __init__(self, arrays):
        spans = sorted(bounds for bounds in (byte_bounds(a) for a in arrays) if bounds[1] > bounds[0])
        self.starts = [low for low, _ in spans]
        self.reach = list(itertools.accumulate((high for _, high in spans), max))  # furthest end so far

    def overlaps(self, array: np.ndarray) -> bool:
        if array.size == 0 or array.strides == (0,) * array.ndim:
            return False
        low, high = byte_bounds(array)
        index = bisect.bisect_left(self.starts, high) - 1
        return index >= 0 and self.reach[index] > low


class GraphBuilder:
    """Nodes and initializers of one graph. ``named``: {id(array): state_dict key} of the
    model's parameters and buffers; ``reserved``: names generated names must avoid (the
    graph's inputs and outputs, every state_dict key)."""

    def __init__(self, helper, numpy_helper, opset: int, dynamic_batch: bool, named: dict,
                 reserved: set, memory: StepMemory):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.opset, self.dynamic_batch = opset, dynamic_batch
        self.named, self.memory = named, memory
        self.nodes: list = []
        self.tensors: list = []            # (name, array) of every initializer, in order
        self.source_names: dict = {}       # ('input', i) / ('step', j) -> ONNX name
        self.provenance: dict = {}         # node name -> the Step it was made for
        self.step = None                   # the Step being mapped (names its nodes)
        self._taken = set(reserved)
        self._counter = itertools.count()
        self._constants: dict = {}         # (id of array, dtype) -> initializer name
        self._named_done: set = set()      # state_dict keys whose initializer exists
        self._keep: list = []              # arrays behind _constants keys stay alive

    # ---- names and nodes -----------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        """A new name, never one of the reserved names or one given before."""
        while True:
            name = f"{hint}_{next(self._counter)}"
            if name not in self._taken:
                self._taken.add(name)
                return name

    def node(self, op_type: str, inputs, **attributes) -> str:
        """Append one node; returns the name of its (single) output."""
        output = self.fresh(self.step.fn.name if self.step is not None else 'value')
        name = f"{op_type}_{output}"
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [output], name=name, **attributes))
        self.provenance[name] = self.step
        return output

    def output(self, source: str, name: str) -> None:
        """The graph output ``name``: an Identity of ``source``."""
        self.nodes.append(self.helper.make_node('Identity', [source], [name], name=f"Identity_{name}"))
        self.provenance[f"Identity_{name}"] = None

    def initializer(self, array: np.ndarray, name: str) -> str:
        self.tensors.append((name, np.asarray(array)))
        self._taken.add(name)
        return name

    @property
    def tensor_bytes(self) -> int:
        """Bytes of initializer data (above a limit, they go to ONNX external data)."""
        return sum(array.nbytes for _, array in self.tensors)

    def initializer_protos(self) -> list:
        return [self.numpy_helper.from_array(array, name) for name, array in self.tensors]

    def const(self, array, hint: str = 'const') -> str:
        """A new anonymous initializer holding ``array``."""
        return self.initializer(np.asarray(array), self.fresh(hint))

    def ints(self, values) -> str:
        return self.const(np.asarray(values, dtype=np.int64), 'shape')

    def scalar(self, number, dtype) -> str:
        """A 0-d constant of ``dtype``."""
        return self.const(np.asarray(number, dtype=dtype))

    def cast(self, name: str, source_dtype, dtype) -> str:
        """``name`` as ``dtype`` (a Cast node when the dtypes differ)."""
        if dtype is None or np.dtype(source_dtype) == np.dtype(dtype):
            return name
        return self.node('Cast', [name], to=self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    # ---- the one door for arguments and settings -----------------------------------------------
    def value(self, obj, dtype=None, refs: dict | None = None) -> str:
        """The ONNX name of ``obj`` (a Value, an ndarray or a number), as ``dtype`` if given.
        ``refs``: {id(array): source} of the step being mapped (the producers it saw)."""
        if isinstance(obj, Value):
            obj = obj._data
        if not isinstance(obj, np.ndarray):
            return self._anonymous(obj, dtype)
        source = (refs or {}).get(id(obj))
        if source is not None:
            return self.cast(self.source_names[source], obj.dtype, dtype)
        key = self.named.get(id(obj))
        if key is not None:
            if key not in self._named_done:
                self._named_done.add(key)
                self.initializer(obj, key)
            return self.cast(key, obj.dtype, dtype)
        if self.memory.overlaps(obj):
            raise ExportError(f"an array of shape {obj.shape} ({obj.dtype}) that is a view of the call's own "
                              "data, made by NumPy outside the library's ops (a reshape, a slice, a "
                              "transpose); the file would keep the example's numbers: use the Value's own "
                              "ops (reshape, indexing)")
        return self._anonymous(obj, dtype)

    def _anonymous(self, obj, dtype) -> str:
        array = np.asarray(obj, dtype=dtype)
        key = (id(obj), array.dtype.str) if isinstance(obj, np.ndarray) else \
            ('number', type(obj).__name__, repr(obj), array.dtype.str)
        name = self._constants.get(key)
        if name is None:
            self._keep.append(obj)
            name = self._constants[key] = self.const(array)
        return name


class OpContext:
    """One recorded op as its mapping function sees it: ``fn`` (the settings as attributes:
    ``fn.axis``, ``fn.window``, ``fn.condition``, …), ``data`` (the arguments' arrays, for
    shapes and dtypes), ``out`` (the result's array) and the ONNX names of the arguments."""

    def __init__(self, graph: GraphBuilder, step):
        self.g, self.step = graph, step
        self.fn, self.data, self.out = step.fn, step.data, step.out

    @property
    def dtype(self) -> np.dtype:
        """The dtype the op computes in: its result's, or for a bool result (a comparison) the
        arguments' common dtype, as NumPy promotes them."""
        if self.out.dtype != bool:
            return self.out.dtype
        return np.result_type(*self.data)

    @cached_property
    def ins(self) -> list:
        """The arguments' names, each as ``dtype`` (NumPy's promotion, made explicit)."""
        return [self.arg(i, self.dtype) for i in range(len(self.data))]

    def arg(self, index: int, dtype=None) -> str:
        """Argument ``index`` as it is (``dtype=None``) or cast to ``dtype``."""
        return self.g.value(self.data[index], dtype, self.step.refs)

    def setting(self, obj, dtype=None) -> str:
        """An op setting (a condition, indices, running statistics, a bound) read through the
        graph: the ONNX value that made it, or a constant."""
        return self.g.value(obj, dtype, self.step.refs)

    def is_step_data(self, obj) -> bool:
        """Whether ``obj`` (a setting) was made by an input or an op of this call."""
        return any(id(array) in self.step.refs for array in arrays_in(obj))

"""Deep and wide graphs: exact gradients, and work linear in the size of the graph.

Linear time is checked by counting work, never by timing it: every op's ``backward`` runs
exactly once per node, every non-leaf node enters and leaves the engine's heap exactly
once, and a node used k times has its k incoming gradients summed before its own backward
runs once (no re-walk of shared subgraphs). ``benchmarks/scaling.py`` shows the timings.
"""
from __future__ import annotations

import heapq
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import leaf

import tinygrad_ls as tl
from tinygrad_ls import Value, engine
from tinygrad_ls.ops import arithmetic, elementwise, reduce, shapes


class Work:
    """Counts what the engine does: backward calls per op name, heap pushes and pops, and
    the largest the heap got."""

    def __init__(self) -> None:
        self.backward_calls: Counter = Counter()
        self.pushes = self.pops = self.max_heap = 0

    # the two heapq functions the engine uses, counted
    def heappush(self, heap: list, item) -> None:
        self.pushes += 1
        heapq.heappush(heap, item)
        self.max_heap = max(self.max_heap, len(heap))

    def heappop(self, heap: list):
        self.pops += 1
        return heapq.heappop(heap)


@pytest.fixture
def work(monkeypatch) -> Work:
    counter = Work()
    monkeypatch.setattr(engine, 'heapq', counter)
    for op in (arithmetic.Add, arithmetic.Sub, arithmetic.Mul, elementwise.Exp, reduce.Sum,
               shapes.Stack, shapes.Concat):
        original = op.backward

        def counted(self, *args, _original=original):
            counter.backward_calls[self.name] += 1
            return _original(self, *args)

        monkeypatch.setattr(op, 'backward', counted)
    return counter


def chain(x: Value, ops: int) -> Value:
    """``ops`` ops (a multiple of 4) that leave x's value and give d/dx exactly 1:
    ``y -> (y * 2 + 1) * 0.5 - 0.5``, every step exact in floating point."""
    y = x
    for _ in range(ops // 4):
        y = (y * 2.0 + 1.0) * 0.5 - 0.5
    return y


# ---- deep ---------------------------------------------------------------------------------------

def test_a_chain_of_100000_ops_backprops_exactly_visiting_each_node_once(work):
    x = leaf(0.75)
    y = chain(x, 100_000)
    assert y.item() == 0.75
    y.backward()
    assert x.grad.item() == 1.0
    assert work.backward_calls == {'mul': 50_000, 'add': 25_000, 'sub': 25_000}
    # In a chain each node's input is the newest pending node, taken without the heap.
    assert work.pushes == work.pops == 0


def test_tl_grad_through_a_chain_of_100000_ops(work):
    x = leaf(0.75)
    (grad_x,) = tl.grad(chain(x, 100_000), x)
    assert grad_x.item() == 1.0
    assert sum(work.backward_calls.values()) == 100_000


@pytest.mark.parametrize('size', [1_000, 10_000, 100_000])
def test_work_is_proportional_to_chain_length(work, size):
    x = leaf(-2.0)
    chain(x, size).backward()
    assert x.grad.item() == 1.0
    assert sum(work.backward_calls.values()) == size
    assert work.pushes == work.pops == 0


def test_a_ladder_of_10000_diamonds_is_linear_not_exponential(work):
    """``y -> y * 0.5 + y * 0.5`` uses y twice per rung: walking each path separately would
    take 2**5000 steps; summing first visits each node once."""
    x = leaf(3.0)
    y = x
    for _ in range(5_000):
        y = y * 0.5 + y * 0.5
    y.backward()
    assert y.item() == 3.0 and x.grad.item() == 1.0
    assert work.backward_calls == {'mul': 10_000, 'add': 5_000}
    assert work.pushes == work.pops <= 15_000  # each node queued once at most (a chain's: never)
    assert work.max_heap <= 2


# ---- wide: fan-in -----------------------------------------------------------------------------

WIDTH = 10_000


def test_fan_in_of_10000_leaves_through_stack(work):
    leaves = [leaf(i) for i in range(WIDTH)]
    weights = np.arange(WIDTH, dtype=np.float64) % 7 - 3.0
    total = (tl.stack(leaves) * weights).sum()
    total.backward()
    assert total.item() == float(np.arange(WIDTH) @ weights)
    assert [node.grad.item() for node in leaves] == weights.tolist()
    assert work.backward_calls == {'sum': 1, 'mul': 1, 'stack': 1}
    grads = [node.grad for node in leaves]  # each leaf owns its grad (no shared memory)
    assert len({id(g) for g in grads}) == WIDTH and not any(np.shares_memory(grads[0], g) for g in grads[1:3])


def test_fan_in_of_10000_leaves_through_concat():
    leaves = [leaf([i, -i]) for i in range(WIDTH)]
    (tl.concat(leaves) ** 2).sum().backward()
    assert all(np.array_equal(node.grad, 2 * node.data) for node in leaves)


def test_fan_in_of_10000_values_through_python_sum(work):
    leaves = [leaf(i) for i in range(WIDTH)]
    total = sum(leaves)  # 0 + x0 + x1 + ...: a chain of 10 000 additions
    total.backward()
    assert total.item() == WIDTH * (WIDTH - 1) / 2
    assert all(node.grad.item() == 1.0 for node in leaves)
    assert work.backward_calls == {'add': WIDTH}


# ---- wide: fan-out ----------------------------------------------------------------------------

def test_fan_out_one_leaf_used_10000_times(work):
    x = leaf(2.0)
    terms = [x * float(i) for i in range(WIDTH)]
    total = tl.stack(terms).sum()
    total.backward()
    assert x.grad.item() == WIDTH * (WIDTH - 1) / 2  # d/dx sum(i x) = sum(i), exact in float64
    assert work.backward_calls == {'sum': 1, 'stack': 1, 'mul': WIDTH}
    assert work.pushes == work.pops <= WIDTH + 2


def test_fan_out_of_an_intermediate_runs_its_backward_once(work):
    """``h = exp(x)`` feeds 10 000 ops: its 10 000 incoming gradients are summed, then exp's
    backward runs once, and so does everything below it."""
    x = leaf(0.0)
    below = (x * 1.0) + 0.0
    h = below.exp()
    total = sum(h * float(i % 3) for i in range(WIDTH))
    total.backward()
    assert x.grad.item() == sum(i % 3 for i in range(WIDTH))  # exp(0) = 1
    assert work.backward_calls['exp'] == 1
    assert work.backward_calls['mul'] == WIDTH + 1           # the 10 000 uses, and x * 1.0 once
    assert work.backward_calls['add'] == WIDTH + 1           # python sum's chain, and + 0.0 once


def test_fan_out_and_fan_in_together_keep_exact_gradients():
    """10 000 leaves, each used by 3 ops, joined by stack: every gradient is exact."""
    leaves = [leaf(float(i % 11)) for i in range(WIDTH)]
    parts = [tl.stack([v * 2.0, v * v, v - 1.0]) for v in leaves]
    total = tl.stack(parts).sum()
    total.backward()
    assert all(node.grad.item() == 2.0 + 2 * node.item() + 1.0 for node in leaves)


def test_the_scaling_benchmark_runs_and_prints_its_table():
    """Smoke test of ``benchmarks/scaling.py`` at small sizes (its timings are never asserted)."""
    script = Path(__file__).resolve().parent.parent / 'benchmarks' / 'scaling.py'
    result = subprocess.run([sys.executable, str(script), '--quick', '--repeats', '1'], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert 'us/node' in lines[1]
    graphs = ('chain', 'fan-in', 'fan-out', 'ladder')
    assert [line.split()[:2] for line in lines[3:]] == [
        [graph, str(size)] for graph in graphs for size in (100, 1000, 10000)]

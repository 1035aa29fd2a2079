"""Benchmark: gradkit's scalar ``Value`` against a minimal micrograd-style engine.

Both engines build the same long chain (a recurrent cell unrolled many times,
mixing *, +, -, tanh and constants) and run forward + backward on it. We report
graph nodes processed per second for each and the ratio ours / baseline.

The baseline is defined in this file: the classic closure-per-node design
(every node stores a ``_backward`` closure and a set of children, plain
attributes, recursive topological sort with the recursion limit raised).

    .venv/bin/python bench/bench_value.py           # 100,000-node graph
    .venv/bin/python bench/bench_value.py --quick   # 10,000-node graph
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time

from gradkit.autodiff.value import Value, topological_order


class MicroValue:
    """The baseline: a minimal micrograd-style scalar with closure backward."""

    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, MicroValue) else MicroValue(other)
        out = MicroValue(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, MicroValue) else MicroValue(other)
        out = MicroValue(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __sub__(self, other):
        other = other if isinstance(other, MicroValue) else MicroValue(other)
        out = MicroValue(self.data - other.data, (self, other), "-")

        def _backward():
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out

    def __rmul__(self, other):
        return self * other

    def tanh(self):
        t = math.tanh(self.data)
        out = MicroValue(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


def build_chain(value_cls, steps):
    """An unrolled cell x <- tanh(w*x + 0.1) - 0.01*x; returns (output, w)."""
    w = value_cls(0.9)
    x = value_cls(0.5)
    for _ in range(steps):
        x = (x * w + 0.1).tanh() - 0.01 * x
    return x, w


def time_forward_backward(value_cls, steps, repeats):
    """Best wall time over ``repeats`` of building the chain and backpropagating."""
    best = math.inf
    w_grad = None
    for _ in range(repeats):
        start = time.perf_counter()
        out, w = build_chain(value_cls, steps)
        out.backward()
        best = min(best, time.perf_counter() - start)
        w_grad = w.grad
        del out, w  # free the graph before the next repeat
    return best, w_grad


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 10,000-node graph")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    target_nodes = 10_000 if args.quick else 100_000
    steps = target_nodes // 7  # each step adds 7 nodes: 2 constants and 5 ops
    # The baseline's recursive topological sort needs one frame per graph level.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * target_nodes))

    nodes = len(topological_order(build_chain(Value, steps)[0]))
    print(f"graph: {nodes:,} nodes ({steps:,} unrolled steps), forward + backward, best of {args.repeats}")
    # The closure design creates reference cycles (a node's _backward refers to
    # the node), which makes Python's cyclic garbage collector work hard on big
    # graphs. We show both: the default (collector on) and the pure compute cost.
    for gc_label, gc_on in (("gc on (default)", True), ("gc off", False)):
        gc.enable() if gc_on else gc.disable()
        ours_s, ours_grad = time_forward_backward(Value, steps, args.repeats)
        base_s, base_grad = time_forward_backward(MicroValue, steps, args.repeats)
        if not math.isclose(ours_grad, base_grad, rel_tol=1e-9, abs_tol=1e-12):
            raise SystemExit(f"engines disagree: dL/dw = {ours_grad} (gradkit) vs {base_grad} (baseline)")
        ours_rate, base_rate = nodes / ours_s, nodes / base_s
        print(f"[{gc_label}]")
        print(f"  gradkit Value        : {ours_s * 1e3:8.1f} ms  {ours_rate:12,.0f} nodes/s")
        print(f"  micrograd-style base : {base_s * 1e3:8.1f} ms  {base_rate:12,.0f} nodes/s")
        print(f"  ratio (gradkit / baseline nodes/s): {ours_rate / base_rate:.2f}x")
    gc.enable()


if __name__ == "__main__":
    main()

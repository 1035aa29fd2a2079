"""The graph walk shared by both reverse-mode engines (``Value`` and ``Tensor``).

A node is anything with a ``children`` attribute: the nodes it was computed
from, through which a gradient flows back. Reverse mode visits nodes in
reverse topological order, so each node's gradient is complete before it is
passed on to its children.
"""

from __future__ import annotations

__all__ = ["topological_order"]


def topological_order(root):
    """Return every node reachable from ``root``, each after all of its children.

    A depth-first search with an explicit stack instead of recursion, so graph
    depth is limited by memory, not by Python's recursion limit. Each stack
    entry is (node, expanded): a node is pushed once unexpanded; when popped it
    is pushed again as expanded below its children, and is emitted when that
    second entry is popped, i.e. after all of its children have been emitted.
    """
    order = []
    # Value and Tensor define no __eq__/__hash__, so a set of nodes compares
    # them by identity, exactly like a set of id()s, without an id() call per check.
    visited = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for child in node.children:
            if child not in visited:
                stack.append((child, False))
    return order

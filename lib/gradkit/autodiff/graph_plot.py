"""Draw a ``Value`` computational graph with matplotlib (no graphviz needed).

Each node is a box showing its label/op, data and grad; arrows run from each
input (child) to the node computed from it. Nodes are placed in columns by
depth: inputs in column 0, and every other node one column right of its
deepest input, so all arrows point rightwards, in the order of computation::

    x1, x2 = Value(2.0, label="x1"), Value(3.0, label="x2")
    f = x1 * x2 + x1.sin(); f.label = "f"
    f.backward()
    fig = draw_graph(f)          # shows in Jupyter; fig.savefig("graph.png")
"""

from __future__ import annotations

from gradkit.autodiff.graph import topological_order

__all__ = ["draw_graph"]


def draw_graph(root, ax=None, max_nodes=200):
    """Draw the graph that computed ``root`` and return the matplotlib Figure.

    Args:
        root: the output ``Value``.
        ax: a matplotlib Axes to draw into; by default a new Figure is made
            (with matplotlib.figure.Figure, not pyplot, so no window or global
            state is involved and any backend, Agg included, works).
        max_nodes: refuse larger graphs, whose drawing would be unreadable.
    """
    # matplotlib is imported here, on use: `import gradkit` stays without it
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    order = topological_order(root)
    if len(order) > max_nodes:
        raise ValueError(
            f"draw_graph: the graph has {len(order)} nodes, more than max_nodes={max_nodes}; "
            "draw a smaller example or raise max_nodes"
        )

    # Topological order lists children first, so each child's depth is known
    # by the time its parent is reached.
    depth = {}
    for node in order:
        depth[node] = 1 + max((depth[c] for c in node.children), default=-1)
    columns = {}
    for node in order:
        columns.setdefault(depth[node], []).append(node)
    n_columns = max(columns) + 1
    n_rows = max(len(nodes) for nodes in columns.values())

    if ax is None:
        fig = Figure(figsize=(2.6 * n_columns + 0.5, 1.3 * n_rows + 0.5))
        ax = fig.add_subplot()
    else:
        fig = ax.figure

    position = {}
    for column, nodes in columns.items():
        offset = (n_rows - len(nodes)) / 2  # centre each column vertically
        for row, node in enumerate(nodes):
            position[node] = (column, -(row + offset))

    # Edges first, so the boxes are drawn over the arrow ends.
    for node in order:
        for child in node.children:
            ax.add_patch(
                FancyArrowPatch(
                    position[child], position[node], arrowstyle="-|>", mutation_scale=12,
                    shrinkA=38, shrinkB=38, color="0.35", linewidth=1.0,
                )
            )
    for node in order:
        x, y = position[node]
        ax.text(
            x, y, _node_caption(node), ha="center", va="center", fontsize=9, family="monospace",
            bbox=dict(boxstyle="round,pad=0.4", facecolor="#d8e8f8" if node.children else "#fff2cc",
                      edgecolor="0.3"),
        )

    ax.set_xlim(-0.6, n_columns - 0.4)
    ax.set_ylim(-n_rows + 0.4, 0.6)
    ax.set_axis_off()
    return fig


def _node_caption(node):
    """Name line (label and op), then data and grad, one per line."""
    name = " ".join(part for part in (node.label, f"[{node.op}]" if node.op else "") if part)
    return f"{name or 'input'}\ndata {node.data:.4g}\ngrad {node.grad:.4g}"

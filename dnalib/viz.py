"""Figures for the book: the phylogeny of a community, and plotly settings.

Importing this module sets plotly's default renderer to
``plotly_mimetype+notebook``: an executed notebook then carries both plotly's
own mime type (for JupyterLab) and a self-contained HTML copy with plotly.js
inlined, which is what the static Jupyter Book site can show without a kernel
or internet access (plotly's default mime type alone renders as a blank figure
there).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dnalib.errors import DnalibError

#: The plotly renderer every chapter uses (set when this module is imported).
PLOTLY_RENDERER = "plotly_mimetype+notebook"


def use_book_renderer() -> None:
    """Set plotly's default renderer to :data:`PLOTLY_RENDERER` (done on import)."""
    try:
        import plotly.io as pio
    except ImportError:  # plotly is a dependency, but keep viz importable without it
        return
    pio.renderers.default = PLOTLY_RENDERER


use_book_renderer()


def tree_layout(nodes: pd.DataFrame) -> pd.DataFrame:
    """Coordinates of a rectangular cladogram.

    Leaves get consecutive y positions in depth-first order; an internal node
    sits at the mean y of its children; x is the depth (root at 0).

    Parameters
    ----------
    nodes : pandas.DataFrame
        One row per node, indexed by node id, with a ``parent`` column
        (``None`` for the root), e.g. ``Community.tree.nodes``.

    Returns
    -------
    pandas.DataFrame
        Columns ``x``, ``y``, ``parent``, indexed like *nodes*.
    """
    if "parent" not in nodes.columns:
        raise DnalibError("tree_layout needs a 'parent' column (node id of each node's parent)")
    roots = nodes.index[nodes["parent"].isna()].tolist()
    if len(roots) != 1:
        raise DnalibError(f"a tree has exactly one root (parent None); found {len(roots)}")
    children: dict[Any, list[Any]] = {}
    for node, parent in nodes["parent"].items():
        if parent is not None and not pd.isna(parent):
            children.setdefault(parent, []).append(node)
    x: dict[Any, int] = {}
    y: dict[Any, float] = {}
    next_leaf = 0
    # Iterative post-order walk (no recursion limit on deep trees).
    stack: list[tuple[Any, int, bool]] = [(roots[0], 0, False)]
    while stack:
        node, depth, expanded = stack.pop()
        kids = children.get(node, [])
        x[node] = depth
        if not kids:
            y[node] = float(next_leaf)
            next_leaf += 1
        elif expanded:
            y[node] = sum(y[k] for k in kids) / len(kids)
        else:
            stack.append((node, depth, True))
            stack.extend((k, depth + 1, False) for k in reversed(kids))
    return pd.DataFrame({"x": x, "y": y, "parent": nodes["parent"]}).loc[nodes.index]


def plot_phylogeny(nodes: pd.DataFrame, *, labels: pd.Series | None = None,
                   colors: pd.Series | None = None, ax: Any = None) -> Any:
    """Draw a rectangular cladogram with matplotlib.

    Parameters
    ----------
    nodes : pandas.DataFrame
        Node table with a ``parent`` column (see :func:`tree_layout`).
    labels : pandas.Series, optional
        Text for leaves, indexed by node id (default: the node id).
    colors : pandas.Series, optional
        A matplotlib colour per leaf, indexed by node id.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made if omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    pos = tree_layout(nodes)
    if ax is None:
        n_leaves = int(pos["y"].max()) + 1
        _, ax = plt.subplots(figsize=(7, max(3.0, 0.22 * n_leaves)))
    for _node, row in pos.iterrows():
        parent = row["parent"]
        if parent is None or pd.isna(parent):
            continue
        px, py = pos.at[parent, "x"], pos.at[parent, "y"]
        ax.plot([px, px, row["x"]], [py, row["y"], row["y"]], color="0.45", lw=1)
    has_child = set(pos["parent"].dropna())
    leaves = [n for n in pos.index if n not in has_child]
    for leaf in leaves:
        text = labels.get(leaf, leaf) if labels is not None else leaf
        color = colors.get(leaf, "black") if colors is not None else "black"
        ax.text(pos.at[leaf, "x"] + 0.1, pos.at[leaf, "y"], str(text), va="center",
                fontsize=7, color=color)
    ax.set_xlim(-0.2, pos["x"].max() + 2.2)
    ax.invert_yaxis()
    ax.axis("off")
    return ax

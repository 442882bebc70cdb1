"""Tree layout and plotting helpers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from dnalib.errors import DnalibError  # noqa: E402
from dnalib.viz import PLOTLY_RENDERER, plot_phylogeny, tree_layout  # noqa: E402


def _tree():
    return pd.DataFrame(
        {"parent": [None, "root", "root", "A", "A", "B"]},
        index=["root", "A", "B", "a1", "a2", "b1"],
    )


def test_tree_layout_places_leaves_in_order_and_parents_between_children():
    pos = tree_layout(_tree())
    assert list(pos.loc[["a1", "a2", "b1"], "y"]) == [0.0, 1.0, 2.0]
    assert pos.at["A", "y"] == 0.5 and pos.at["B", "y"] == 2.0
    assert pos.at["root", "y"] == pytest.approx((0.5 + 2.0) / 2)
    assert list(pos.loc[["root", "A", "a1"], "x"]) == [0, 1, 2]


def test_tree_layout_rejects_forests_and_missing_parent_column():
    forest = pd.DataFrame({"parent": [None, None]}, index=["r1", "r2"])
    with pytest.raises(DnalibError, match="exactly one root"):
        tree_layout(forest)
    with pytest.raises(DnalibError, match="parent"):
        tree_layout(pd.DataFrame({"x": [1]}))


def test_plot_phylogeny_draws_every_leaf_label():
    ax = plot_phylogeny(_tree(), labels=pd.Series({"a1": "first"}))
    texts = {t.get_text() for t in ax.texts}
    assert texts == {"first", "a2", "b1"}


def test_plotly_renderer_is_set_on_import():
    import plotly.io as pio

    assert pio.renderers.default == PLOTLY_RENDERER == "plotly_mimetype+notebook"

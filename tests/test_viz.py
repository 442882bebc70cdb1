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


# ---------------------------------------------------------------------------
# Projections, interactive figures, explorer
# ---------------------------------------------------------------------------

import numpy as np  # noqa: E402

from dnalib import viz  # noqa: E402


def _blobs(n_per=30, k=4, d=12, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, (k, d))
    x = np.vstack([c + rng.normal(0, 0.5, (n_per, d)) for c in centers])
    species = np.repeat([f"sp{i}" for i in range(k)], n_per)
    genus = np.repeat([f"g{i // 2}" for i in range(k)], n_per)
    meta = pd.DataFrame({"id": [f"frag{i}" for i in range(len(x))], "genus": genus,
                         "species": species, "gc": rng.random(len(x)), "length": 5000})
    return x, meta


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_project_shapes_determinism_and_separation(method, tmp_path):
    x, meta = _blobs()
    a = viz.project(x, method, cache_dir=tmp_path)
    b = viz.project(x, method, cache=False)
    assert a.shape == (len(x), 2) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)  # cached == recomputed
    # Well-separated blobs stay separated: each point's nearest neighbour is of its species.
    d = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    same = meta["species"].to_numpy()[d.argmin(1)] == meta["species"].to_numpy()
    assert same.mean() > 0.95
    assert viz.project(x, method, n_components=3, cache=False).shape == (len(x), 3)


def test_project_cache_is_keyed_by_input_and_parameters(tmp_path, monkeypatch):
    x, _ = _blobs(n_per=10)
    calls = []
    real = viz._compute_projection

    def counting(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(viz, "_compute_projection", counting)
    viz.project(x, "tsne", perplexity=5, cache_dir=tmp_path)
    viz.project(x, "tsne", perplexity=5, cache_dir=tmp_path)
    assert len(calls) == 1, "the second identical call must come from the cache"
    viz.project(x, "tsne", perplexity=6, cache_dir=tmp_path)
    x2 = x.copy()
    x2[0, 0] += 1e-3
    viz.project(x2, "tsne", perplexity=5, cache_dir=tmp_path)
    viz.project(x, "tsne", perplexity=5, seed=1, cache_dir=tmp_path)
    assert len(calls) == 4, "other parameters, input or seed must not reuse the cache"
    files = list((tmp_path / "projections").glob("tsne-*.npy"))
    assert len(files) == 4
    # A corrupt cache entry is recomputed, not trusted.
    for f in files:
        f.write_bytes(b"not an npy file")
    again = viz.project(x, "tsne", perplexity=5, cache_dir=tmp_path)
    assert len(calls) == 5 and again.shape == (len(x), 2)


def test_project_rejects_bad_input_with_clear_errors():
    x, _ = _blobs(n_per=5)
    with pytest.raises(DnalibError, match="2-D"):
        viz.project(x[0])
    with pytest.raises(DnalibError, match="at least 3 rows"):
        viz.project(x[:2])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DnalibError, match=r"NaN.*rows \[3\]"):
        viz.project(bad, "pca")
    with pytest.raises(DnalibError, match="unknown projection"):
        viz.project(x, "mds")
    with pytest.raises(DnalibError, match="does not take n_neighbors"):
        viz.project(x, "tsne", n_neighbors=5)
    with pytest.raises(DnalibError, match="smaller than the number of points"):
        viz.project(x, "tsne", perplexity=50)
    with pytest.raises(DnalibError, match="smaller than the number of points"):
        viz.project(x, "umap", n_neighbors=len(x))
    with pytest.raises(DnalibError, match="n_components"):
        viz.project(x, "pca", n_components=4)
    # Defaults too large for tiny inputs are lowered instead of failing.
    assert viz.project(x, "tsne", cache=False).shape == (len(x), 2)


def test_scatter_colour_dropdown_and_projection_menu():
    x, meta = _blobs()
    p1, p2 = viz.project(x, "pca", cache=False), viz.project(x, "tsne", cache=False)
    fig = viz.scatter({"PCA": p1, "t-SNE (perplexity=30)": p2}, meta,
                      color_by=["species", "genus"])
    # one trace per species, then one per genus; species shown first
    names = [t.name for t in fig.data]
    assert names == ["sp0", "sp1", "sp2", "sp3", "g0", "g1"]
    assert [t.visible for t in fig.data] == [True] * 4 + [False] * 2
    colour, proj = fig.layout.updatemenus
    assert [b.label for b in colour.buttons] == ["colour by species", "colour by genus"]
    assert colour.buttons[1].args[0]["visible"] == [False] * 4 + [True] * 2
    # the projection buttons move every trace's points to the other projection
    upd = proj.buttons[1].args[0]
    sp1 = np.flatnonzero(meta["species"] == "sp1")
    np.testing.assert_allclose(upd["x"][1], p2[sp1, 0])
    np.testing.assert_allclose(upd["y"][5], p2[np.flatnonzero(meta["genus"] == "g1"), 1])
    assert proj.buttons[1].args[1]["xaxis.title.text"] == "t-SNE 1"
    # hover shows the id, the ranks, GC and length
    t = fig.data[0]
    assert "customdata[4]" in t.hovertemplate and t.customdata[0][0] == "frag0"
    assert list(t.customdata[0][1:3]) == ["g0", "sp0"]
    assert colour.type == "dropdown" and proj.type == "dropdown"
    # buttons and slider variants, and 3D
    fig = viz.scatter({"a": p1, "b": p2}, meta, control="buttons")
    assert fig.layout.updatemenus[1].type == "buttons"
    fig = viz.scatter({"a": p1, "b": p2}, meta, control="slider")
    assert len(fig.layout.sliders[0].steps) == 2
    fig3 = viz.scatter(viz.project(x, "pca", n_components=3, cache=False), meta)
    assert fig3.data[0].type == "scatter3d"


def test_scatter_highlight_and_validation():
    x, meta = _blobs()
    p = viz.project(x, "pca", cache=False)
    fig = viz.scatter(p, meta, color_by="species", highlight=("genus", "g1"))
    assert [t.marker.opacity for t in fig.data] == [0.15, 0.15, 0.85, 0.85]
    with pytest.raises(DnalibError, match="no point has genus == 'g9'"):
        viz.scatter(p, meta, highlight=("genus", "g9"))
    with pytest.raises(DnalibError, match="meta has 120 rows but the projection has 119"):
        viz.scatter(p[:-1], meta)
    with pytest.raises(DnalibError, match="lacks"):
        viz.scatter(p, meta, color_by="phylum")
    with pytest.raises(DnalibError, match="same shape"):
        viz.scatter({"a": p, "b": p[:-1]}, meta)


def test_compare_shares_one_legend_across_panels():
    x, meta = _blobs()
    fig = viz.compare({"A": viz.project(x, "pca", cache=False),
                       "B": viz.project(x[:, :6], "pca", cache=False)}, meta)
    assert len(fig.data) == 8
    assert [t.showlegend for t in fig.data] == [True] * 4 + [False] * 4
    assert {t.legendgroup for t in fig.data} == {"sp0", "sp1", "sp2", "sp3"}
    assert [a.text for a in fig.layout.annotations] == ["A", "B"]


def test_explorer_recomputes_when_controls_change(tmp_path, monkeypatch):
    monkeypatch.setenv("DNALIB_CACHE", str(tmp_path))
    x, meta = _blobs(n_per=15)
    ex = viz.Explorer({"full": x, "half": x[:, :6]}, meta, method="pca")
    first = ex.coords.copy()
    assert ex.controls["perplexity"].layout.display == "none"
    # the figure is the Output widget's single output, in plotly's mime type
    (out,) = ex.output.outputs
    assert "application/vnd.plotly.v1+json" in out["data"]
    ex.controls["model"].value = "half"
    assert not np.allclose(ex.coords, first)
    ex.controls["method"].value = "tsne"
    assert ex.controls["perplexity"].layout.display is None
    assert "t-SNE" in ex.figure.layout.title.text
    ex.controls["rank"].value = "genus"
    assert [t.name for t in ex.figure.data] == ["g0", "g1"]
    assert ex.controls["highlight"].options == ("(none)", "g0", "g1")
    ex.controls["highlight"].value = "g1"
    assert [t.marker.opacity for t in ex.figure.data] == [0.15, 0.85]
    ex.controls["dims"].value = 3
    assert ex.coords.shape == (len(x), 3) and ex.figure.data[0].type == "scatter3d"
    with pytest.raises(DnalibError, match="same sequences"):
        viz.Explorer({"a": x, "b": x[:-1]}, meta)


def test_book_renderer_loads_nothing_from_a_cdn():
    import plotly.graph_objects as go
    import plotly.io as pio

    viz.use_book_renderer()
    bundle = pio.renderers["notebook"].to_mimebundle(go.Figure(go.Scatter(x=[1], y=[2])).to_dict())
    assert "Plotly.newPlot" in bundle["text/html"]
    assert "cdnjs" not in bundle["text/html"] and "https://" not in bundle["text/html"].split(
        "Plotly.newPlot")[0]


def test_paired_differences_forest_plot_draws_every_asked_comparison():
    import matplotlib

    matplotlib.use("Agg")
    from dnalib.viz import plot_paired_differences

    comp = lambda a, b, d, lo, hi: {"a": a, "b": b, "difference": d, "interval": [lo, hi],  # noqa: E731
                                    "n_species": 60}
    record = {"sets": {"validation": {"comparisons": [comp("map", "kmer6", 0.06, 0.02, 0.1),
                                                       comp("cur", "sim", 0.0, -0.01, 0.02)]},
                       "kmcp15": {"comparisons": [comp("map", "kmer6", 0.08, 0.03, 0.14)]}}}
    ax = plot_paired_differences(record, target=0.05)
    ax.figure.canvas.draw()  # drawing is where a bad colour or style argument fails
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 3 and labels[0].startswith("map − kmer6 (validation")
    ax = plot_paired_differences(record, pairs=[("map", "kmer6")])
    assert [t.get_text().split(" (")[1].split(",")[0] for t in ax.get_yticklabels()] == ["validation", "kmcp15"]
    with pytest.raises(DnalibError, match="none of the comparisons"):
        plot_paired_differences(record, pairs=[("x", "y")])


# --- the error grid's heat map ---------------------------------------------------------------------


def _grid_record():
    rows = []
    for length in (2000, 1000):
        for err in ("clean", "longread10"):
            rows.append({"set": "validation", "length": length, "errors": err, "model": "kmer6", "ari": 0.3})
            for m, d in (("map", 0.1), ("tnf", -0.02)):
                rows.append({"set": "validation", "length": length, "errors": err, "model": m, "ari": 0.3 + d,
                             "vs_kmer6": {"difference": d, "interval": [d - 0.05, d + 0.05], "ari_b": 0.3}})
    rows.append({"set": "kmcp15", "length": 1000, "errors": "clean", "model": "map", "ari": 0.5,
                 "vs_kmer6": {"difference": -0.2, "interval": [-0.3, -0.1], "ari_b": 0.7}})
    return {"settings": {"baseline": "kmer6"}, "rows": rows}


def test_grid_differences_marks_resolved_cells_and_skips_the_baseline():
    from dnalib.viz import grid_differences

    table = grid_differences(_grid_record())
    assert set(table["model"]) == {"map", "tnf"} and len(table) == 9
    assert set(table.loc[table["model"] == "map", "resolved"]) == {"+", "-"}  # validation +, kmcp15 -
    assert set(table.loc[table["model"] == "tnf", "resolved"]) == {""}
    assert len(grid_differences(_grid_record(), set_name="kmcp15")) == 1
    with pytest.raises(DnalibError, match="no row compared with kmer6 on set 'other'"):
        grid_differences(_grid_record(), set_name="other")


def test_grid_heat_map_orders_cells_by_length_then_errors_and_prints_marks():
    from dnalib.viz import plot_grid_differences

    fig = plot_grid_differences(_grid_record(), "validation", models=["tnf", "map"])
    heat = fig.data[0]
    assert list(heat.x) == ["1 kbp, clean", "1 kbp, longread10", "2 kbp, clean", "2 kbp, longread10"]
    assert list(heat.y) == ["tnf", "map"]
    assert heat.text[1][0] == "+0.100+" and heat.text[0][0] == "-0.020"
    assert "[+0.050, +0.150]" in heat.hovertext[1][0]
    with pytest.raises(DnalibError, match="no rows for model"):
        plot_grid_differences(_grid_record(), "validation", models=["nope"])


def _halves_record():
    """Rows with real stored halves: 8 species, 'good' separates them, 'mid' less, 'bad' not."""
    from dnalib.evaluate import clustering_halves, compact_halves

    rng = np.random.default_rng(0)
    species = np.repeat([f"s{i}" for i in range(8)], 6)
    centres = rng.normal(size=(8, 5)) * 4
    noise = {"good": 0.3, "mid": 1.5, "bad": 30.0}
    rows, sides = [], {}
    for err in ("clean", "longread10"):
        for model, scale in noise.items():
            x = centres[np.repeat(np.arange(8), 6)] + rng.normal(size=(48, 5)) * scale
            side = clustering_halves(x, species, draws=10, seeds=[0])
            sides[err, model] = side
            rows.append({"set": "validation", "length": 1000, "errors": err, "model": model,
                         "ari": float(np.mean(side["full"])), "halves": compact_halves(side)})
    rows.append({"set": "validation", "length": 1000, "errors": "clean", "model": "old", "ari": 0.1})
    return {"settings": {"baseline": "kmer6", "level": 0.95}, "rows": rows}, sides


def test_grid_differences_against_the_best_of_several_pairs_the_stored_halves():
    from dnalib.evaluate import paired_difference
    from dnalib.viz import grid_differences, plot_grid_differences

    record, sides = _halves_record()
    table = grid_differences(record, against=["mid", "bad"])
    # the best candidate of each cell is the reference; candidates and rows without halves are left out
    assert set(table["model"]) == {"good"} and set(table["reference"]) == {"mid"}
    want = paired_difference(sides["clean", "good"], sides["clean", "mid"])
    got = table[table["errors"] == "clean"].iloc[0]
    assert got["difference"] == pytest.approx(want["difference"])
    assert [got["low"], got["high"]] == pytest.approx(want["interval"])
    assert got["resolved"] == ("+" if want["interval"][0] > 0 else "")
    assert set(grid_differences(record, against="good")["model"]) == {"mid", "bad"}
    fig = plot_grid_differences(record, "validation", against=["mid", "bad"])
    assert "(mid)" in fig.data[0].hovertext[0][0] and "best of mid, bad" in fig.layout.title.text
    with pytest.raises(DnalibError, match="need their halves"):
        grid_differences(record, against="nobody")


def test_grid_differences_refuses_halves_of_other_draws():
    from dnalib.viz import grid_differences

    record, _ = _halves_record()
    record["rows"][0]["halves"]["seeds"] = [7]
    with pytest.raises(DnalibError, match="other samples or halves"):
        grid_differences(record, against="mid")

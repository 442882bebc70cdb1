"""Figures for the book: projections of embeddings, interactive plotly scatter
plots, a JupyterLab explorer, and the phylogeny of a community.

- :func:`project` maps embeddings to 2 or 3 dimensions with PCA, t-SNE or UMAP
  and caches the result on disk, keyed by a hash of the input and the settings.
- :func:`scatter` draws one or several projections of the same points as a
  plotly figure that stays interactive on the static site (no kernel): hover
  text, a dropdown to colour by any taxonomic rank, buttons or a slider to
  switch between projections; :func:`compare` puts several models side by side.
- :class:`Explorer` is the ipywidgets version for JupyterLab: it recomputes
  projections live when a control changes.

Importing this module sets plotly's default renderer to
``plotly_mimetype+notebook``: an executed notebook then carries both plotly's
own mime type (for JupyterLab) and a self-contained HTML copy with plotly.js
inlined, which is what the static Jupyter Book site can show without a kernel
or internet access (plotly's default mime type alone renders as a blank figure
there).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnalib.errors import DnalibError

#: The plotly renderer every chapter uses (set when this module is imported).
PLOTLY_RENDERER = "plotly_mimetype+notebook"


#: plotly's notebook renderer loads MathJax from cdnjs with every figure, which a
#: site that must work offline cannot have (the book serves its own MathJax).
_CDN_MATHJAX = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"></script>')


def _offline_notebook_renderer() -> Any:
    from plotly.io._base_renderers import NotebookRenderer

    class OfflineNotebookRenderer(NotebookRenderer):
        """plotly's ``notebook`` renderer without the MathJax script from a CDN."""

        def to_mimebundle(self, fig_dict: Any) -> dict[str, Any]:
            bundle = super().to_mimebundle(fig_dict)
            if "text/html" in bundle:
                bundle["text/html"] = _CDN_MATHJAX.sub("", bundle["text/html"])
            return bundle

    return OfflineNotebookRenderer(connected=False)


def use_book_renderer() -> None:
    """Set plotly's default renderer to :data:`PLOTLY_RENDERER` (done on import).

    The ``notebook`` part is replaced by a renderer that leaves out the
    ``<script>`` plotly adds to load MathJax from cdnjs.com with every figure,
    so that the static site makes no request to the internet (figure text here
    uses no LaTeX; pages with formulas get the site's own MathJax).
    """
    try:
        import plotly.io as pio
    except ImportError:  # plotly is a dependency, but keep viz importable without it
        return
    if type(pio.renderers["notebook"]).__name__ != "OfflineNotebookRenderer":
        pio.renderers["notebook"] = _offline_notebook_renderer()
    pio.renderers.default = PLOTLY_RENDERER


use_book_renderer()


# ---------------------------------------------------------------------------
# Projections
# ---------------------------------------------------------------------------

#: Projection methods known to :func:`project`.
PROJECTIONS = ("pca", "tsne", "umap")

#: Parameters each method accepts, with their defaults (t-SNE's perplexity and
#: UMAP's n_neighbors are lowered automatically for very small inputs).
PROJECTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "pca": {},
    "tsne": {"perplexity": 30.0},
    "umap": {"n_neighbors": 15, "min_dist": 0.1},
}

#: Version tag mixed into every cache key; bump it when the computation changes.
_CACHE_VERSION = 1


def _as_matrix(embeddings: Any) -> np.ndarray:
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise DnalibError(
            f"embeddings must be a 2-D array (one row per sequence); got shape {x.shape}"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise DnalibError(f"embeddings must be numeric; got dtype {x.dtype}")
    if x.shape[0] < 3 or x.shape[1] < 1:
        raise DnalibError(
            f"a projection needs at least 3 rows and 1 column; got shape {x.shape}"
        )
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        raise DnalibError(
            f"embeddings contain NaN or infinite values (rows {bad[:5].tolist()}); "
            "check the model or drop those rows"
        )
    return x


def _projection_params(method: str, n: int, params: Mapping[str, Any]) -> dict[str, Any]:
    if method not in PROJECTION_DEFAULTS:
        raise DnalibError(f"unknown projection {method!r}: choose one of {', '.join(PROJECTIONS)}")
    allowed = PROJECTION_DEFAULTS[method]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise DnalibError(
            f"{method} does not take {', '.join(unknown)}; its parameters are "
            f"{', '.join(allowed) or 'none'}"
        )
    out = {**allowed, **params}
    if method == "tsne":
        perplexity = float(out["perplexity"])
        if perplexity <= 0:
            raise DnalibError(f"perplexity must be > 0; got {perplexity}")
        if "perplexity" in params and perplexity >= n:
            raise DnalibError(
                f"perplexity {perplexity:g} must be smaller than the number of points ({n})"
            )
        out["perplexity"] = min(perplexity, (n - 1) / 3)
    elif method == "umap":
        k = int(out["n_neighbors"])
        if k < 2:
            raise DnalibError(f"n_neighbors must be >= 2; got {k}")
        if "n_neighbors" in params and k >= n:
            raise DnalibError(f"n_neighbors {k} must be smaller than the number of points ({n})")
        out["n_neighbors"] = min(k, n - 1)
        out["min_dist"] = float(out["min_dist"])
        if not 0 <= out["min_dist"] <= 1:
            raise DnalibError(f"min_dist must be in [0, 1]; got {out['min_dist']}")
    return out


def _cache_key(x: np.ndarray, method: str, n_components: int, seed: int, normalize: bool,
               params: Mapping[str, Any]) -> str:
    import sklearn

    versions: dict[str, str] = {"sklearn": sklearn.__version__}
    if method == "umap":
        from importlib.metadata import version

        versions["umap"] = version("umap-learn")
    h = hashlib.sha256()
    h.update(json.dumps({"v": _CACHE_VERSION, "method": method, "d": n_components,
                         "seed": seed, "normalize": normalize, "params": dict(sorted(params.items())),
                         "shape": list(x.shape), "versions": versions},
                        sort_keys=True).encode())
    h.update(x.tobytes())
    return h.hexdigest()[:32]


def _compute_projection(x: np.ndarray, method: str, n_components: int, seed: int,
                        params: Mapping[str, Any]) -> np.ndarray:
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=n_components, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE
        from threadpoolctl import threadpool_limits

        # Barnes-Hut t-SNE synchronises its OpenMP threads 1000 times; on a busy
        # 2-core machine a descheduled thread stalls every barrier (measured: 40 s
        # instead of 0.3 s for 40 points). One thread is as fast for book-sized inputs.
        with threadpool_limits(limits=1 if len(x) <= 20_000 else None, user_api="openmp"):
            return TSNE(n_components=n_components, perplexity=params["perplexity"], init="pca",
                        random_state=seed).fit_transform(x)
    import warnings

    with warnings.catch_warnings():
        # umap-learn warns that a fixed random_state disables parallelism: that is the point.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        import umap

        reducer = umap.UMAP(n_components=n_components, n_neighbors=params["n_neighbors"],
                            min_dist=params["min_dist"], random_state=seed)
        return reducer.fit_transform(x)


def project(embeddings: Any, method: str = "umap", *, n_components: int = 2, seed: int = 0,
            normalize: bool = True, cache: bool = True,
            cache_dir: str | os.PathLike[str] | None = None, **params: Any) -> np.ndarray:
    """Project embeddings to 2 or 3 dimensions, cached on disk.

    Parameters
    ----------
    embeddings : array-like
        Shape (n, d): one row per sequence (at least 3 rows, all values finite).
    method : str
        ``"pca"``, ``"tsne"`` or ``"umap"``: PCA (linear, shows global structure), t-SNE (scikit-learn, PCA
        initialisation) or UMAP (umap-learn).
    n_components : int
        Output dimension, 2 or 3.
    seed : int
        Random state of t-SNE / UMAP (the result is deterministic for a seed).
    normalize : bool
        Scale rows to unit length first (default), so the projection sees the
        geometry that :mod:`dnalib.evaluate` clusters (cosine similarity).
    cache : bool
        Read and write the on-disk cache (``<dnalib cache>/projections/``).
        The key is a SHA-256 of the input bytes, the method, its parameters,
        the seed and the library versions, so a changed input never reuses a
        stale projection.
    cache_dir : path-like, optional
        Cache root (default: :func:`dnalib.datasets.cache_root`).
    **params
        Method parameters (see :data:`PROJECTION_DEFAULTS`): ``perplexity`` for
        t-SNE; ``n_neighbors`` and ``min_dist`` for UMAP. Defaults larger than
        the data allows are lowered; values you pass explicitly are checked.

    Returns
    -------
    numpy.ndarray
        Shape (n, n_components), float32.
    """
    method = str(method).lower().replace("-", "")
    if n_components not in (2, 3):
        raise DnalibError(f"n_components must be 2 or 3; got {n_components!r}")
    x = _as_matrix(embeddings)
    params = _projection_params(method, x.shape[0], params)
    if normalize:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    path: Path | None = None
    if cache:
        from dnalib.datasets import cache_root

        key = _cache_key(x, method, n_components, int(seed), normalize, params)
        path = cache_root(cache_dir).parent / "projections" / f"{method}-{key}.npy"
        if path.exists():
            try:
                out = np.load(path)
                if out.shape == (x.shape[0], n_components):
                    return out
            except (OSError, ValueError):
                pass  # unreadable cache entry: recompute and overwrite it
    out = np.asarray(_compute_projection(x, method, n_components, int(seed), params),
                     dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, out)
        os.replace(tmp, path)
    return out


def projection_label(method: str, **params: Any) -> str:
    """A short human label for a projection setting, e.g. ``"UMAP (n_neighbors=15, min_dist=0.1)"``."""
    name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}.get(method.lower().replace("-", ""),
                                                               method)
    if not params:
        return name
    return f"{name} ({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in params.items())})"


# ---------------------------------------------------------------------------
# Interactive plotly figures
# ---------------------------------------------------------------------------

def _palette(n: int) -> list[str]:
    from plotly.colors import qualitative as q

    base = q.Plotly + q.D3 + q.Alphabet + q.Dark24 + q.Light24
    return [base[i % len(base)] for i in range(n)]


def _check_meta(meta: pd.DataFrame, n: int, columns: Sequence[str], what: str) -> None:
    if not isinstance(meta, pd.DataFrame):
        raise DnalibError("meta must be a pandas DataFrame with one row per point")
    if len(meta) != n:
        raise DnalibError(f"meta has {len(meta)} rows but the projection has {n} points")
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise DnalibError(
            f"{what} names column(s) {missing} that meta lacks; its columns are {list(meta.columns)}"
        )


def _variants(projections: Any) -> dict[str, np.ndarray]:
    if isinstance(projections, Mapping):
        items = {str(k): np.asarray(v) for k, v in projections.items()}
    else:
        items = {"projection": np.asarray(projections)}
    if not items:
        raise DnalibError("give at least one projection")
    shapes = {k: v.shape for k, v in items.items()}
    first = next(iter(items.values()))
    if first.ndim != 2 or first.shape[1] not in (2, 3):
        raise DnalibError(f"a projection has shape (n, 2) or (n, 3); got {first.shape}")
    if any(v.shape != first.shape for v in items.values()):
        raise DnalibError(f"all projections must have the same shape; got {shapes}")
    return items


def _hover(meta: pd.DataFrame, hover: Sequence[str]) -> tuple[np.ndarray, str]:
    cols = list(hover)
    data = np.empty((len(meta), len(cols)), dtype=object)
    lines = []
    for j, c in enumerate(cols):
        values = meta[c].to_numpy()
        if pd.api.types.is_float_dtype(meta[c]):
            values = np.array([f"{v:.3g}" for v in values], dtype=object)
        data[:, j] = values
        lines.append(f"<b>%{{customdata[{j}]}}</b>" if j == 0 else f"{c}: %{{customdata[{j}]}}")
    return data, "<br>".join(lines) + "<extra></extra>"


def default_hover(meta: pd.DataFrame) -> list[str]:
    """The hover columns :func:`scatter` shows by default: an id column, every
    taxonomic rank present, ``gc`` and ``length``."""
    from dnalib.io import GENOME_RANKS as RANKS

    cols = [c for c in ("id", "name") if c in meta.columns][:1]
    cols += [r for r in RANKS if r in meta.columns]
    cols += [c for c in ("gc", "length") if c in meta.columns]
    return cols or list(meta.columns[:5])


def scatter(projections: Any, meta: pd.DataFrame, *, color_by: Sequence[str] | str | None = None,
            hover: Sequence[str] | None = None, highlight: tuple[str, Any] | None = None,
            control: str = "dropdown", title: str | None = None, point_size: float = 6,
            height: int = 560) -> Any:
    """An interactive scatter plot of one or several projections of the same points.

    Interactivity is plotly's own (dropdowns, buttons, sliders), so it works on
    the static site without a Python kernel:

    - one trace per category of each colouring rank, with a legend (click a
      taxon to hide it, double-click to isolate it);
    - a dropdown "colour by" switching between the ranks in *color_by*;
    - when several projections are given, a second dropdown (or buttons, or a
      slider) switching between them; the colouring chosen is kept.

    Parameters
    ----------
    projections : numpy.ndarray or mapping
        The coordinates, shape (n, 2) or (n, 3), or a mapping of label to such
        arrays; several arrays must be projections of the same points
        in the same order (e.g. UMAP with different ``n_neighbors``). Three
        columns make a 3D figure.
    meta : pandas.DataFrame
        One row per point (same order): ranks to colour by and hover columns.
    color_by : str or sequence of str, optional
        Columns to colour by, the first shown first (default: the taxonomic
        ranks in *meta*, species first).
    hover : sequence of str, optional
        Columns shown on hover (default :func:`default_hover`).
    highlight : tuple, optional
        ``(column, value)``: draw points with ``meta[column] == value`` normally and the rest faded.
    control : str
        How to switch between several projections: ``"dropdown"`` (default, any
        number of settings), ``"buttons"`` (one row: a few short labels) or
        ``"slider"`` (settings that are steps of one parameter).
    title : str, optional
    point_size : float
    height : int
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    from dnalib.io import GENOME_RANKS as RANKS

    variants = _variants(projections)
    names = list(variants)
    coords0 = variants[names[0]]
    n, dim = coords0.shape
    if color_by is None:
        color_by = [r for r in reversed(RANKS) if r in meta.columns] or [meta.columns[0]]
    elif isinstance(color_by, str):
        color_by = [color_by]
    color_by = list(color_by)
    hover = default_hover(meta) if hover is None else list(hover)
    _check_meta(meta, n, color_by, "color_by")
    _check_meta(meta, n, hover, "hover")
    if highlight is not None:
        _check_meta(meta, n, [highlight[0]], "highlight")
        if not (meta[highlight[0]] == highlight[1]).any():
            raise DnalibError(f"no point has {highlight[0]} == {highlight[1]!r}")
    if control not in ("dropdown", "buttons", "slider"):
        raise DnalibError(f"control must be 'dropdown', 'buttons' or 'slider'; got {control!r}")
    custom, template = _hover(meta.reset_index(drop=True), hover)
    focus = (np.ones(n, bool) if highlight is None
             else (meta[highlight[0]] == highlight[1]).to_numpy())

    fig = go.Figure()
    members: list[np.ndarray] = []  # point indices of each trace
    rank_of: list[str] = []
    for rank in color_by:
        values = meta[rank].astype(str).to_numpy()
        cats = sorted(pd.unique(values))
        colors = dict(zip(cats, _palette(len(cats)), strict=True))
        for cat in cats:
            idx = np.flatnonzero(values == cat)
            members.append(idx)
            rank_of.append(rank)
            faded = highlight is not None and not focus[idx].any()
            marker = {"size": point_size if dim == 2 else point_size / 2,
                      "color": colors[cat], "opacity": 0.15 if faded else 0.85}
            common = {"name": cat, "legendgroup": f"{rank}:{cat}", "customdata": custom[idx],
                      "hovertemplate": template, "marker": marker,
                      "visible": rank == color_by[0], "mode": "markers",
                      "legendgrouptitle_text": rank if cat == cats[0] else None}
            if dim == 2:
                fig.add_trace(go.Scatter(x=coords0[idx, 0], y=coords0[idx, 1], **common))
            else:
                fig.add_trace(go.Scatter3d(x=coords0[idx, 0], y=coords0[idx, 1],
                                           z=coords0[idx, 2], **common))
    menus: list[dict[str, Any]] = []
    if len(color_by) > 1:
        menus.append({
            "type": "dropdown", "direction": "down", "x": 0.0, "xanchor": "left",
            "y": 1.0, "yanchor": "bottom", "showactive": True, "active": 0,
            "pad": {"t": 4, "b": 4}, "name": "colour by",
            "buttons": [{"label": f"colour by {rank}", "method": "restyle",
                         "args": [{"visible": [r == rank for r in rank_of]}]}
                        for rank in color_by],
        })

    def coords_update(name: str) -> dict[str, Any]:
        c = variants[name]
        upd: dict[str, Any] = {"x": [c[i, 0] for i in members], "y": [c[i, 1] for i in members]}
        if dim == 3:
            upd["z"] = [c[i, 2] for i in members]
        return upd

    def axis_titles(name: str) -> dict[str, Any]:
        base = name.split(" (")[0]
        if dim == 2:
            return {"xaxis.title.text": f"{base} 1", "yaxis.title.text": f"{base} 2"}
        return {f"scene.{a}axis.title.text": f"{base} {i}" for i, a in enumerate("xyz", 1)}

    if len(names) > 1:
        if control in ("dropdown", "buttons"):
            # A dropdown fits any number of settings; buttons sit in one row (a few
            # short labels only: plotly does not wrap them).
            menus.append({
                "type": control, "direction": "down" if control == "dropdown" else "right",
                "x": 0.32 if len(color_by) > 1 else 0.0, "xanchor": "left",
                "y": 1.0, "yanchor": "bottom", "showactive": True, "active": 0,
                "pad": {"t": 4, "b": 4}, "name": "projection",
                "buttons": [{"label": name, "method": "update",
                             "args": [coords_update(name), axis_titles(name)]} for name in names],
            })
        else:
            fig.update_layout(sliders=[{
                "active": 0, "pad": {"t": 40}, "currentvalue": {"prefix": ""},
                "steps": [{"label": name, "method": "update",
                           "args": [coords_update(name), axis_titles(name)]} for name in names],
            }])
    layout: dict[str, Any] = {
        "height": height, "template": "plotly_white", "updatemenus": menus,
        "legend": {"itemsizing": "constant", "groupclick": "toggleitem"},
        "margin": {"t": 90 if menus else 50, "l": 10, "r": 10, "b": 10},
        "title": {"text": title or names[0], "y": 0.98, "yanchor": "top"},
    }
    fig.update_layout(**layout)
    fig.update_layout(**{k.replace(".text", "").replace(".", "_"): v
                         for k, v in axis_titles(names[0]).items()})
    if dim == 2:
        fig.update_xaxes(showticklabels=False, zeroline=False)
        fig.update_yaxes(showticklabels=False, zeroline=False)
    return fig


def compare(projections: Mapping[str, Any], meta: pd.DataFrame, *, color_by: str = "species",
            hover: Sequence[str] | None = None, cols: int | None = None,
            point_size: float = 5, height: int = 420) -> Any:
    """Several models' projections of the same points side by side (2D).

    Points are coloured by *color_by* with one shared legend: clicking a taxon
    hides it in every panel, so a species can be followed across models.

    Parameters
    ----------
    projections : mapping
        Panel title to projection, shape (n, 2): one per model, rows in the
        same order as *meta*.
    meta : pandas.DataFrame
        One row per point.
    color_by : str
        Column to colour by.
    hover : sequence of str, optional
        Hover columns (default :func:`default_hover`).
    cols : int, optional
        Panels per row (default: all in one row, at most 3).
    point_size : float
    height : int
        Height of one row of panels in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not isinstance(projections, Mapping) or not projections:
        raise DnalibError("compare needs a mapping of panel title -> projection")
    arrays = {str(k): np.asarray(v) for k, v in projections.items()}
    n = len(meta)
    for name, a in arrays.items():
        if a.ndim != 2 or a.shape[1] != 2:
            raise DnalibError(f"projection {name!r} must have shape (n, 2); got {a.shape}")
    hover = default_hover(meta) if hover is None else list(hover)
    for name, a in arrays.items():
        _check_meta(meta, a.shape[0], [color_by], f"projection {name!r} / color_by")
    _check_meta(meta, n, hover, "hover")
    custom, template = _hover(meta.reset_index(drop=True), hover)
    cols = cols or min(3, len(arrays))
    rows = -(-len(arrays) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(arrays),
                        horizontal_spacing=0.03, vertical_spacing=0.08)
    values = meta[color_by].astype(str).to_numpy()
    cats = sorted(pd.unique(values))
    colors = dict(zip(cats, _palette(len(cats)), strict=True))
    for p, (_name, a) in enumerate(arrays.items()):
        r, c = divmod(p, cols)
        for cat in cats:
            idx = np.flatnonzero(values == cat)
            fig.add_trace(go.Scatter(
                x=a[idx, 0], y=a[idx, 1], mode="markers", name=cat, legendgroup=cat,
                showlegend=p == 0, customdata=custom[idx], hovertemplate=template,
                marker={"size": point_size, "color": colors[cat], "opacity": 0.85}),
                row=r + 1, col=c + 1)
    fig.update_xaxes(showticklabels=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, zeroline=False)
    fig.update_layout(height=height * rows, template="plotly_white",
                      legend={"itemsizing": "constant", "title": {"text": color_by}},
                      margin={"t": 40, "l": 10, "r": 10, "b": 10})
    return fig


# ---------------------------------------------------------------------------
# JupyterLab explorer
# ---------------------------------------------------------------------------

class Explorer:
    """An ipywidgets explorer of embeddings for JupyterLab (needs a running kernel).

    Controls: the model (one of *embeddings*), the projection and its
    parameters (t-SNE perplexity; UMAP n_neighbors and min_dist), 2D or 3D, the
    rank to colour by and a taxon to highlight. Changing a control recomputes
    the projection (cached by :func:`project`, so going back is instant) and
    redraws the :func:`scatter` figure below the controls.

    On the static site the saved widgets show their last state but do not
    respond (there is no kernel); :func:`scatter` figures stay interactive there.

    Parameters
    ----------
    embeddings : mapping
        Model name to embeddings, shape (n, d): the same n sequences by each model.
    meta : pandas.DataFrame
        One row per sequence: ranks and hover columns.
    ranks : sequence of str, optional
        Columns offered for colouring (default: the taxonomic ranks in *meta*,
        species first).
    hover : sequence of str, optional
        Hover columns (default :func:`default_hover`).
    method : str
        Projection shown first: ``"pca"``, ``"tsne"`` or ``"umap"``.
    seed : int
        Random state of the projections.

    Examples
    --------
    >>> Explorer({"TNF": tnf, "contrastive": emb}, table)   # doctest: +SKIP
    """

    def __init__(self, embeddings: Mapping[str, Any], meta: pd.DataFrame, *,
                 ranks: Sequence[str] | None = None, hover: Sequence[str] | None = None,
                 method: str = "umap", seed: int = 0) -> None:
        import ipywidgets as w

        from dnalib.io import GENOME_RANKS

        if not isinstance(embeddings, Mapping) or not embeddings:
            raise DnalibError("Explorer needs a mapping of model name -> embeddings")
        self.embeddings = {str(k): _as_matrix(v) for k, v in embeddings.items()}
        sizes = {k: v.shape[0] for k, v in self.embeddings.items()}
        if len(set(sizes.values())) != 1:
            raise DnalibError(f"every model must embed the same sequences; row counts {sizes}")
        n = next(iter(sizes.values()))
        if ranks is None:
            ranks = [r for r in reversed(GENOME_RANKS) if r in meta.columns]
        self.ranks = list(ranks)
        if not self.ranks:
            raise DnalibError("no rank column to colour by: pass ranks=[...] naming columns of meta")
        self.hover = default_hover(meta) if hover is None else list(hover)
        _check_meta(meta, n, self.ranks, "ranks")
        _check_meta(meta, n, self.hover, "hover")
        method = method.lower().replace("-", "")
        if method not in PROJECTIONS:
            raise DnalibError(f"unknown projection {method!r}: choose one of {', '.join(PROJECTIONS)}")
        self.meta = meta.reset_index(drop=True)
        self.seed = int(seed)
        self.figure: Any = None
        self.coords: np.ndarray | None = None
        style = {"description_width": "initial"}
        # Toggle buttons as wide as their labels, in a box as wide as they are: the default (a
        # fixed-width box) wraps the three projection buttons onto two rows.
        buttons = {**style, "button_width": "auto"}
        max_perp = max(2.0, min(50.0, (n - 1) / 3))
        self.controls = {
            "model": w.Dropdown(options=list(self.embeddings), description="model", style=style),
            "method": w.ToggleButtons(options=[("PCA", "pca"), ("t-SNE", "tsne"), ("UMAP", "umap")],
                                      value=method, description="projection", style=buttons,
                                      layout=w.Layout(width="auto")),
            "perplexity": w.FloatSlider(value=min(30.0, max_perp), min=2.0, max=max_perp, step=1.0,
                                        description="perplexity", continuous_update=False,
                                        style=style),
            "n_neighbors": w.IntSlider(value=min(15, n - 1), min=2, max=max(2, min(100, n - 1)),
                                       description="n_neighbors", continuous_update=False,
                                       style=style),
            "min_dist": w.FloatSlider(value=0.1, min=0.0, max=0.99, step=0.05,
                                      description="min_dist", continuous_update=False, style=style),
            "dims": w.ToggleButtons(options=[("2D", 2), ("3D", 3)], value=2, description="view",
                                    style=buttons, layout=w.Layout(width="auto")),
            "rank": w.Dropdown(options=self.ranks, description="colour by", style=style),
            "highlight": w.Dropdown(options=["(none)"], description="highlight", style=style),
        }
        self.status = w.HTML()
        self.output = w.Output()
        self._set_highlight_options()
        c = self.controls
        self.widget = w.VBox([
            w.HBox([c["model"], c["method"], c["dims"]]),
            w.HBox([c["perplexity"], c["n_neighbors"], c["min_dist"]]),
            w.HBox([c["rank"], c["highlight"]]),
            self.status, self.output,
        ])
        c["rank"].observe(self._on_rank, names="value")
        for name, control in c.items():
            if name != "rank":
                control.observe(self.update, names="value")
        self.update()

    def _set_highlight_options(self) -> None:
        rank = self.controls["rank"].value
        taxa = sorted(self.meta[rank].astype(str).unique())
        self.controls["highlight"].options = ["(none)", *taxa]
        self.controls["highlight"].value = "(none)"

    def _on_rank(self, _change: Any = None) -> None:
        hl = self.controls["highlight"]
        # One redraw for a rank change, not one per highlight reset.
        hl.unobserve(self.update, names="value")
        try:
            self._set_highlight_options()
        finally:
            hl.observe(self.update, names="value")
        self.update()

    def params(self) -> dict[str, Any]:
        """The parameters of the current projection method."""
        c = self.controls
        method = c["method"].value
        if method == "tsne":
            return {"perplexity": float(c["perplexity"].value)}
        if method == "umap":
            return {"n_neighbors": int(c["n_neighbors"].value), "min_dist": float(c["min_dist"].value)}
        return {}

    def update(self, _change: Any = None) -> Any:
        """Recompute the projection for the current controls and redraw; returns the figure."""
        import time

        c = self.controls
        method = c["method"].value
        for name, shown in (("perplexity", method == "tsne"), ("n_neighbors", method == "umap"),
                            ("min_dist", method == "umap")):
            c[name].layout.display = None if shown else "none"
        params = self.params()
        model = c["model"].value
        t = time.perf_counter()
        self.coords = project(self.embeddings[model], method, n_components=c["dims"].value,
                              seed=self.seed, **params)
        rank = c["rank"].value
        hl = c["highlight"].value
        label = projection_label(method, **params)
        self.figure = scatter({label: self.coords}, self.meta, color_by=[rank], hover=self.hover,
                              highlight=None if hl == "(none)" else (rank, hl),
                              title=f"{model}: {label}")
        self.status.value = (f"<small>{model}, {label}, {len(self.meta)} points, "
                             f"{time.perf_counter() - t:.1f} s</small>")
        # Replace the Output widget's outputs in one state update rather than
        # `with output: display(...)`: capturing displays makes nbclient (the book
        # build) echo every output back to the kernel, which stalled or killed the
        # kernel with plotly's multi-MB first output.
        data = self.figure._repr_mimebundle_()
        self.output.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)
        return self.figure

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


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


def plot_paired_differences(record: Mapping[str, Any], *, pairs: Sequence[tuple[str, str]] | None = None,
                            target: float | None = None, ax: Any = None) -> Any:
    """Forest plot of a ``bench_real_genomes`` record's paired ARI differences.

    One row per comparison "a − b" and set of species: the difference on all
    species (dot) and its 95% interval over halves of the species (bar); a row
    whose bar stays right of zero is a difference the species drawn cannot
    explain.

    Parameters
    ----------
    record : mapping
        A record with ``sets`` -> ``comparisons`` (``benchmarks/bench_real_genomes.py``).
    pairs : sequence of (str, str), optional
        The comparisons to draw, in this order (default: all).
    target : float, optional
        Draw a dashed line here too (e.g. the 0.05 a claim needs).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made if omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    rows = [(f"{c['a']} − {c['b']} ({name}, {c['n_species']} species)", c["difference"], *c["interval"])
            for want in (pairs or [None])
            for name, entry in record["sets"].items() for c in entry["comparisons"]
            if want is None or (c["a"], c["b"]) == tuple(want)]
    if not rows:
        raise DnalibError("the record holds none of the comparisons asked for: see its sets -> comparisons")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 1.0))
    y = np.arange(len(rows))
    diff = np.array([r[1] for r in rows])
    lo, hi = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    colors = ["tab:blue" if a > 0 else ("tab:red" if b < 0 else "0.5") for a, b in zip(lo, hi, strict=True)]
    ax.hlines(y, lo, hi, colors=colors, lw=2)
    ax.scatter(diff, y, c=colors, zorder=3)
    ax.axvline(0, color="black", lw=0.8)
    if target is not None:
        ax.axvline(target, color="0.4", lw=0.8, ls="--")
    ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("ARI difference (95% interval over species)")
    return ax


def grid_differences(record: Mapping[str, Any], *, set_name: str | None = None,
                     against: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of a ``bench_error_grid`` record as a table of differences from a reference.

    Parameters
    ----------
    record : mapping
        A record of ``benchmarks/bench_error_grid.py`` (``rows``, ``settings.baseline``).
    set_name : str, optional
        Keep the rows of this set of species only (e.g. ``"validation"``).
    against : str or sequence of str, optional
        The reference (default: the record's baseline, as recorded in each
        row). A model name, or several: in every cell the one of them with
        the highest ARI there is the reference (chosen on the same data, which
        favours the reference). Differences are then paired from the rows'
        stored halves (:func:`dnalib.evaluate.paired_difference`); rows
        without halves, and the candidates themselves, are left out.

    Returns
    -------
    pandas.DataFrame
        One row per (set, length, errors, model) other than the reference:
        ``ari``, ``reference``, ``baseline_ari`` (the reference's ARI),
        ``difference``, ``low``, ``high`` (its interval) and ``resolved``
        (``"+"`` when the interval is above zero, ``"-"`` below, ``""`` when
        it holds zero).

    Raises
    ------
    DnalibError
        No row to compare (another set, no halves, an unknown reference).
    """
    from dnalib.evaluate import paired_difference

    baseline = record.get("settings", {}).get("baseline", "kmer6")
    key = f"vs_{baseline}"
    rows = []
    kept = [r for r in record.get("rows", []) if set_name is None or r["set"] == set_name]
    if against is None:
        for r in kept:
            if key not in r:
                continue
            lo, hi = r[key]["interval"]
            rows.append({"set": r["set"], "length": int(r["length"]), "errors": r["errors"], "model": r["model"],
                         "ari": r["ari"], "reference": baseline, "baseline_ari": r[key]["ari_b"],
                         "difference": r[key]["difference"], "low": lo, "high": hi})
        what = baseline
    else:
        candidates = [against] if isinstance(against, str) else list(against)
        what = " / ".join(candidates)
        cells: dict[tuple, list] = {}
        for r in kept:
            if "halves" in r:
                cells.setdefault((r["set"], int(r["length"]), r["errors"]), []).append(r)
        for (set_, length, errors), members in cells.items():
            refs = [r for r in members if r["model"] in candidates]
            if not refs:
                continue
            ref = max(refs, key=lambda r: r["ari"])
            for r in members:
                if r["model"] in candidates:
                    continue
                d = paired_difference(r["halves"], ref["halves"], level=record.get("settings", {}).get("level", 0.95))
                rows.append({"set": set_, "length": length, "errors": errors, "model": r["model"], "ari": r["ari"],
                             "reference": ref["model"], "baseline_ari": ref["ari"], "difference": d["difference"],
                             "low": d["interval"][0], "high": d["interval"][1]})
    if not rows:
        raise DnalibError(f"the record holds no row compared with {what}"
                          + (f" on set {set_name!r}" if set_name else "")
                          + ("" if against is None else " (the rows need their halves: score them again with "
                             "benchmarks/bench_error_grid.py)"))
    table = pd.DataFrame(rows)
    table["resolved"] = ["+" if lo > 0 else ("-" if hi < 0 else "") for lo, hi in zip(table["low"], table["high"],
                                                                                      strict=True)]
    return table


def plot_grid_differences(record: Mapping[str, Any], set_name: str, *, models: Sequence[str] | None = None,
                          title: str | None = None, against: str | Sequence[str] | None = None) -> Any:
    """Heat map of "model minus baseline" ARI over fragment length x errors, one row per model.

    Cells are coloured by the difference (blue above the baseline, red
    below), print it with a mark when its interval excludes zero (``+`` / ``-``),
    and show the interval, both ARIs on hover.

    Parameters
    ----------
    record : mapping
        A ``bench_error_grid`` record (:func:`grid_differences`).
    set_name : str
        The set of species to draw.
    models : sequence of str, optional
        Rows in this order (default: the record's order).
    title : str, optional
    against : str or sequence of str, optional
        The reference model(s), as in :func:`grid_differences` (default: the
        record's baseline).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    table = grid_differences(record, set_name=set_name, against=against)
    errors = list(dict.fromkeys(table["errors"]))
    table["cell"] = [f"{length // 1000} kbp, {err}" for length, err in zip(table["length"], table["errors"],
                                                                         strict=True)]
    table = table.sort_values(["length", "errors"], key=lambda s: s.map(errors.index) if s.name == "errors"
                              else s, kind="stable")
    cells = list(dict.fromkeys(table["cell"]))
    order = list(models) if models is not None else list(dict.fromkeys(table["model"]))
    unknown = [m for m in order if m not in set(table["model"])]
    if unknown:
        raise DnalibError(f"no rows for model(s) {unknown} on {set_name}")
    pivot = {name: table.pivot(index="model", columns="cell", values=name).reindex(index=order, columns=cells)
             for name in ("difference", "low", "high", "ari", "baseline_ari", "reference", "resolved")}
    text = [[("" if pd.isna(d) else f"{d:+.3f}{pivot['resolved'].iloc[i, j] or ''}")
             for j, d in enumerate(row)] for i, row in enumerate(pivot["difference"].to_numpy())]
    hover = [[("" if pd.isna(pivot["difference"].iloc[i, j]) else
               f"{order[i]}<br>{cells[j]}<br>ARI {pivot['ari'].iloc[i, j]:.3f} vs "
               f"{pivot['baseline_ari'].iloc[i, j]:.3f} ({pivot['reference'].iloc[i, j]})<br>difference {pivot['difference'].iloc[i, j]:+.3f} "
               f"[{pivot['low'].iloc[i, j]:+.3f}, {pivot['high'].iloc[i, j]:+.3f}]")
              for j in range(len(cells))] for i in range(len(order))]
    z = pivot["difference"].to_numpy(dtype=float)
    bound = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(go.Heatmap(z=z, x=cells, y=order, text=text, texttemplate="%{text}", hovertext=hover,
                               hoverinfo="text", colorscale="RdBu", zmid=0, zmin=-bound, zmax=bound,
                               colorbar={"title": "ARI minus<br>" + (
                                   str(record.get("settings", {}).get("baseline", "kmer6")) if against is None
                                   else "the reference")}))
    reference = "the baseline" if against is None else "the best of " + ", ".join(
        [against] if isinstance(against, str) else against)
    fig.update_layout(title=title or f"{set_name}: ARI minus {reference} (+/-: 95% interval excludes 0)",
                      height=120 + 34 * len(order), margin={"l": 10, "r": 10, "t": 50, "b": 10},
                      yaxis={"autorange": "reversed"})
    return fig

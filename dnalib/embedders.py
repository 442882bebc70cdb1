"""One object per kind of model: what turns DNA sequences into embedding rows.

A model name can be a k-mer baseline (``"tnf"``, ``"kmer6"``), a saved
spectrum map (:mod:`dnalib.spectrum_map`), or a transformer: a dnalib model
directory, any directory that ``AutoModel`` loads, or a Hugging Face hub id.
Each kind is one small class with the same interface (in the spirit of
scikit-learn's estimators):

- ``Kind.accepts(name)``: whether the name is of this kind;
- ``Kind(name, **options)``: checks the name and the options, loads nothing heavy;
- ``.identity``: the settings and fingerprint that decide its rows (what
  result records and ``dnalib embed --resume`` compare);
- ``.min_bases``: the run of unambiguous bases a record needs to be seen at all;
- ``.embed(seqs)``: a ``(len(seqs), dim)`` float32 array (the model is loaded on first use);
- ``Kind.uses``: the options that have an effect on this kind (the CLI notes the others).

:func:`from_name` is the one place that picks the kind (like Hugging Face's
``AutoModel``): the first registered kind that accepts the name, with the
transformer last as the catch-all. A new kind is one new class and one
:func:`register` call; :mod:`dnalib.embed`, ``dnalib evaluate``, the CLI, the
chapters and the benchmarks all go through :func:`from_name`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dnalib.errors import DnalibError

__all__ = [
    "BASELINES",
    "BASELINE_SETTINGS",
    "KINDS",
    "Embedder",
    "KmerSpectrum",
    "SpectrumMapEmbedder",
    "Transformer",
    "describe_identity",
    "from_name",
    "kind_of",
    "model_fingerprint",
    "register",
]

#: Baselines known by name (no model directory needed).
BASELINES = ("tnf", "kmer6")

#: The k-mer spectrum settings of each baseline (what a resumed ``embed`` run must match).
BASELINE_SETTINGS: dict[str, dict[str, Any]] = {
    "tnf": {"k": 4, "canonical": False, "normalize": "l2"},
    "kmer6": {"k": 6, "canonical": True, "normalize": "l2"},
}

#: Files of a model directory that do not decide its embeddings (left out of the fingerprint).
_TOKENIZER_FILES = ("special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt")


def _nonempty(seqs: Sequence[str]) -> list[str]:
    seqs = list(seqs)
    if not seqs:
        raise DnalibError("no sequences to embed")
    return seqs


def model_fingerprint(model: str | os.PathLike[str]) -> str:
    """sha256 over the files that decide a model directory's embeddings.

    The config, the encoder weights, the tokenizer files and any Python code
    shipped with the model are hashed (name and content, in name order);
    training logs, checkpoints and a projection head are not.

    Parameters
    ----------
    model : str or path-like
        A model directory.

    Returns
    -------
    str
        The hex digest.
    """
    from dnalib.models import WEIGHT_FILES, shard_files

    path = Path(model)
    names = sorted(
        f.name for f in path.iterdir()
        if f.is_file() and (
            f.name == "config.json" or f.name in WEIGHT_FILES or f.name.startswith("model-")
            or f.suffix == ".py"  # a model's own code (auto_map)
            or f.name.startswith("tokenizer") or f.name in _TOKENIZER_FILES
        )
    )
    names = sorted(set(names) | set(shard_files(path)))  # every shard an index names
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        with open(path / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


class Embedder:
    """The interface every kind of model implements (see the module docstring).

    Parameters
    ----------
    name : str
        The model: a baseline name, a directory or a hub id.
    device : str, optional
        Where a model runs (``cpu``, ``cuda``, ``cuda:1``, ``mps``; default: the model's rule).
    pooling : str, optional
        ``"mean"`` or ``"cls"`` (transformers; default: the catalogue's, else mean).
    revision : str, optional
        Hub revision (hub ids only).
    trust_remote_code : bool
        Allow a model's own Python code to run.
    batch_size : int
        Chunks per forward pass, at most.
    progress : bool
        Show a progress bar while embedding.
    precision : str
        ``"auto"``, ``"fp32"`` or ``"bf16"`` (:func:`dnalib.inference.choose_inference_precision`;
        None: :data:`dnalib.inference.DEFAULT_PRECISION`).
    """

    #: A short name of the kind, for messages.
    kind: ClassVar[str] = "model"
    #: Whether the kind has a bf16 path (``precision="bf16"``).
    has_bf16: ClassVar[bool] = False
    #: The options (keyword names) that have an effect on this kind's rows or speed.
    uses: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, *, device: str | None = None, pooling: str | None = None,
                 revision: str | None = None, trust_remote_code: bool = False,
                 batch_size: int = 64, progress: bool = False, precision: str | None = None) -> None:
        from dnalib.inference import DEFAULT_PRECISION, INFERENCE_PRECISIONS

        precision = DEFAULT_PRECISION if precision is None else precision
        self.name = str(name)
        self.options = {"device": device, "pooling": pooling, "revision": revision,
                        "trust_remote_code": trust_remote_code, "batch_size": batch_size,
                        "progress": progress, "precision": precision}
        if precision not in INFERENCE_PRECISIONS:
            raise DnalibError(f"precision must be one of {', '.join(INFERENCE_PRECISIONS)}; "
                              f"got {precision!r}")
        if precision == "bf16" and not self.has_bf16:
            raise DnalibError(f"{self.name} is a {self.kind}: it has no bf16 path (it runs in "
                              "float32); use --precision auto or fp32")
        if batch_size < 1:
            raise DnalibError("batch_size must be a positive number of chunks per forward pass; "
                              f"got {batch_size}")

    @classmethod
    def accepts(cls, name: str) -> bool:
        """Whether *name* is a model of this kind."""
        raise NotImplementedError

    @property
    def identity(self) -> dict[str, Any]:
        """The settings and fingerprint that decide the rows (JSON-ready)."""
        raise NotImplementedError

    @property
    def min_bases(self) -> int:
        """Unambiguous bases in a row that a record needs to be embedded."""
        return 1

    def load(self) -> Any:
        """Load what :meth:`embed` needs now (weights), so that a damaged model fails before any row."""
        return None

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        """``(len(seqs), dim)`` float32 embeddings of DNA sequences, in input order."""
        raise NotImplementedError

    @staticmethod
    def summary(identity: dict[str, Any]) -> str | None:
        """A phrase naming the model an identity dict of this kind describes (None: not this kind)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class KmerSpectrum(Embedder):
    """A k-mer baseline by name: ``tnf`` (256 tetranucleotide frequencies) or ``kmer6``
    (canonical 6-mer spectrum), L2-normalised; k-mer counting on the CPU, no model."""

    kind = "k-mer baseline"

    @classmethod
    def accepts(cls, name: str) -> bool:
        return str(name) in BASELINES

    @property
    def settings(self) -> dict[str, Any]:
        return dict(BASELINE_SETTINGS[self.name])

    @property
    def identity(self) -> dict[str, Any]:
        return {"baseline": self.name, "settings": self.settings}

    @property
    def min_bases(self) -> int:
        return int(self.settings["k"])

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        from dnalib import kmers

        s = self.settings
        return kmers.kmer_spectrum(_nonempty(seqs), s["k"], canonical=s["canonical"],
                                   normalize=s["normalize"]).astype(np.float32)

    @staticmethod
    def summary(identity: dict[str, Any]) -> str | None:
        if "baseline" not in identity:
            return None
        settings = ", ".join(f"{k}={v}" for k, v in (identity.get("settings") or {}).items())
        return f"baseline {identity['baseline']} ({settings})"


class SpectrumMapEmbedder(Embedder):
    """A saved :class:`dnalib.spectrum_map.SpectrumMap` directory (a learned map of the k-mer spectrum)."""

    kind = "spectrum map"

    @classmethod
    def accepts(cls, name: str) -> bool:
        from dnalib.spectrum_map import is_spectrum_map_dir

        return is_spectrum_map_dir(name)

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__(name, **options)
        self._map: Any = None

    @property
    def min_bases(self) -> int:
        from dnalib.spectrum_map import CONFIG_FILE

        return int(json.loads((Path(self.name) / CONFIG_FILE).read_text())["k"])

    @property
    def identity(self) -> dict[str, Any]:
        return {"spectrum_map": str(Path(self.name).resolve()), "sha256": model_fingerprint(self.name),
                "precision": "float32", "min_bases": self.min_bases}

    def load(self) -> Any:
        from dnalib.spectrum_map import SpectrumMap

        if self._map is None:
            self._map = SpectrumMap.from_pretrained(self.name)
        return self._map

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        return self.load().embed(_nonempty(seqs))

    @staticmethod
    def summary(identity: dict[str, Any]) -> str | None:
        if "spectrum_map" not in identity:
            return None
        return f"spectrum map {identity['spectrum_map']} (sha256 {str(identity.get('sha256'))[:12]})"


class Transformer(Embedder):
    """A transformer encoder: a dnalib model directory, any directory ``AutoModel`` loads, or a
    Hugging Face hub id (the hub and remote-code rules: :func:`dnalib.models.resolve_model`).

    Rows are pooled from the last hidden layer by :func:`dnalib.inference.embed_sequences`.
    """

    kind = "transformer"
    has_bf16 = True
    uses = ("device", "pooling", "revision", "trust_remote_code", "batch_size", "progress", "precision")

    @classmethod
    def accepts(cls, name: str) -> bool:
        return True  # the catch-all: a directory or a hub id, checked when built

    def __init__(self, name: str, **options: Any) -> None:
        from dnalib.hub import lookup
        from dnalib.inference import POOLINGS, choose_inference_precision
        from dnalib.models import is_hub_id, resolve_model
        from dnalib.training import check_device

        super().__init__(name, **options)
        if not is_hub_id(self.name):
            self._check_directory()
        self.source = resolve_model(self.name, revision=self.options["revision"],
                                    trust_remote_code=self.options["trust_remote_code"])
        pooling = self.options["pooling"]
        self.entry = lookup(self.name)
        if pooling is None:
            pooling = self.entry.pooling if self.entry else "mean"
        elif pooling not in POOLINGS:
            raise DnalibError(f"pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
        self.pooling = pooling
        self.device = check_device(self.options["device"])
        setting = self.options["precision"]
        on_cpu = self.device is None or self.device.type == "cpu"
        if setting == "auto" and on_cpu and self.source.custom_code:
            setting = "fp32"  # a model's own code may hold operations without a CPU bf16 kernel (FFTs)
        self.precision = choose_inference_precision(setting, self.device)
        self._loaded: tuple[Any, Any, int] | None = None
        self._identity: dict[str, Any] | None = None

    def _check_directory(self) -> None:
        from dnalib.models import check_model_dir, unfinished_run

        if not (Path(self.name) / "config.json").is_file() and not unfinished_run(self.name):
            raise DnalibError(
                f"{self.name!r} is neither a baseline ({', '.join(BASELINES)}) nor a model directory "
                "(no config.json) nor a Hugging Face model id (owner/name): pass the output directory "
                "of `dnalib pretrain` or `dnalib finetune`, a directory AutoModel loads, or a hub id "
                "(`dnalib models list`)"
            )
        check_model_dir(self.name)

    @property
    def _precision_name(self) -> str:
        return "float32" if self.precision == "fp32" else self.precision  # as records have always said

    @property
    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            from dnalib.models import load_tokenizer
            from dnalib.tokenizers import tokenizer_scheme

            src = self.source
            scheme, k = tokenizer_scheme(load_tokenizer(self.name, source=src))
            need = k if scheme in ("kmer", "nonoverlap") and k and not src.custom_code else 1
            if not src.local:
                self._identity = {"model": src.name, "revision": src.revision, "commit": src.commit,
                                  "pooling": self.pooling, "trust_remote_code": src.trust_remote_code,
                                  "precision": self._precision_name, "min_bases": 1}
            else:
                identity: dict[str, Any] = {"model_dir": str(Path(self.name).resolve()),
                                            "sha256": model_fingerprint(self.name),
                                            "precision": self._precision_name, "min_bases": need}
                if src.custom_code or scheme not in ("kmer", "nonoverlap", "char") or self.pooling != "mean":
                    identity.update(pooling=self.pooling, revision=None,
                                    trust_remote_code=src.trust_remote_code)
                self._identity = identity
        return self._identity

    @property
    def min_bases(self) -> int:
        return int(self.identity["min_bases"])

    def load(self) -> tuple[Any, Any, int]:
        """``(encoder, tokenizer, chunk_length)``, loaded once (weights cast to bf16 on a CPU in bf16)."""
        if self._loaded is None:
            from dnalib.inference import cast_bf16, first_token, max_chunk_length
            from dnalib.models import load_encoder

            encoder, tokenizer = load_encoder(self.name, device=self.device, source=self.source)
            max_tokens = self.entry.chunk_tokens if self.entry else None
            length = max_chunk_length(encoder, tokenizer, max_tokens)
            if self.pooling == "cls" and first_token(tokenizer) is None:
                raise DnalibError(f"--pooling cls needs a tokenizer with a [CLS] / <cls> token; "
                                  f"{self.name}'s has none: use --pooling mean")
            on_cpu = self.device is None or self.device.type == "cpu"
            if self.precision == "bf16" and on_cpu:
                encoder = cast_bf16(encoder)  # cast once; pooling stays float32
            self._loaded = (encoder, tokenizer, length)
        return self._loaded

    def embed(self, seqs: Sequence[str]) -> np.ndarray:
        from dnalib.inference import embed_sequences

        encoder, tokenizer, length = self.load()
        on_gpu = self.device is not None and self.device.type == "cuda"
        return embed_sequences(encoder, tokenizer, seqs, chunk_length=length,
                               batch_size=self.options["batch_size"], progress=self.options["progress"],
                               pooling=self.pooling,
                               max_tokens=self.entry.chunk_tokens if self.entry else None,
                               autocast=on_gpu and self.precision != "fp32")

    @staticmethod
    def summary(identity: dict[str, Any]) -> str | None:
        if "model" in identity:
            commit = identity.get("commit") or identity.get("revision") or "unpinned"
            return (f"Hugging Face model {identity['model']} (commit {str(commit)[:12]}, "
                    f"{identity.get('pooling')} pooling, {identity.get('precision')})")
        if "model_dir" not in identity:
            return None
        pooling = f", {identity['pooling']} pooling" if identity.get("pooling") else ""
        return (f"model directory {identity.get('model_dir')} (weights sha256 "
                f"{str(identity.get('sha256'))[:12]}{pooling}, {identity.get('precision')})")


#: The kinds :func:`from_name` tries, in order; the last one takes any name the others refuse.
KINDS: list[type[Embedder]] = [KmerSpectrum, SpectrumMapEmbedder, Transformer]


def register(kind: type[Embedder]) -> type[Embedder]:
    """Add a kind of model (a subclass of :class:`Embedder`); usable as a class decorator.

    It is tried before the transformer catch-all, after the kinds already registered.
    Registering a kind twice does nothing.
    """
    if not (isinstance(kind, type) and issubclass(kind, Embedder)):
        raise TypeError(f"{kind!r} is not a subclass of dnalib.embedders.Embedder")
    if kind not in KINDS:
        KINDS.insert(len(KINDS) - 1, kind)
    return kind


def kind_of(name: str | os.PathLike[str]) -> type[Embedder]:
    """The kind of model *name* is: the first class in :data:`KINDS` that accepts it."""
    return next(kind for kind in KINDS if kind.accepts(str(name)))


def from_name(name: str | os.PathLike[str], **options: Any) -> Embedder:
    """The embedder for a model name: the first kind in :data:`KINDS` that accepts it.

    Parameters
    ----------
    name : str or path-like
        ``"tnf"``, ``"kmer6"``, a spectrum-map directory, a model directory or a hub id.
    **options
        As :class:`Embedder` takes them (``device``, ``pooling``, ``revision``,
        ``trust_remote_code``, ``batch_size``, ``progress``, ``precision``).

    Returns
    -------
    Embedder

    Raises
    ------
    ~dnalib.errors.DnalibError
        A name no kind accepts, a model that cannot be loaded, or bad options.
    """
    return kind_of(name)(str(name), **options)


def describe_identity(identity: dict[str, Any]) -> str:
    """A phrase naming the model an identity dict (``Embedder.identity``) describes."""
    for kind in KINDS:
        text = kind.summary(identity)
        if text:
            return text
    return f"an unknown model ({json.dumps(identity)[:80]})"

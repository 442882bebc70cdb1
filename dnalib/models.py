"""RoBERTa k-mer models: configurations per profile, the encoder pass, pooling.

The models are stock Hugging Face architectures, so a trained model directory
loads with ``AutoModelForMaskedLM.from_pretrained(dir)`` /
``AutoModel.from_pretrained(dir)`` and no dnalib code:

- ``position="absolute"`` (default): ``RobertaForMaskedLM``, learned absolute
  position embeddings, as in RoBERTa and MetaBERTa.
- ``position="rotary"``: ``EsmForMaskedLM`` with rotary position embeddings,
  a *relative* position scheme (attention depends on the distance between
  tokens; SCORPIO found relative positions better than absolute ones). ESM is
  a RoBERTa-style encoder (pre-LayerNorm) used for protein language models.

Both use PyTorch's scaled-dot-product attention (SDPA). Sizes come from the
profile (:data:`dnalib.profiles.MODEL_SIZES`): ``smoke`` for CI seconds, ``cpu`` for a laptop,
``gpu`` for one GPU.

Embeddings of a sequence are the *masked mean* of the last hidden layer over
its real tokens ([CLS], [SEP] and padding excluded), as in DNABERT-S.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dnalib.errors import DnalibError
from dnalib.profiles import MODEL_SIZES, current_profile
from dnalib.training import RUN_INFO_FILES

POSITIONS = ("absolute", "rotary")


def model_config(
    tokenizer: Any,
    *,
    profile: str | None = None,
    max_tokens: int = 512,
    position: str = "absolute",
    dropout: float = 0.0,
    **overrides: Any,
) -> Any:
    """A Hugging Face config for a k-mer encoder matching *tokenizer*.

    Parameters
    ----------
    tokenizer
        A tokenizer of :mod:`dnalib.tokenizers` (gives the vocabulary size and
        the special token ids).
    profile : str, optional
        ``smoke``, ``cpu``, ``hour`` or ``gpu`` (default: ``$DNALIB_PROFILE`` or ``cpu``).
    max_tokens : int
        Longest input in tokens, [CLS] and [SEP] included.
    position : str
        ``"absolute"`` (RoBERTa) or ``"rotary"`` (relative; ESM architecture).
    dropout : float
        Hidden and attention dropout. Zero by default: short pretraining runs
        do not overfit, and without dropout a run is exactly reproducible and
        identical on one or several processes.
    **overrides
        Any other config field (e.g. ``num_hidden_layers=6``).

    Returns
    -------
    transformers.RobertaConfig or transformers.EsmConfig
    """
    from transformers import EsmConfig, RobertaConfig

    sizes = dict(MODEL_SIZES[current_profile(profile)])
    sizes.update(overrides)
    if sizes["hidden_size"] % sizes["num_attention_heads"]:
        raise DnalibError(
            f"hidden_size {sizes['hidden_size']} is not divisible by num_attention_heads "
            f"{sizes['num_attention_heads']}: choose sizes whose ratio is a whole number"
        )
    if max_tokens < 3:
        raise DnalibError(f"max_tokens must be at least 3 ([CLS], a token, [SEP]); got {max_tokens}")
    common = dict(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        attn_implementation="sdpa",
        **sizes,
    )
    if position == "absolute":
        # RoBERTa numbers positions from pad_token_id + 1.
        return RobertaConfig(
            max_position_embeddings=max_tokens + tokenizer.pad_token_id + 1,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            type_vocab_size=1,
            **common,
        )
    if position == "rotary":
        return EsmConfig(
            max_position_embeddings=max_tokens,
            position_embedding_type="rotary",
            mask_token_id=tokenizer.mask_token_id,
            token_dropout=False,
            emb_layer_norm_before=False,
            **common,
        )
    raise DnalibError(f"unknown position embedding {position!r}: choose one of {POSITIONS}")


def new_mlm_model(config: Any, *, seed: int = 0) -> Any:
    """A randomly initialised masked-language model for *config* (seeded).

    Parameters
    ----------
    config
        From :func:`model_config`.
    seed : int
        Seed of the initial weights.

    Returns
    -------
    transformers.RobertaForMaskedLM or transformers.EsmForMaskedLM
    """
    from transformers import AutoModelForMaskedLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForMaskedLM.from_config(config, attn_implementation="sdpa")
    return model


def reverse_complement_init_(model: Any, tokenizer: Any, *, std: float = 1.0, seed: int = 0) -> int:
    """Give every k-mer token the same input embedding as its reverse complement (in place).

    The token embeddings are redrawn from N(0, *std*^2), then each k-mer's row
    is copied from its reverse complement's (so ``AAAC`` and ``GTTT`` share
    one vector). A DNA fragment and its reverse complement are the same
    molecule; with tied embeddings the mean of the token embeddings of a
    sequence is a random projection of its *canonical* k-mer spectrum, so an
    untrained encoder already embeds both strands alike and starts where
    canonical k-mer baselines are, and contrastive training refines that
    instead of first discovering strand symmetry. A larger *std* than the
    usual 0.02 keeps the content, not the position embeddings (shared by all
    sequences), dominant in mean-pooled encodings; for the same reason learned
    absolute position embeddings (RoBERTa) start at zero. Only the initial
    values are set: training may untie them and learn positions.

    Parameters
    ----------
    model
        A model from :func:`new_mlm_model` (or its encoder).
    tokenizer
        Its k-mer tokenizer (overlapping or non-overlapping).
    std : float
        Standard deviation of the redrawn embeddings.
    seed : int
        Seed of the redrawn embeddings.

    Returns
    -------
    int
        Number of k-mer tokens whose row was copied from their reverse complement.
    """
    from dnalib.sequences import reverse_complement

    vocab = tokenizer.get_vocab()
    emb = base_model(model).embeddings.word_embeddings.weight
    gen = torch.Generator().manual_seed(seed)
    tied = 0
    with torch.no_grad():
        emb.copy_(torch.randn(emb.shape, generator=gen) * std)
        pad = tokenizer.pad_token_id
        if pad is not None:
            emb[pad].zero_()
        positions = getattr(base_model(model).embeddings, "position_embeddings", None)
        if positions is not None:  # RoBERTa: start position-free; training learns what it needs
            positions.weight.zero_()
        for token, i in vocab.items():
            if len(token) > 1 and set(token) <= set("ACGT"):
                rc = reverse_complement(token)
                if rc < token and rc in vocab:
                    emb[i] = emb[vocab[rc]]
                    tied += 1
    return tied


def spectrum_init_(model: Any, tokenizer: Any, *, std: float = 1.0, seed: int = 0,
                   axes: Any = None) -> None:
    """Start an encoder as an embedding of the k-mer spectrum (in place).

    Two changes to a fresh model:

    1. Token embeddings of standard deviation *std*, tied to their reverse
       complements (:func:`reverse_complement_init_`); learned absolute
       position embeddings start at zero. Without *axes* the embeddings are
       random normal; with *axes* (the principal axes of the corpus's
       canonical k-mer spectra, :func:`dnalib.kmers.spectrum_axes`) embedding
       dimension ``j`` of every k-mer token is its canonical k-mer's loading
       on axis ``j``, scaled to standard deviation *std* (dimensions beyond
       the axes given stay random).
    2. The last linear map of every residual branch (the attention output
       projection and the feed-forward down-projection) starts at zero, so at
       initialisation every layer passes its input through unchanged.

    The untrained encoder then computes, for every token, the same function of
    its k-mer alone (its embedding, layer-normalised), and the masked-mean
    pooled encoding of a sequence is exactly a fixed linear map of its
    canonical k-mer spectrum: a random projection, the classic k-mer baseline
    in *hidden_size* dimensions, or with *axes* its projection on the
    principal axes, which keeps most of the full spectrum's species signal in
    few dimensions (synthetic evaluation species, 6-mers, 128 dimensions: ARI
    0.67 against 0.42 for the random projection). Both score far above the
    stock initialisation on species clustering (the stock encoder's pooled
    output is dominated by position embeddings and random mixing). A sequence
    and its reverse complement get the same encoding. Training,
    masked-language or contrastive, starts from there; the zeroed maps receive
    gradients at once, so the layers learn context from the first step.

    The embeddings are about 50 times larger than the usual 0.02, so a
    decoder tied to them would start with huge logits: give the model
    ``tie_word_embeddings=False`` (:func:`model_config` ``tie_word_embeddings``
    override; ``dnalib.pretrain`` does this for ``init="pca"`` and ``"spectrum"``) and, when
    fine-tuning, a larger learning rate for the embeddings
    (``embedding_lr_mult`` of :class:`dnalib.contrastive.FinetuneConfig`).

    Parameters
    ----------
    model
        A model from :func:`new_mlm_model` (or its encoder), RoBERTa or ESM.
    tokenizer
        Its k-mer tokenizer.
    std : float
        Standard deviation of the token embeddings.
    seed : int
        Seed of the token embeddings.
    axes : numpy.ndarray, optional
        ``(canonical k-mers, m)`` orthonormal columns in
        :func:`dnalib.kmers.kmer_columns` ``(k, canonical=True)`` order, k the
        tokenizer's k-mer length (from :func:`dnalib.kmers.spectrum_axes`).
    """
    reverse_complement_init_(model, tokenizer, std=std, seed=seed)
    if axes is not None:
        _axes_embeddings_(model, tokenizer, axes, std)
    encoder = base_model(model)
    with torch.no_grad():
        for layer in encoder.encoder.layer:
            for linear in (layer.attention.output.dense, layer.output.dense):
                linear.weight.zero_()
                if linear.bias is not None:
                    linear.bias.zero_()


def _axes_embeddings_(model: Any, tokenizer: Any, axes: Any, std: float) -> None:
    """Set the first dimensions of every k-mer token embedding from spectrum *axes*."""
    import numpy as np

    from dnalib.kmers import kmer_columns
    from dnalib.sequences import reverse_complement
    from dnalib.tokenizers import tokenizer_scheme

    axes = np.asarray(axes, dtype=np.float64)
    scheme, k = tokenizer_scheme(tokenizer)
    if scheme not in ("kmer", "nonoverlap"):
        raise DnalibError(
            f"spectrum axes need a k-mer tokenizer (overlapping or not); this one is {scheme!r}: "
            "use init='spectrum' without axes"
        )
    vocab = tokenizer.get_vocab()
    # k-mer tokens only: the single bases a non-overlapping tokenizer uses for a remainder keep
    # their random vectors, as reverse_complement_init_ leaves them.
    kmers = [t for t in vocab if len(t) == k and set(t) <= set("ACGT")]
    columns = {c: i for i, c in enumerate(kmer_columns(k, canonical=True))}
    if axes.ndim != 2 or axes.shape[0] != len(columns):
        raise DnalibError(
            f"axes must have shape ({len(columns)}, m) for the canonical {k}-mers of this tokenizer; "
            f"got {axes.shape}: compute them with dnalib.kmers.spectrum_axes(seqs, {k}, ...)"
        )
    emb = base_model(model).embeddings.word_embeddings.weight
    m = min(axes.shape[1], emb.shape[1])
    scaled = torch.tensor(axes[:, :m] * np.sqrt(len(columns)) * std, dtype=emb.dtype)
    rows = torch.tensor([vocab[t] for t in kmers])
    canon = torch.tensor([columns[min(t, reverse_complement(t))] for t in kmers])
    with torch.no_grad():
        emb[rows, :m] = scaled[canon]


def base_model(model: Any) -> Any:
    """The encoder inside a model with a head (``model.roberta`` / ``model.esm``), or *model*."""
    prefix = getattr(model, "base_model_prefix", None)
    return getattr(model, prefix, model) if prefix else model


def lm_head(model: Any) -> Any:
    """The masked-language-model head of ``RobertaForMaskedLM`` / ``EsmForMaskedLM``."""
    head = getattr(model, "lm_head", None)
    if head is None:
        raise DnalibError(f"{type(model).__name__} has no lm_head: pass a *ForMaskedLM model")
    return head


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of *hidden* over the positions where *mask* is 1.

    Parameters
    ----------
    hidden : torch.Tensor
        ``(batch, tokens, dim)`` hidden states.
    mask : torch.Tensor
        ``(batch, tokens)`` 1 for positions to average, 0 elsewhere.

    Returns
    -------
    torch.Tensor
        ``(batch, dim)``; a row with no selected position is zero.
    """
    if hidden.dim() != 3 or mask.shape != hidden.shape[:2]:
        raise DnalibError(
            f"masked_mean needs hidden (batch, tokens, dim) and mask (batch, tokens); got "
            f"{tuple(hidden.shape)} and {tuple(mask.shape)}"
        )
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


def content_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer: Any) -> torch.Tensor:
    """1 for real sequence tokens, 0 for [CLS], [SEP] and padding (pooling mask)."""
    special = (input_ids == tokenizer.cls_token_id) | (input_ids == tokenizer.sep_token_id)
    return attention_mask.bool() & ~special


def count_parameters(model: Any, *, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of a torch module."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def encoder_flops(config: Any, batch: int, tokens: int) -> float:
    """Model FLOPs of one forward pass of the encoder (no MLM head).

    Counts the matrix multiplications: per layer and token 4d^2 (Q, K, V,
    output) + 2 d f (feed-forward) + 2 T d (attention scores and weighted
    values). Multiply-adds count as 2 FLOPs.

    Parameters
    ----------
    config
        The model config.
    batch, tokens : int
        Sequences and tokens per sequence.

    Returns
    -------
    float
    """
    d, f, n_layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return 2 * batch * tokens * n_layers * (4 * d * d + 2 * d * f + 2 * tokens * d)


def train_flops_per_step(config: Any, batch: int, tokens: int, masked: int) -> float:
    """Model FLOPs of one training step (forward + backward = 3x forward).

    Counts the matrix multiplications: per layer and token 4d^2 (Q, K, V,
    output) + 2 d f (feed-forward) + 2 T d (attention scores and weighted
    values); the MLM head (d^2 transform + d V decoder) only on the *masked*
    tokens, since only they are scored. Multiply-adds count as 2 FLOPs.

    Parameters
    ----------
    config
        The model config.
    batch, tokens : int
        Sequences per step and tokens per sequence.
    masked : int
        Masked tokens per step (whole batch).

    Returns
    -------
    float
    """
    d = config.hidden_size
    head = 2 * masked * (d * d + d * config.vocab_size)
    return 3 * (encoder_flops(config, batch, tokens) + head)


#: Weight files of a saved encoder, in the order Hugging Face looks for them.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")

#: Checkpoint keys an encoder is expected to leave unused (the MLM head and the pooler).
UNUSED_HEAD_PREFIXES = ("lm_head.", "cls.", "pooler.")



def _read_model_config(path: Path) -> dict[str, Any]:
    """config.json of a model directory, checked to be a JSON object naming a model_type."""
    cfg_path = path / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DnalibError(
            f"{cfg_path} is not valid JSON ({exc}): the model directory is damaged; copy it "
            "again or re-run `dnalib pretrain` / `dnalib finetune`"
        ) from None
    if not isinstance(cfg, dict) or not cfg.get("model_type"):
        raise DnalibError(
            f"{cfg_path} names no model_type: it is not a Hugging Face model config; pass the "
            "output directory of `dnalib pretrain` or `dnalib finetune`"
        )
    return cfg



def shard_files(path: str | os.PathLike[str]) -> list[str]:
    """The weight shards a model directory's ``*.index.json`` names (file names, sorted).

    Raises
    ------
    ~dnalib.errors.DnalibError
        An index that is not JSON with a ``weight_map``, or that names a shard
        outside the directory (``../other/...``, an absolute path, a
        subdirectory or a symlink leading out) or one that is missing: a model
        directory must hold its own weights.
    """
    path = Path(path)
    names: set[str] = set()
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = path / index_name
        if not index.is_file():
            continue
        try:
            weight_map = json.loads(index.read_text()).get("weight_map")
            shards = {str(v) for v in weight_map.values()}
        except (ValueError, AttributeError, TypeError, UnicodeDecodeError):
            raise DnalibError(f"{index} is not a weights index (JSON with a weight_map): the model "
                              "directory is damaged; copy it again") from None
        root = path.resolve()
        for shard in sorted(shards):
            target = (path / shard).resolve()
            if "/" in shard or "\\" in shard or target.parent != root:
                raise DnalibError(f"{index} names the shard {shard!r}, which is not a file of {path}: "
                                  "a model directory must hold its own weights; refusing to read "
                                  "outside it")
            if not target.is_file():
                raise DnalibError(f"{index} names the shard {shard!r}, which is missing: the copy "
                                  "is incomplete; copy the model directory again")
        names |= shards
    return sorted(names)


def unfinished_run(path: str | os.PathLike[str]) -> bool:
    """Whether *path* holds a dnalib training run that has not written its info file (yet)."""
    path = Path(path)
    return (path / "checkpoints").is_dir() and not any((path / f).exists() for f in RUN_INFO_FILES)


def check_model_dir(model: str | os.PathLike[str]) -> Path:
    """Check that a directory holds a loadable encoder before anything is loaded.

    Parameters
    ----------
    model : str or path-like
        A model directory (``dnalib pretrain`` / ``dnalib finetune`` output).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ~dnalib.errors.DnalibError
        A training run that did not finish, no ``config.json`` (or not a
        model config), no weights, or a weights file that is truncated or not
        safetensors; the message names the file.
    """
    path = Path(model)
    if unfinished_run(path):
        raise DnalibError(
            f"{path} holds a training run that did not finish (no {' or '.join(RUN_INFO_FILES)}): "
            "resume it with the same command and --resume, or load one of its checkpoints"
        )
    if not (path / "config.json").is_file():
        raise DnalibError(
            f"{str(model)!r} is not a model directory (no config.json): pass the output "
            "directory of `dnalib pretrain` or `dnalib finetune`"
        )
    _read_model_config(path)
    from dnalib.rundir import verify_sums

    verify_sums(path)  # SHA256SUMS when there is one; a dnalib run must have it (published)
    weights = [path / name for name in WEIGHT_FILES if (path / name).is_file()]
    if not weights:
        raise DnalibError(
            f"{path} has a config.json but no weights ({WEIGHT_FILES[0]}): the run that wrote it "
            "did not finish or the copy is incomplete; copy the whole directory again or re-run "
            "`dnalib pretrain` / `dnalib finetune`"
        )
    shard_files(path)  # an index's shards are inside the directory and present
    if weights[0].name == "pytorch_model.bin" and weights[0].stat().st_size == 0:
        raise DnalibError(f"{weights[0]} is empty (0 bytes): the copy is incomplete; copy the model "
                          "directory again or re-run the training command")
    if weights[0].name == "model.safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(weights[0]), framework="pt") as fh:
                fh.keys()
        except (SafetensorError, OSError) as exc:
            raise DnalibError(
                f"{weights[0]} cannot be read ({' '.join(str(exc).split())}): the file is truncated "
                "or damaged; copy the model directory again or re-run the training command"
            ) from None
    return path



#: The form of a Hugging Face hub model id, ``owner/name`` (letters, digits, ``-``, ``_``, ``.``).
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, checked before any weight is loaded (:func:`resolve_model`).

    Attributes
    ----------
    name : str
        As given: a local directory or a Hugging Face hub id.
    local : bool
        True for a local directory.
    revision : str or None
        The revision asked for (hub ids only).
    commit : str or None
        The hub commit the config was read from (None for a local directory):
        model and tokenizer are then loaded from that same commit.
    config : dict
        The model's ``config.json``.
    custom_code : tuple of str
        The classes its ``auto_map`` entries name (config.json and
        tokenizer_config.json): Python code shipped with the model.
    trust_remote_code : bool
        Whether running that code was allowed.
    """

    name: str
    local: bool
    revision: str | None
    commit: str | None
    config: dict[str, Any]
    custom_code: tuple[str, ...]
    trust_remote_code: bool

    @property
    def load_from(self) -> str:
        """What ``from_pretrained`` is given: the directory or the hub id."""
        return self.name

    @property
    def load_revision(self) -> str | None:
        """The revision ``from_pretrained`` is given: the resolved commit, else the one asked for."""
        return None if self.local else (self.commit or self.revision)


def looks_local(name: str | os.PathLike[str]) -> bool:
    """Whether *name* names a local path rather than a hub id, existing or not.

    A path that exists; anything that is not of the hub form ``owner/name``
    but has a path separator, starts with ``.`` or ``~`` or ends with ``/``;
    and ``dir/name`` whose ``dir`` is an existing local directory (``runs/mlmm``,
    a typo of ``runs/mlm``, is not sent to the hub).
    """
    text = str(name)
    if Path(text).exists():
        return True
    if text.startswith((".", "~", "/")) or text.endswith(("/", os.sep)) or os.sep in text \
            and not HUB_ID.match(text):
        return True
    return "/" in text and Path(text.split("/", 1)[0]).is_dir()


def is_hub_id(name: str | os.PathLike[str]) -> bool:
    """True when *name* reads as a hub id (``owner/name``) and is no local path (:func:`looks_local`)."""
    return bool(HUB_ID.match(str(name))) and not looks_local(name)


def _auto_map_classes(cfg: dict[str, Any]) -> list[str]:
    """The class paths an ``auto_map`` names (values may be strings or [slow, fast] pairs)."""
    out: list[str] = []
    amap = cfg.get("auto_map") if isinstance(cfg, dict) else None
    for value in (amap or {}).values():
        for v in value if isinstance(value, list | tuple) else [value]:
            if isinstance(v, str) and v not in out:
                out.append(v)
    return out


def _read_json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _hub_file(name: str, filename: str, revision: str | None, *, required: bool = True) -> Path | None:
    """Download (or take from the cache) one file of a hub model; failures -> one-line DnalibError."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(repo_id=name, filename=filename, revision=revision))
    except LocalEntryNotFoundError:
        reason = "no network, or HF_HUB_OFFLINE=1, and it is not in the local cache"
    except EntryNotFoundError:
        if not required:
            return None
        reason = f"the repository has no {filename}"
    except Exception as exc:  # noqa: BLE001 - repository missing, gated, bad revision, HTTP errors
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    at = f" at revision {revision}" if revision else ""
    raise DnalibError(
        f"cannot fetch {filename} of {name!r}{at} from the Hugging Face hub ({reason}); no local "
        f"directory {name!r} exists either: check the id and --revision, the network (and HF_TOKEN "
        f"for gated models), or download it once (`huggingface-cli download {name}`) and pass "
        "that directory"
    ) from None


def remote_code_refusal(name: str, classes: list[str] | tuple[str, ...]) -> str:
    """The one-line message refusing a model that needs its own Python code."""
    shown = ", ".join(classes[:3]) + (", ..." if len(classes) > 3 else "")
    return (f"{name} needs custom code from its repository to load ({shown} in its auto_map), "
            "which dnalib runs only when asked: --trust-remote-code (trust_remote_code=True) "
            "executes the model's own Python files on this machine; read them first and pin "
            "them with --revision COMMIT")


def resolve_model(name: str | os.PathLike[str], *, revision: str | None = None,
                  trust_remote_code: bool = False) -> ModelSource:
    """Find a model's config (local directory or hub id) and check it may be loaded.

    A local directory is checked with :func:`dnalib.models.check_model_dir`; a hub id
    (``owner/name``) has its ``config.json`` (and ``tokenizer_config.json``, if
    any) fetched at *revision* (cached by ``huggingface_hub``; nothing else is
    downloaded here). A model whose ``auto_map`` names its own classes needs
    *trust_remote_code*.

    Parameters
    ----------
    name : str or path-like
        A model directory or a Hugging Face model id.
    revision : str, optional
        Hub revision: a commit hash pins the download (a branch or tag can move).
    trust_remote_code : bool
        Allow the model's own Python code to run.

    Returns
    -------
    ModelSource

    Raises
    ------
    ~dnalib.errors.DnalibError
        Not a directory nor a hub id, a config that cannot be read or fetched,
        ``revision`` given for a local directory, or custom code without
        *trust_remote_code*.
    """
    text = str(name)
    path = Path(name)
    if path.exists():
        if revision:
            raise DnalibError(
                f"--revision {revision} applies to a Hugging Face hub id, not the local directory "
                f"{path}: drop --revision (a directory is what it is) or pass the hub id"
            )
        check_model_dir(path)
        cfg = _read_model_config(path)
        tok_cfg = _read_json_file(path / "tokenizer_config.json")
        commit = None
        local = True
    elif looks_local(text):
        parent = path.parent
        there = sorted(p.name for p in parent.iterdir() if p.is_dir())[:8] if parent.is_dir() else []
        raise DnalibError(
            f"no such model directory: {text}"
            + (f" ({parent} holds {', '.join(there)})" if there else "")
            + "; check the path (a Hugging Face id is owner/name with no local directory 'owner')")
    elif HUB_ID.match(text):
        cfg_file = _hub_file(text, "config.json", revision)
        assert cfg_file is not None
        cfg = _read_json_file(cfg_file)
        if not cfg.get("model_type") and not cfg.get("auto_map"):
            raise DnalibError(f"the config.json of {text!r} on the Hugging Face hub names no model_type: "
                              "it is not a transformers model")
        tok_file = _hub_file(text, "tokenizer_config.json", revision, required=False)
        tok_cfg = _read_json_file(tok_file) if tok_file else {}
        snapshot = cfg_file.parent
        commit = snapshot.name if snapshot.parent.name == "snapshots" else None
        local = False
    else:
        raise DnalibError(
            f"{text!r} is not a model directory (it does not exist) nor a Hugging Face model id "
            "(owner/name): pass the output directory of `dnalib pretrain` / `dnalib finetune`, a "
            "directory that transformers' AutoModel loads, or a hub id (see `dnalib models list`)"
        )
    custom = tuple(_auto_map_classes(cfg) + [c for c in _auto_map_classes(tok_cfg)
                                             if c not in _auto_map_classes(cfg)])
    if custom and not trust_remote_code:
        raise DnalibError(remote_code_refusal(text, custom))
    return ModelSource(name=text, local=local, revision=revision, commit=commit, config=cfg,
                       custom_code=custom, trust_remote_code=bool(trust_remote_code))


def _load_quietly(load: Callable[..., Any], path: Any, what: str, *, hub: bool = False,
                  custom: bool = False, **kwargs: Any) -> Any:
    """Run a ``from_pretrained`` with transformers' log below errors; loading failures -> DnalibError."""
    import pickle

    from safetensors import SafetensorError
    from transformers.utils import logging as hf_logging

    caught: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, RuntimeError,
                                               SafetensorError, pickle.UnpicklingError, EOFError)
    if custom:  # a model's own code that does not fit this transformers version
        caught += (AttributeError, TypeError)
    hf_logging.disable_progress_bar()
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report lists the unused LM head; checked below
    try:
        return load(path, **kwargs)
    except ImportError as exc:
        raise DnalibError(
            f"cannot load the {what} of {path}: its code needs a package that is not installed "
            f"({' '.join(str(exc).split())[:200]}); install it in this environment"
        ) from None
    except caught as exc:
        fix = ("check the id, --revision and the network" if hub else
               "the model directory is incomplete or damaged; copy it again or re-run the "
               "training command")
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        if isinstance(exc, pickle.UnpicklingError | EOFError) or "Weights only load failed" in detail:
            detail = (f"{type(exc).__name__}: a pickled weights file that is empty, damaged or not "
                      "plain tensors; it was refused by the weights-only loader and nothing in it ran")
        raise DnalibError(
            f"cannot load the {what} of {path} ({detail}): {fix}"
            + ("; its own code may not run with this transformers version" if custom else "")
        ) from None
    finally:
        hf_logging.set_verbosity(level)


def _check_loading_info(path: Any, info: dict[str, Any]) -> None:
    """Fail on missing or mismatched encoder weights; warn on unexpected ones other than the heads."""
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith(UNUSED_HEAD_PREFIXES))
    mismatched = sorted(str(k[0] if isinstance(k, tuple) else k) for k in info.get("mismatched_keys", ()))
    if missing or mismatched:
        bad = missing or mismatched
        raise DnalibError(
            f"{path}: the weights do not fit the config ({len(bad)} encoder weight(s) "
            f"{'missing' if missing else 'of the wrong shape'}, e.g. {bad[0]!r}): the embeddings "
            "would be partly random; use the directory written by `dnalib pretrain` / "
            "`dnalib finetune` (or the published model) unchanged"
        )
    odd = sorted(k for k in info.get("unexpected_keys", ()) if not k.startswith(UNUSED_HEAD_PREFIXES))
    if odd:
        warnings.warn(f"{path}: {len(odd)} weight(s) in the checkpoint are not used by the encoder "
                      f"(e.g. {odd[0]!r}); check that the directory holds the model you meant",
                      UserWarning, stacklevel=3)


def load_tokenizer(path: Any, *, revision: str | None = None, trust_remote_code: bool = False,
                   source: ModelSource | None = None) -> Any:
    """The tokenizer of a model directory or hub id (loading failures as one-line errors).

    Parameters
    ----------
    path : str or path-like
        A model directory or a Hugging Face model id.
    revision, trust_remote_code
        As in :func:`resolve_model` (a hub id only; custom tokenizer code needs the flag).
    source : ModelSource, optional
        Already resolved (skips :func:`resolve_model`).
    """
    from transformers import AutoTokenizer

    if source is None and not is_hub_id(path) and not _read_json_file(
            Path(path) / "tokenizer_config.json").get("auto_map") and revision is None:
        # a local directory without custom tokenizer code: no config check needed
        return _load_quietly(AutoTokenizer.from_pretrained, Path(path), "tokenizer")
    src = source or resolve_model(path, revision=revision, trust_remote_code=trust_remote_code)
    kwargs: dict[str, Any] = {}
    if src.trust_remote_code:
        kwargs["trust_remote_code"] = True
    if src.load_revision:
        kwargs["revision"] = src.load_revision
    return _load_quietly(AutoTokenizer.from_pretrained,
                         Path(src.name) if src.local else src.name, "tokenizer",
                         hub=not src.local, custom=bool(src.custom_code), **kwargs)


#: Model types whose stock transformers class dnalib loads with SDPA attention and no pooler.
_SDPA_TYPES = ("roberta", "esm")
_NO_POOLER_TYPES = ("roberta", "bert")


def load_encoder(path: Any, *, device: Any = None, revision: str | None = None,
                 trust_remote_code: bool = False,
                 source: ModelSource | None = None) -> tuple[Any, Any]:
    """The encoder and tokenizer of a model: the one way dnalib reads a model.

    Works for a ``dnalib pretrain`` / ``dnalib finetune`` output directory,
    one of its checkpoints, any directory that ``AutoModel`` and
    ``AutoTokenizer`` load, or a Hugging Face hub id (``owner/name``, fetched
    at *revision*; the same code path as a directory). For an MLM checkpoint
    only the encoder is loaded (the language-model head is not needed to
    embed), without the load report about its unused weights; missing or
    wrongly shaped encoder weights are an error, other unused weights a
    warning. A model whose ``auto_map`` has no ``AutoModel`` but an
    ``AutoModelForMaskedLM`` (the Nucleotide Transformer v2) is loaded with
    its head and the encoder inside is returned.

    Parameters
    ----------
    path : str or path-like
        The model directory or hub id.
    device : str or torch.device, optional
        Move the encoder there.
    revision : str, optional
        Hub revision (a commit hash pins the download); not for a directory.
    trust_remote_code : bool
        Allow the model's own Python code (``auto_map``) to run; without it
        such a model is refused (:func:`remote_code_refusal`).
    source : ModelSource, optional
        Already resolved with :func:`resolve_model`.

    Returns
    -------
    tuple
        ``(encoder, tokenizer)``; the encoder is a bare ``AutoModel``
        (``RobertaModel`` without a pooler, ``EsmModel``, ...) in eval mode.

    Raises
    ------
    DnalibError
        When *path* is not a model directory (:func:`check_model_dir`) nor a
        hub id that can be fetched, is a run that did not finish, needs
        custom code that was not allowed, or its files are damaged; the
        message says what to do.
    """
    from transformers import AutoModel, AutoModelForMaskedLM

    src = source or resolve_model(path, revision=revision, trust_remote_code=trust_remote_code)
    where: Any = Path(src.name) if src.local else src.name
    if src.local:
        check_model_dir(where)
    cfg = src.config
    amap = cfg.get("auto_map") or {}
    extra: dict[str, Any] = {}
    if not amap and cfg.get("model_type") in _SDPA_TYPES:
        extra["attn_implementation"] = "sdpa"
    if not amap and cfg.get("model_type") in _NO_POOLER_TYPES:
        extra["add_pooling_layer"] = False  # dnalib never uses the pooler (mean or first-token pooling)
    if src.trust_remote_code:
        extra["trust_remote_code"] = True
    if src.load_revision:
        extra["revision"] = src.load_revision
    loader = AutoModel
    if amap and "AutoModel" not in amap and "AutoModelForMaskedLM" in amap:
        loader = AutoModelForMaskedLM
    model, info = _load_quietly(loader.from_pretrained, where, "encoder", hub=not src.local,
                                custom=bool(src.custom_code), output_loading_info=True, **extra)
    _check_loading_info(where, info)
    encoder = base_model(model) if loader is AutoModelForMaskedLM else model
    tokenizer = load_tokenizer(where, source=src)
    if device is not None:
        encoder = encoder.to(device)
    return encoder.eval(), tokenizer

"""A small catalogue of published DNA encoders to compare with dnalib's models.

Every entry is a Hugging Face model id that ``dnalib evaluate --model ID`` /
``dnalib embed --model ID`` (and :func:`dnalib.embedders.from_name`) accept,
with what the book needs to put it in a comparison: its tokenizer, context,
licence, pooling and paper. Nothing is downloaded when this module is
imported or listed; a model is fetched (into the Hugging Face cache) only when
it is embedded with.

Revisions
---------
No entry carries a commit hash: none could be verified where this catalogue
was written (no network), and an invented hash would be worse than none. A
``None`` revision means *the current main branch*, which its authors can
change at any time (weights or code). Pin one yourself: look up the commit on
the model's "Files and versions" page (or ``huggingface-cli download ID``
prints the snapshot path, whose last component is the commit) and pass
``--revision COMMIT``; the JSON that ``dnalib evaluate`` writes records the
model id, the revision asked for and the commit actually loaded.

Custom code
-----------
Most published DNA encoders ship their own model code (``auto_map`` in
``config.json``): DNABERT-2 / DNABERT-S (MosaicBERT with ALiBi), the
Nucleotide Transformer v2 (a modified ESM), HyenaDNA, Caduceus. dnalib runs
such code only with ``--trust-remote-code``; read it first and pin it with
``--revision``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PublishedModel:
    """One published encoder.

    Attributes
    ----------
    id : str
        Hugging Face model id.
    name : str
        Short name used in the book.
    architecture : str
        The network (and its position scheme).
    tokenizer : str
        Tokenizer kind: ``bpe``, ``kmer6`` (non-overlapping 6-mers),
        ``kmer6-overlapping``, ``char``.
    context : str
        What the model reads at once, as its authors state it.
    licence : str
        The licence on the model card ("see card" when it was not verified).
    pooling : str
        ``mean`` or ``cls``: how its authors pool a sequence embedding.
    paper : str
        The reference.
    remote_code : bool
        Needs ``--trust-remote-code``.
    revision : str or None
        A verified commit, or None (pin one with ``--revision``).
    chunk_tokens : int or None
        Tokens dnalib feeds per pass when its config's position budget is not
        the real limit (ALiBi models), else None (the config decides).
    params_m : float or None
        Parameters in millions (for the cost estimate), when known.
    notes : str
        Anything a user must know to run it.
    """

    id: str
    name: str
    architecture: str
    tokenizer: str
    context: str
    licence: str
    pooling: str
    paper: str
    remote_code: bool
    revision: str | None = None
    chunk_tokens: int | None = None
    params_m: float | None = None
    notes: str = ""


#: The published encoders the book compares with (see the module docstring on revisions).
CATALOGUE: tuple[PublishedModel, ...] = (
    PublishedModel(
        id="zhihan1996/DNABERT-S", name="DNABERT-S",
        architecture="BERT (MosaicBERT, ALiBi), 12 layers x 768, from DNABERT-2",
        tokenizer="bpe", context="ALiBi, no fixed limit (paper: 10 kbp whole)",
        licence="see card", pooling="mean",
        paper="Zhou et al. 2024, DNABERT-S: species-aware DNA embeddings (arXiv:2402.08777)",
        remote_code=True, chunk_tokens=4096, params_m=117,
        notes="needs --trust-remote-code; its flash-attention path needs a triton version it "
              "supports (uninstall triton to use the plain PyTorch attention)"),
    PublishedModel(
        id="zhihan1996/DNABERT-2-117M", name="DNABERT-2",
        architecture="BERT (MosaicBERT, ALiBi), 12 layers x 768",
        tokenizer="bpe", context="ALiBi, config says 512 tokens",
        licence="see card", pooling="mean",
        paper="Zhou et al. 2024, DNABERT-2 (ICLR; arXiv:2306.15006)",
        remote_code=True, chunk_tokens=4096, params_m=117,
        notes="needs --trust-remote-code; same code as DNABERT-S"),
    PublishedModel(
        id="InstaDeepAI/nucleotide-transformer-v2-50m-multi-species", name="NT-v2-50M",
        architecture="ESM (rotary, SwiGLU), custom code",
        tokenizer="kmer6", context="2,048 tokens (about 12 kbp)",
        licence="CC BY-NC-SA 4.0", pooling="mean",
        paper="Dalla-Torre et al. 2024, The Nucleotide Transformer (Nature Methods)",
        remote_code=True, params_m=50,
        notes="needs --trust-remote-code; its auto_map has no AutoModel, dnalib loads the "
              "masked-LM class and uses the encoder inside"),
    PublishedModel(
        id="MsAlEhR/MetaBERTa-bigbird-gene", name="MetaBERTa (BigBird)",
        architecture="BigBird",
        tokenizer="kmer6-overlapping", context="4,096 tokens",
        licence="MIT", pooling="mean",
        paper="Refahi et al., Leveraging large language models for metagenomic analysis",
        remote_code=False,
        notes="its tokenizer is a separate package (KmerTokenizer) that AutoTokenizer does not "
              "load: not usable through dnalib as published"),
    PublishedModel(
        id="LongSafari/hyenadna-small-32k-seqlen-hf", name="HyenaDNA-small-32k",
        architecture="HyenaDNA (implicit long convolutions, causal)",
        tokenizer="char", context="32,768 bp",
        licence="BSD-3-Clause", pooling="mean",
        paper="Nguyen et al. 2023, HyenaDNA (NeurIPS; arXiv:2306.15794)",
        remote_code=True,
        notes="needs --trust-remote-code; no attention mask: dnalib batches chunks of equal length"),
    PublishedModel(
        id="kuleshov-group/caduceus-ph_seqlen-131k_d_model-256_n_layer-16", name="Caduceus-Ph-131k",
        architecture="Caduceus (bidirectional Mamba), 16 layers x 256",
        tokenizer="char", context="131,072 bp",
        licence="Apache-2.0", pooling="mean",
        paper="Schiff et al. 2024, Caduceus (ICML; arXiv:2403.03234)",
        remote_code=True,
        notes="needs --trust-remote-code and the mamba-ssm package (CUDA only)"),
)


def lookup(model: str) -> PublishedModel | None:
    """The catalogue entry of a hub id (exact match), or None.

    Parameters
    ----------
    model : str
        A model id (or anything else: a directory, a baseline name).

    Returns
    -------
    PublishedModel or None
    """
    return next((m for m in CATALOGUE if m.id == str(model)), None)


def catalogue_rows() -> list[dict[str, object]]:
    """The catalogue as a list of plain dicts (for a DataFrame or JSON)."""
    return [asdict(m) for m in CATALOGUE]


def format_models() -> str:
    """The table ``dnalib models list`` prints (offline: nothing is fetched).

    Returns
    -------
    str
    """
    head = ("id", "tokenizer", "context", "licence", "pooling", "code", "revision")
    rows = [(m.id, m.tokenizer, m.context, m.licence, m.pooling,
             "remote" if m.remote_code else "stock", m.revision or "pin one")
            for m in CATALOGUE]
    widths = [max(len(str(r[i])) for r in (head, *rows)) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in (head, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["",
              "use:  dnalib evaluate --model ID --revision COMMIT [--trust-remote-code] "
              "--genomes DIR --out r.json",
              "'remote' models run their own code: only with --trust-remote-code (read it first). "
              "No revision here is verified: pin a commit with --revision.",
              *(f"note {m.name}: {m.notes}" for m in CATALOGUE if m.notes)]
    return "\n".join(lines)


def estimate_cost(model: PublishedModel, *, fragments: int = 1000, fragment_bp: int = 10_000,
                  bp_per_token: float | None = None, tflops: float = 100.0) -> dict[str, float] | None:
    """A FLOP-count estimate of embedding *fragments* fragments with a transformer of the catalogue.

    Forward FLOPs ~ 2 x parameters x tokens (the matrix multiplications;
    attention scores add ``4 x layers x tokens^2 x width``, ignored here, so
    this is a lower bound, and embeddings count as parameters, an upper
    bound); time = FLOPs / *tflops* (an assumed sustained bf16 rate, about a
    third of an A100's peak). An estimate, not a measurement.

    Parameters
    ----------
    model : PublishedModel
        A catalogue entry with ``params_m``.
    fragments, fragment_bp : int
        How many fragments of how many bases.
    bp_per_token : float, optional
        Default: 6 for 6-mers, 1 for characters, 5 for BPE (approximate).
    tflops : float
        Sustained throughput assumed, in TFLOP/s.

    Returns
    -------
    dict or None
        ``tokens``, ``tflop``, ``seconds`` and ``weights_gib`` (float32
        weights), or None when the parameter count is unknown.
    """
    if model.params_m is None:
        return None
    if bp_per_token is None:
        bp_per_token = {"kmer6": 6.0, "char": 1.0, "bpe": 5.0}.get(model.tokenizer, 1.0)
    tokens = fragments * fragment_bp / bp_per_token
    flop = 2 * model.params_m * 1e6 * tokens
    return {"tokens": tokens, "tflop": flop / 1e12, "seconds": flop / (tflops * 1e12),
            "weights_gib": model.params_m * 1e6 * 4 / 2**30}


__all__ = ["CATALOGUE", "PublishedModel", "catalogue_rows", "estimate_cost", "format_models",
           "lookup"]

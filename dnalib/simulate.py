"""A synthetic microbial community with a known phylogeny, and a read simulator.

The community is the book's offline, seconds-to-generate stand-in for real
genomes: every genome, label and tree comes from one integer seed.

Design
------
*The tree.*  ``Bacteria -> phylum -> class -> order -> family -> genus ->
species (-> strain)``.  Genera come in families of two; families alternate
between ``n_phyla`` phyla; class and order mirror phylum and family.  The tree
is data (:class:`Phylogeny`, a table of nodes with parent links and the traits
each node carries) and can be written as Newick.

*Traits evolve along the tree.*  Every node inherits its parent's traits and
adds a random change whose size depends on the branch (:class:`Drift`):

- GC content (a random walk, clipped to 0.25..0.75);
- a Markov background of order ``markov_order`` (log-odds of the next base
  given the previous bases, perturbed with Gaussian noise on every branch);
- codon usage (64 log-weights: a GC-driven part, strongest at the third codon
  position, plus inherited Gaussian noise);
- motifs of 6-8 bp: each branch may gain motifs that are *over-represented*
  (written into the genome at a given density, both orientations) and motifs
  that are *depleted* (their occurrences are mutated away).

*Genomes share ancestry within a genus.*  Each genus gets an ancestral genome:
genes (``ATG`` + codons drawn from the genus codon usage + a stop codon, on
either strand, each gene with its own codon-bias strength, as highly and weakly
expressed genes differ) separated by intergenic stretches drawn from the genus
Markov background.  A species genome is that ancestor after

1. synonymous resampling of a fraction of the codons from the *species* codon
   usage (the amino-acid sequence is kept),
2. point substitutions whose new base is drawn from the *species* Markov
   background given the preceding bases, and redrawing of a fraction of the
   bases given the base five positions upstream, from a species-specific
   4 x 4 coupling table that keeps the base composition (a dependence that
   spans six bases: invisible to 4-mer counts, visible to 6-mer counts),
3. insertion of the lineage's over-represented motifs (genus and species
   motifs) and removal of its depleted motifs,
4. small insertions and deletions, and a few inversions,

trimmed to ``genome_length``.  Strains (optional) are copies of their species
genome with a few extra substitutions and indels.  Genera do not share sequence,
only inherited traits.

*Why this calibration.*  Coarse, coherent signals (GC, the low-order Markov
background) differ mostly between genera and phyla; between sibling species
they differ little.  What separates sibling species lives mostly in codon
usage (a 3-periodic, higher-order signal), in the five-apart base coupling
and in species-specific 6-8 bp motifs (over-represented) and 6-mers
(depleted, as restriction sites are avoided): localised or long-range signals that a 6-mer spectrum or a model reading longer
context sees much better than tetranucleotide frequencies (TNF), whose 256
dimensions average them away.  The defaults (:data:`DEFAULT_EVOLUTION`) are
tuned so that, on the evaluation species with the fragments of
:data:`EVAL_FRAGMENT_LENGTH` bp (:data:`EVAL_FRAGMENTS_PER_GENOME` per genome),
TNF clustering reaches an ARI of about 0.45-0.5 (0.49 on the default seed,
0.43-0.52 on seeds 0-7; the real 15-genome set gives 0.36), 6-mer spectra do
clearly better (0.60; 0.59-0.63), and most confusions happen between species
of the same genus.  The price of these strong species signals is that sibling
species diverge a lot (they share few 12-mers), so the shared ancestry within
a genus is faint at the sequence level.  The tests in
``tests/test_simulate.py`` check these properties.

*Train / evaluation split.*  In every genus a fraction ``eval_fraction`` of the
species is held out for evaluation (DNABERT-S evaluates on unseen species), so
the evaluation set contains hard same-genus pairs and no evaluation species is
ever seen in training.

Everything is vectorised with NumPy; the default community (8 genera x 5
species x 100 kbp) takes about half a second on one core.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnalib.errors import DnalibError
from dnalib.io import GENOME_RANKS, write_genome_set
from dnalib.seqerrors import ErrorModel, mutate_codes
from dnalib.sequences import encode, sample_fragments

__all__ = [
    "DEFAULT_EVOLUTION",
    "DEFAULT_SEED",
    "EVAL_FRAGMENTS_PER_GENOME",
    "EVAL_FRAGMENT_LENGTH",
    "RANKS",
    "TRAINING_GENERA",
    "Community",
    "Drift",
    "EvolutionParams",
    "Phylogeny",
    "default_community",
    "simulate_community",
    "simulate_reads",
    "training_community",
    "training_genomes",
]

#: Seed of the book's default community.
DEFAULT_SEED = 0

#: Fragment length (bp) of the documented evaluation setting.
EVAL_FRAGMENT_LENGTH = 5_000

#: Number of random non-overlapping fragments per evaluation genome.
EVAL_FRAGMENTS_PER_GENOME = 15

#: Taxonomic ranks of the taxonomy table, as in the real genome sets.
RANKS: tuple[str, ...] = GENOME_RANKS

_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)

# Standard genetic code, codons in TCAG order (first base slowest).
_CODE_TCAG = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"


def _genetic_code() -> tuple[np.ndarray, np.ndarray]:
    """Amino-acid index (0..20, 20 = stop) and bases of the 64 codons in ACGT order."""
    tcag = {"T": 3, "C": 1, "A": 0, "G": 2}
    letters = sorted(set(_CODE_TCAG) - {"*"}) + ["*"]
    aa = np.empty(64, dtype=np.int64)
    for i, (b1, b2, b3) in enumerate(
        (x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"
    ):
        aa[16 * tcag[b1] + 4 * tcag[b2] + tcag[b3]] = letters.index(_CODE_TCAG[i])
    bases = np.array([[c // 16, (c // 4) % 4, c % 4] for c in range(64)], dtype=np.int64)
    return aa, bases


_AMINO, _CODON_BASES = _genetic_code()
_STOP = np.flatnonzero(_AMINO == 20)  # TAA, TAG, TGA
_START = 14  # ATG
# How strongly GC content shapes each codon position (the third the most).
_CODON_GC_SLOPE = np.array([0.8, 0.5, 1.8])


# --- parameters ----------------------------------------------------------------------


@dataclass(frozen=True)
class Drift:
    """How much the genome traits change along one branch of the tree.

    Parameters
    ----------
    gc
        Standard deviation of the change in GC content.
    markov
        Standard deviation of the Gaussian noise added to every log-odds of the
        Markov background.
    codon
        Standard deviation of the noise added to every codon log-weight.
    motifs
        Number of over-represented motifs gained on the branch.
    depleted
        Number of depleted motifs gained on the branch.
    motif_density
        Occurrences per kbp written into the genome for each motif gained here.
    coupling
        Standard deviation of the noise added to the 4 x 4 log-weights of the
        long-range base coupling (see :class:`EvolutionParams`).
    """

    gc: float = 0.0
    markov: float = 0.0
    codon: float = 0.0
    motifs: int = 0
    depleted: int = 0
    motif_density: float = 0.0
    coupling: float = 0.0


@dataclass(frozen=True)
class EvolutionParams:
    """All rates of the community model (the calibrated defaults are :data:`DEFAULT_EVOLUTION`).

    Parameters
    ----------
    markov_order
        Order of the Markov background (context length in bases).
    root_gc
        GC content at the root.
    root_markov, root_codon
        Standard deviation of the root's Markov log-odds and codon log-weights.
    phylum, family, genus, species
        Trait drift on the branches leading to a node of that rank.
    coding_fraction
        Fraction of an ancestral genome covered by genes.
    gene_codons
        Smallest and largest number of codons of a gene (uniform).
    codon_bias_spread
        Standard deviation of the log codon-bias strength of a gene.
    codon_resample
        Fraction of a genus ancestor's codons that a species resamples
        synonymously from its own codon usage.
    substitution
        Fraction of positions of a species genome redrawn from the species
        Markov background.
    indel
        Small insertions plus deletions per base on a species branch.
    indel_mean_length
        Mean length of an indel (geometric, at most 30 bp).
    inversions
        Number of inverted segments (1-10 kbp) per species genome.
    coupling_rate, coupling_distance
        Fraction of the positions of a species genome redrawn given the base
        ``coupling_distance`` positions upstream, from the lineage's coupling
        table (whose marginals equal the genome's base composition).  A
        dependence between bases five apart spans six bases: 6-mer spectra see
        it, 4-mer spectra cannot.
    strain_substitution, strain_indel
        Substitution and indel rates from a species genome to each strain.
    """

    markov_order: int = 3
    root_gc: float = 0.5
    root_markov: float = 0.4
    root_codon: float = 0.35
    phylum: Drift = Drift(gc=0.06, markov=0.25, codon=0.3)
    family: Drift = Drift(gc=0.015, markov=0.08, codon=0.1)
    genus: Drift = Drift(
        gc=0.025, markov=0.15, codon=0.2, motifs=8, depleted=4, motif_density=1.0
    )
    species: Drift = Drift(
        gc=0.008, markov=0.03, codon=0.1, motifs=8, depleted=12, motif_density=0.8,
        coupling=2.0,
    )
    coding_fraction: float = 0.75
    gene_codons: tuple[int, int] = (100, 500)
    codon_bias_spread: float = 0.3
    codon_resample: float = 0.5
    substitution: float = 0.05
    indel: float = 0.002
    indel_mean_length: float = 3.0
    inversions: int = 3
    coupling_rate: float = 0.2
    coupling_distance: int = 5
    strain_substitution: float = 0.005
    strain_indel: float = 0.0005


#: The calibrated rates of the book's community.
DEFAULT_EVOLUTION = EvolutionParams()


# --- traits ----------------------------------------------------------------------------


@dataclass
class _Traits:
    gc: float
    markov: np.ndarray  # (4**k, 4) log-odds noise
    codon: np.ndarray  # (64,) log-weight noise
    coupling: np.ndarray  # (4, 4) log-weights of the base coupling at a distance
    motifs: list[tuple[str, float]] = field(default_factory=list)
    depleted: list[str] = field(default_factory=list)


def _base_logfreq(gc: float | np.ndarray) -> np.ndarray:
    gc = np.clip(np.asarray(gc, dtype=np.float64), 0.02, 0.98)
    return np.log(np.stack([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], axis=-1))


def _random_motif(rng: np.random.Generator, length: int | None = None) -> str:
    length = int(rng.integers(6, 9)) if length is None else length
    return _BASES[rng.integers(0, 4, length)].tobytes().decode("ascii")


def _drift(parent: _Traits, d: Drift, rng: np.random.Generator) -> _Traits:
    gc = float(np.clip(parent.gc + rng.normal(0.0, d.gc), 0.25, 0.75)) if d.gc else parent.gc
    markov = parent.markov + rng.normal(0.0, d.markov, parent.markov.shape) if d.markov else parent.markov
    codon = parent.codon + rng.normal(0.0, d.codon, 64) if d.codon else parent.codon
    coupling = parent.coupling + rng.normal(0.0, d.coupling, (4, 4)) if d.coupling else parent.coupling
    motifs = parent.motifs + [(_random_motif(rng), d.motif_density) for _ in range(d.motifs)]
    depleted = parent.depleted + [_random_motif(rng, 6) for _ in range(d.depleted)]
    return _Traits(gc, markov, codon, coupling, motifs, depleted)


def _markov_cdf(t: _Traits) -> np.ndarray:
    logits = _base_logfreq(t.gc)[None, :] + t.markov
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    return cdf


def _coupling_cdf(logits: np.ndarray, composition: np.ndarray) -> np.ndarray:
    """Cumulative P(base at i | base at i - d) that keeps the base composition.

    Sinkhorn scaling turns ``exp(logits)`` into a joint table of the pair
    (base at i - d, base at i) whose two marginals are both ``composition``.
    """
    pi = np.clip(composition, 1e-6, None)
    pi = pi / pi.sum()
    kernel = np.exp(logits - logits.max())
    a = np.ones(4)
    b = np.ones(4)
    for _ in range(100):
        a = pi / (kernel @ b)
        b = pi / (kernel.T @ a)
    joint = a[:, None] * kernel * b[None, :]
    cdf = np.cumsum(joint / joint.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    return cdf


def _codon_logits(t: _Traits) -> np.ndarray:
    logits = t.codon.copy()
    for pos in range(3):
        gc_pos = 0.5 + _CODON_GC_SLOPE[pos] * (t.gc - 0.5)
        logits += _base_logfreq(gc_pos)[_CODON_BASES[:, pos]]
    return logits


def _synonymous_cdf(logits: np.ndarray) -> np.ndarray:
    """(21, 64) cumulative codon probabilities given the amino acid."""
    w = np.exp(logits - logits.max())
    table = np.where(_AMINO[None, :] == np.arange(21)[:, None], w[None, :], 0.0)
    cdf = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cdf[:, -1] = 1.0
    return cdf


# --- sequence operations (codes 0..3, vectorised) ------------------------------------


def _draw(cdf_rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a table of cumulative probabilities."""
    u = rng.random(cdf_rows.shape[0])
    return (u[:, None] > cdf_rows).sum(axis=1).astype(np.uint8)


def _markov_chain(cdf: np.ndarray, k: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """A Markov chain of order ``k`` run as many short parallel chains (no per-base loop)."""
    chunk = 100
    n_chains = max(1, -(-length // chunk))
    mask = 4**k - 1
    ctx = rng.integers(0, 4**k, n_chains)
    out = np.empty((chunk, n_chains), dtype=np.uint8)
    for t in range(chunk):
        b = _draw(cdf[ctx], rng)
        out[t] = b
        ctx = ((ctx << 2) | b) & mask
    return out.T.ravel()[:length]


def _left_context(seq: np.ndarray, k: int) -> np.ndarray:
    """Code of the ``k`` bases preceding every position (random-free: 0 for the first k)."""
    ctx = np.zeros(len(seq), dtype=np.int64)
    if len(seq) > k:
        windows = np.lib.stride_tricks.sliding_window_view(seq[:-1], k).astype(np.int64)
        ctx[k:] = windows @ (4 ** np.arange(k - 1, -1, -1))
    return ctx


def _window_codes(seq: np.ndarray, m: int) -> np.ndarray:
    windows = np.lib.stride_tricks.sliding_window_view(seq, m).astype(np.int64)
    return windows @ (4 ** np.arange(m - 1, -1, -1))


def _revcomp_codes(codes: np.ndarray) -> np.ndarray:
    return (3 - codes[::-1]).astype(np.uint8)


def _substitute(
    seq: np.ndarray, rate: float, cdf: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Redraw a fraction ``rate`` of positions from the Markov background given the left context."""
    pos = np.flatnonzero(rng.random(len(seq)) < rate)
    ctx = _left_context(seq, k)[pos]
    seq = seq.copy()
    seq[pos] = _draw(cdf[ctx], rng)
    return seq


def _couple(
    seq: np.ndarray, rate: float, logits: np.ndarray, distance: int, rng: np.random.Generator
) -> np.ndarray:
    """Redraw a fraction ``rate`` of positions given the base ``distance`` positions upstream."""
    cdf = _coupling_cdf(logits, np.bincount(seq, minlength=4) / max(len(seq), 1))
    pos = np.flatnonzero(rng.random(len(seq)) < rate)
    pos = pos[pos >= distance]
    seq = seq.copy()
    seq[pos] = _draw(cdf[seq[pos - distance]], rng)
    return seq


def _indels(
    seq: np.ndarray, rate: float, mean_length: float, gc: float, rng: np.random.Generator
) -> np.ndarray:
    """Small deletions then insertions (half of the events each) at random places."""
    n_events = int(rng.poisson(rate * len(seq)))
    n_del = int(rng.binomial(n_events, 0.5))
    n_ins = n_events - n_del
    p = 1.0 / max(mean_length, 1.0)
    del_len = np.minimum(rng.geometric(p, n_del), 30)
    starts = rng.integers(0, len(seq), n_del)
    offsets = np.arange(del_len.sum()) - np.repeat(np.cumsum(del_len) - del_len, del_len)
    gone = np.repeat(starts, del_len) + offsets
    keep = np.ones(len(seq), dtype=bool)
    keep[gone[gone < len(seq)]] = False
    seq = seq[keep]
    ins_len = np.minimum(rng.geometric(p, n_ins), 30)
    where = np.repeat(rng.integers(0, len(seq) + 1, n_ins), ins_len)
    freq = np.exp(_base_logfreq(gc))
    new = rng.choice(4, size=int(ins_len.sum()), p=freq / freq.sum()).astype(np.uint8)
    return np.insert(seq, where, new)


def _invert(seq: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    seq = seq.copy()
    for _ in range(n):
        length = int(rng.integers(1_000, min(10_000, max(len(seq) // 4, 1_001)) + 1))
        if length >= len(seq):
            continue
        start = int(rng.integers(0, len(seq) - length))
        seq[start : start + length] = _revcomp_codes(seq[start : start + length])
    return seq


def _insert_motifs(
    seq: np.ndarray, motifs: Sequence[tuple[str, float]], rng: np.random.Generator
) -> np.ndarray:
    seq = seq.copy()
    for motif, density in motifs:
        codes = encode(motif)
        m = len(codes)
        n = int(rng.poisson(density * len(seq) / 1000.0))
        if n == 0 or len(seq) <= m:
            continue
        starts = rng.integers(0, len(seq) - m, n)
        flip = rng.random(n) < 0.5
        values = np.where(flip[:, None], _revcomp_codes(codes)[None, :], codes[None, :])
        seq[starts[:, None] + np.arange(m)] = values
    return seq


def _deplete_motifs(
    seq: np.ndarray, motifs: Sequence[str], rng: np.random.Generator
) -> np.ndarray:
    seq = seq.copy()
    by_length: dict[int, list[np.ndarray]] = {}
    for motif in motifs:
        codes = encode(motif)
        by_length.setdefault(len(codes), []).extend([codes, _revcomp_codes(codes)])
    for m, variants in by_length.items():
        if len(seq) < m:
            continue
        targets = np.array([v.astype(np.int64) @ (4 ** np.arange(m - 1, -1, -1)) for v in variants])
        hits = np.flatnonzero(np.isin(_window_codes(seq, m), targets)) + m // 2
        seq[hits] = (seq[hits] + rng.integers(1, 4, len(hits))) % 4
    return seq


@dataclass
class _Ancestor:
    seq: np.ndarray
    codon_pos: np.ndarray  # (n_codons, 3) genome positions, in gene orientation
    codon_minus: np.ndarray  # (n_codons,) bool: gene on the minus strand


def _ancestor(
    t: _Traits, length: int, p: EvolutionParams, rng: np.random.Generator
) -> _Ancestor:
    """A genus ancestor: genes on both strands separated by Markov background."""
    lo, hi = p.gene_codons
    gene_bp = 3 * ((lo + hi) / 2 + 2)
    gap_mean = max(gene_bp * (1 - p.coding_fraction) / p.coding_fraction, 1.0)
    n_max = int(length / (gene_bp + gap_mean) * 1.5) + 10
    n_codons = rng.integers(lo, hi + 1, n_max)
    gaps = rng.geometric(1.0 / gap_mean, n_max)
    n_genes = int(np.searchsorted(np.cumsum(3 * (n_codons + 2) + gaps), length)) + 1
    n_codons, gaps = n_codons[:n_genes], gaps[:n_genes]
    minus = rng.random(n_genes) < 0.5

    background = _markov_chain(_markov_cdf(t), p.markov_order, int(gaps.sum()), rng)
    logits = _codon_logits(t)
    sense = _AMINO != 20
    stop_w = np.exp(logits[_STOP] - logits[_STOP].max())
    strength = np.exp(rng.normal(0.0, p.codon_bias_spread, n_genes))

    parts: list[np.ndarray] = []
    codon_pos: list[np.ndarray] = []
    offset = 0
    gap_starts = np.concatenate([[0], np.cumsum(gaps)])
    for g in range(n_genes):
        gap = background[gap_starts[g] : gap_starts[g + 1]]
        if rng.random() < 0.5:
            gap = _revcomp_codes(gap)
        parts.append(gap)
        offset += len(gap)
        w = np.where(sense, np.exp(strength[g] * (logits - logits.max())), 0.0)
        inner = rng.choice(64, size=int(n_codons[g]), p=w / w.sum())
        stop = rng.choice(_STOP, p=stop_w / stop_w.sum())
        codons = np.concatenate([[_START], inner, [stop]])
        gene = _CODON_BASES[codons].ravel().astype(np.uint8)
        size = len(gene)
        forward = 3 * np.arange(1, len(inner) + 1)[:, None] + np.arange(3)[None, :]
        if minus[g]:
            gene = _revcomp_codes(gene)
            codon_pos.append(offset + size - 1 - forward)
        else:
            codon_pos.append(offset + forward)
        parts.append(gene)
        offset += size
    counts = n_codons.astype(np.int64)
    return _Ancestor(
        seq=np.concatenate(parts),
        codon_pos=np.concatenate(codon_pos),
        codon_minus=np.repeat(minus, counts),
    )


def _species_genome(
    anc: _Ancestor, t: _Traits, length: int, p: EvolutionParams, rng: np.random.Generator
) -> np.ndarray:
    seq = anc.seq.copy()
    # 1. synonymous codon resampling from the species codon usage
    pick = np.flatnonzero(rng.random(len(anc.codon_pos)) < p.codon_resample)
    pos = anc.codon_pos[pick]
    minus = anc.codon_minus[pick][:, None]
    bases = seq[pos].astype(np.int64)
    bases = np.where(minus, 3 - bases, bases)
    codons = bases @ np.array([16, 4, 1])
    new = _draw(_synonymous_cdf(_codon_logits(t))[_AMINO[codons]], rng)
    new_bases = _CODON_BASES[new]
    seq[pos] = np.where(minus, 3 - new_bases, new_bases)
    # 2. substitutions from the species background
    seq = _substitute(seq, p.substitution, _markov_cdf(t), p.markov_order, rng)
    seq = _couple(seq, p.coupling_rate, t.coupling, p.coupling_distance, rng)
    # 3. motifs
    seq = _insert_motifs(seq, t.motifs, rng)
    seq = _deplete_motifs(seq, t.depleted, rng)
    # 4. indels and inversions
    seq = _indels(seq, p.indel, p.indel_mean_length, t.gc, rng)
    seq = _invert(seq, p.inversions, rng)
    return seq[:length]


def _strain_genome(
    seq: np.ndarray, t: _Traits, p: EvolutionParams, rng: np.random.Generator
) -> np.ndarray:
    seq = _substitute(seq, p.strain_substitution, _markov_cdf(t), p.markov_order, rng)
    return _indels(seq, p.strain_indel, p.indel_mean_length, t.gc, rng)


def _to_text(codes: np.ndarray) -> str:
    return _BASES[codes].tobytes().decode("ascii")


def _split_contigs(seq: str, n: int, rng: np.random.Generator) -> list[str]:
    if n <= 1:
        return [seq]
    min_len = len(seq) // (4 * n)
    cuts = np.sort(rng.choice(np.arange(min_len, len(seq) - min_len), n - 1, replace=False))
    while np.any(np.diff(np.concatenate([[0], cuts, [len(seq)]])) < min_len):
        cuts = np.sort(rng.choice(np.arange(min_len, len(seq) - min_len), n - 1, replace=False))
    bounds = np.concatenate([[0], cuts, [len(seq)]])
    return [seq[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


# --- the community ---------------------------------------------------------------------


@dataclass
class Phylogeny:
    """The community's tree as a table of nodes.

    Attributes
    ----------
    nodes
        One row per node, indexed by node id (``"root"``, ``"P1"``, ``"C1"``,
        ``"O1"``, ``"F1"``, ``"G01"``, ``"G01_S01"``, strains ``"G01_S01_T1"``)
        with columns ``parent`` (missing for the root), ``rank`` (a name of
        :data:`RANKS`, or ``"strain"``), ``name`` (the taxon name used in the
        taxonomy table) and ``gc`` (the node's GC-content trait).  The leaves
        are the genomes.
    """

    nodes: pd.DataFrame

    def children(self, node: str) -> list[str]:
        """Ids of the children of a node.

        Parameters
        ----------
        node
            A node id.

        Returns
        -------
        list of str
            The children in table order (empty for a leaf).
        """
        self._check(node)
        return self.nodes.index[self.nodes["parent"] == node].tolist()

    def ancestors(self, node: str) -> list[str]:
        """Ids of the ancestors of a node, from its parent up to the root.

        Parameters
        ----------
        node
            A node id.

        Returns
        -------
        list of str
            Parent first, ``"root"`` last; empty for the root.
        """
        self._check(node)
        out: list[str] = []
        parent = self.nodes.at[node, "parent"]
        while not pd.isna(parent):
            out.append(str(parent))
            parent = self.nodes.at[parent, "parent"]
        return out

    @property
    def leaves(self) -> list[str]:
        """Ids of the leaves (the genomes)."""
        has_child = set(self.nodes["parent"].dropna())
        return [n for n in self.nodes.index if n not in has_child]

    def to_newick(self) -> str:
        """The tree in Newick format, internal nodes named, no branch lengths.

        Returns
        -------
        str
            A single line ending in ``;``.
        """
        kids: dict[str, list[str]] = {}
        for node, parent in self.nodes["parent"].items():
            if not pd.isna(parent):
                kids.setdefault(str(parent), []).append(str(node))

        def render(node: str) -> str:
            if node not in kids:
                return node
            return "(" + ",".join(render(c) for c in kids[node]) + ")" + node

        return render("root") + ";"

    def _check(self, node: str) -> None:
        if node not in self.nodes.index:
            raise DnalibError(f"unknown tree node {node!r}: use one of Phylogeny.nodes.index")


@dataclass
class Community:
    """A simulated community: genomes, taxonomy, train/eval split, tree, settings.

    Attributes
    ----------
    genomes
        Genome id -> list of contigs (upper-case ACGT strings).
    taxonomy
        Indexed by genome id (index name ``id``), one column per rank of
        :data:`RANKS`, as for the real genome sets.
    split
        Indexed by genome id, values ``"train"`` or ``"eval"``; all genomes of
        a species share its value.
    tree
        The phylogeny; its leaves are the genome ids.
    params
        The seed and every setting, enough to regenerate the community.
    """

    genomes: dict[str, list[str]]
    taxonomy: pd.DataFrame
    split: pd.Series
    tree: Phylogeny
    params: dict[str, Any]

    @property
    def ids(self) -> list[str]:
        """All genome ids, in tree order."""
        return list(self.genomes)

    @property
    def train_ids(self) -> list[str]:
        """Ids of the genomes of the training species."""
        return self.split.index[self.split == "train"].tolist()

    @property
    def eval_ids(self) -> list[str]:
        """Ids of the genomes of the evaluation species (unseen in training)."""
        return self.split.index[self.split == "eval"].tolist()

    def labels(self, rank: str = "species", ids: Sequence[str] | None = None) -> pd.Series:
        """Taxon names of genomes at one rank.

        Parameters
        ----------
        rank
            One of :data:`RANKS`.
        ids
            Genome ids (default: all).

        Returns
        -------
        pandas.Series
            Indexed by genome id.
        """
        if rank not in RANKS:
            raise DnalibError(f"unknown rank {rank!r}: choose one of {', '.join(RANKS)}")
        ids = self.ids if ids is None else list(ids)
        missing = [i for i in ids if i not in self.taxonomy.index]
        if missing:
            raise DnalibError(f"unknown genome id(s) {missing[:3]}: use Community.ids")
        return self.taxonomy.loc[ids, rank]

    def to_newick(self) -> str:
        """The phylogeny in Newick format (see :meth:`Phylogeny.to_newick`).

        Returns
        -------
        str
            A single line ending in ``;``.
        """
        return self.tree.to_newick()

    def fragments(
        self,
        ids: Sequence[str] | None = None,
        *,
        length: int = EVAL_FRAGMENT_LENGTH,
        n_per_genome: int = EVAL_FRAGMENTS_PER_GENOME,
        seed: int = 0,
    ) -> tuple[list[str], pd.DataFrame]:
        """Random non-overlapping fragments of genomes, with their labels.

        With the defaults on :attr:`Community.eval_ids` this is the documented evaluation
        setting on which the difficulty of the community is calibrated.

        Parameters
        ----------
        ids
            Genome ids (default: :attr:`Community.eval_ids`).
        length
            Fragment length in bp.
        n_per_genome
            Fragments drawn from every genome.
        seed
            Seed of the fragment positions.

        Returns
        -------
        fragments : list of str
            The fragments, genome by genome.
        table : pandas.DataFrame
            One row per fragment: ``id``, ``contig``, ``start`` and the rank
            columns ``genus`` and ``species``.
        """
        ids = self.eval_ids if ids is None else list(ids)
        unknown = [i for i in ids if i not in self.genomes]
        if unknown:
            raise DnalibError(f"unknown genome id(s) {unknown[:3]}: use Community.ids")
        rng = np.random.default_rng(seed)
        seqs: list[str] = []
        rows: list[pd.DataFrame] = []
        for gid in ids:
            frags, coords = sample_fragments(
                self.genomes[gid], length, n_per_genome, seed=rng, return_coords=True
            )
            seqs.extend(frags)
            rows.append(
                pd.DataFrame(
                    {
                        "id": gid,
                        "contig": coords[:, 0],
                        "start": coords[:, 1],
                        "genus": self.taxonomy.at[gid, "genus"],
                        "species": self.taxonomy.at[gid, "species"],
                    }
                )
            )
        table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
            columns=["id", "contig", "start", "genus", "species"]
        )
        return seqs, table

    def write(self, directory: str | Path, *, gzip: bool = False) -> Path:
        """Write the community as a genome set directory.

        The layout is that of the real genome sets (one ``<id>.fa`` per genome
        and ``taxonomy.tsv`` with ``id`` and the rank columns) plus
        ``split.tsv`` (columns ``id``, ``split``), ``tree.nwk`` and
        ``params.json``.

        Parameters
        ----------
        directory
            Target directory (created if missing).
        gzip
            Write ``<id>.fa.gz`` instead of plain FASTA.

        Returns
        -------
        pathlib.Path
            The directory.
        """
        directory = Path(directory)
        write_genome_set(self.genomes, self.taxonomy, directory, gzip=gzip)
        self.split.rename("split").rename_axis("id").reset_index().to_csv(
            directory / "split.tsv", sep="\t", index=False
        )
        (directory / "tree.nwk").write_text(self.to_newick() + "\n")
        (directory / "params.json").write_text(json.dumps(self.params, indent=2) + "\n")
        return directory


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise DnalibError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def simulate_community(
    seed: int = DEFAULT_SEED,
    *,
    n_genera: int = 8,
    species_per_genus: int = 5,
    strains_per_species: int = 1,
    genome_length: int = 100_000,
    contigs_per_genome: int = 1,
    n_phyla: int = 2,
    genera_per_family: int = 2,
    eval_fraction: float = 0.4,
    evolution: EvolutionParams = DEFAULT_EVOLUTION,
) -> Community:
    """Simulate a microbial community with a known phylogeny.

    See the module documentation for the model.  The result depends only on
    the arguments; genera are generated from their own random streams, so
    adding genera leaves the existing ones unchanged.

    Parameters
    ----------
    seed
        Seed of everything.
    n_genera
        Number of genera.
    species_per_genus
        Species in every genus.
    strains_per_species
        Genomes per species.  With 1 (default) the genome is the species
        genome itself, with id ``G01_S01``; otherwise strains ``G01_S01_T1``,
        ``G01_S01_T2``, ...
    genome_length
        Length of every species genome in bp (strains differ by a few indels).
    contigs_per_genome
        Number of contigs each genome is cut into.
    n_phyla
        Number of phyla (families alternate between them).
    genera_per_family
        Genera per family.
    eval_fraction
        Fraction of the species of every genus held out for evaluation
        (rounded; at least one species per genus stays in training).
    evolution
        The rates of the model (default :data:`DEFAULT_EVOLUTION`).

    Returns
    -------
    Community
        Genomes, taxonomy, split, tree and parameters.

    Raises
    ------
    DnalibError
        If a setting is out of range.

    Examples
    --------
    >>> com = simulate_community(1, n_genera=2, species_per_genus=2, genome_length=20_000)
    >>> len(com.genomes), len(com.genomes["G01_S01"][0])
    (4, 20000)
    """
    seed = _check_int("seed", seed, 0)
    n_genera = _check_int("n_genera", n_genera, 1)
    species_per_genus = _check_int("species_per_genus", species_per_genus, 1)
    strains_per_species = _check_int("strains_per_species", strains_per_species, 1)
    genome_length = _check_int("genome_length", genome_length, 10_000)
    contigs_per_genome = _check_int("contigs_per_genome", contigs_per_genome, 1)
    n_phyla = _check_int("n_phyla", n_phyla, 1)
    genera_per_family = _check_int("genera_per_family", genera_per_family, 1)
    if not 0.0 <= float(eval_fraction) < 1.0:
        raise DnalibError(f"eval_fraction must be in [0, 1), got {eval_fraction!r}")
    if contigs_per_genome > genome_length // 2_000:
        raise DnalibError(
            f"contigs_per_genome={contigs_per_genome} is too many for {genome_length} bp "
            "genomes: keep contigs at least 2 kbp long on average"
        )
    if not isinstance(evolution, EvolutionParams):
        raise DnalibError("evolution must be an EvolutionParams (see DEFAULT_EVOLUTION)")
    p = evolution
    k = p.markov_order

    def stream(*key: int) -> np.random.Generator:
        return np.random.default_rng([seed, *key])

    root_rng = stream(0)
    root = _Traits(
        gc=p.root_gc,
        markov=root_rng.normal(0.0, p.root_markov, (4**k, 4)),
        codon=root_rng.normal(0.0, p.root_codon, 64),
        coupling=np.zeros((4, 4)),
    )
    n_families = -(-n_genera // genera_per_family)
    phyla = [_drift(root, p.phylum, stream(1, i)) for i in range(n_phyla)]
    families = [_drift(phyla[f % n_phyla], p.family, stream(2, f)) for f in range(n_families)]

    nodes: list[dict[str, Any]] = [
        {"node": "root", "parent": None, "rank": "superkingdom", "name": "Bacteria", "gc": root.gc}
    ]
    for i in range(min(n_phyla, n_families)):
        nodes.append({"node": f"P{i + 1}", "parent": "root", "rank": "phylum",
                      "name": f"Phylum{i + 1}", "gc": phyla[i].gc})
        nodes.append({"node": f"C{i + 1}", "parent": f"P{i + 1}", "rank": "class",
                      "name": f"Class{i + 1}", "gc": phyla[i].gc})
    for f in range(n_families):
        ph = f % n_phyla + 1
        nodes.append({"node": f"O{f + 1}", "parent": f"C{ph}", "rank": "order",
                      "name": f"Order{f + 1}", "gc": families[f].gc})
        nodes.append({"node": f"F{f + 1}", "parent": f"O{f + 1}", "rank": "family",
                      "name": f"Family{f + 1}", "gc": families[f].gc})

    genomes: dict[str, list[str]] = {}
    tax_rows: list[dict[str, str]] = []
    split: dict[str, str] = {}
    n_eval = min(int(round(eval_fraction * species_per_genus)), species_per_genus - 1)
    for g in range(n_genera):
        f = g // genera_per_family
        ph = f % n_phyla
        genus_rng = stream(3, g)
        genus = _drift(families[f], p.genus, genus_rng)
        gid = f"G{g + 1:02d}"
        gname = f"Genus{g + 1:02d}"
        nodes.append({"node": gid, "parent": f"F{f + 1}", "rank": "genus", "name": gname,
                      "gc": genus.gc})
        anc_len = int(genome_length * 1.05) + 2_000
        anc = _ancestor(genus, anc_len, p, genus_rng)
        eval_species = set(genus_rng.permutation(species_per_genus)[:n_eval].tolist())
        upper = {
            "superkingdom": "Bacteria",
            "phylum": f"Phylum{ph + 1}",
            "class": f"Class{ph + 1}",
            "order": f"Order{f + 1}",
            "family": f"Family{f + 1}",
            "genus": gname,
        }
        for s in range(species_per_genus):
            srng = stream(4, g, s)
            traits = _drift(genus, p.species, srng)
            sid = f"{gid}_S{s + 1:02d}"
            sname = f"{gname} species{s + 1:02d}"
            codes = _species_genome(anc, traits, genome_length, p, srng)
            nodes.append({"node": sid, "parent": gid, "rank": "species", "name": sname,
                          "gc": traits.gc})
            members: list[tuple[str, np.ndarray]] = []
            if strains_per_species == 1:
                members.append((sid, codes))
            else:
                for t in range(strains_per_species):
                    tid = f"{sid}_T{t + 1}"
                    members.append((tid, _strain_genome(codes, traits, p, stream(5, g, s, t))))
                    nodes.append({"node": tid, "parent": sid, "rank": "strain",
                                  "name": f"{sname} strain T{t + 1}", "gc": traits.gc})
            for mid, mcodes in members:
                genomes[mid] = _split_contigs(_to_text(mcodes), contigs_per_genome, srng)
                tax_rows.append({"id": mid, **upper, "species": sname})
                split[mid] = "eval" if s in eval_species else "train"

    taxonomy = pd.DataFrame(tax_rows).set_index("id")[list(RANKS)]
    split_series = pd.Series(split, name="split").rename_axis("id")
    tree = Phylogeny(pd.DataFrame(nodes).set_index("node"))
    params = {
        "seed": seed,
        "n_genera": n_genera,
        "species_per_genus": species_per_genus,
        "strains_per_species": strains_per_species,
        "genome_length": genome_length,
        "contigs_per_genome": contigs_per_genome,
        "n_phyla": n_phyla,
        "genera_per_family": genera_per_family,
        "eval_fraction": float(eval_fraction),
        "evolution": dataclasses.asdict(p),
    }
    return Community(genomes, taxonomy, split_series, tree, params)


@functools.lru_cache(maxsize=1)
def default_community() -> Community:
    """The book's community: :func:`simulate_community` with :data:`DEFAULT_SEED`.

    Cached in the process, so every caller gets the same object; do not
    modify it.

    Returns
    -------
    Community
        8 genera x 5 species x 100 kbp, 16 evaluation species.
    """
    return simulate_community(DEFAULT_SEED)


#: Genera of :func:`training_community`: the default community's 8 and 32 more.
TRAINING_GENERA = 40


@functools.lru_cache(maxsize=1)
def training_community(n_genera: int | None = None) -> Community:
    """The community the book's models are trained on: the default one and more genera.

    With *n_genera* (quick checks of a benchmark), the same generator with
    that many genera, whose first 8 are still the default community's.

    :func:`simulate_community` with :data:`DEFAULT_SEED` and
    :data:`TRAINING_GENERA` genera. Genera come from their own random
    streams, so its first 8 genera are exactly :func:`default_community`'s
    (same genomes, same train / evaluation split) and the other 32 are new.
    Models train on its training species (:func:`training_genomes`, 120
    species) and are evaluated on the default community's 16 evaluation
    species, which are never seen in training.

    Why more than the default community: with its 24 training species
    contrastive training saturates (the loss falls to about zero within a few
    hundred steps, the task being too easy) and learns what tells those 24
    apart rather than what tells species apart in general; five times as many
    training species keep the task hard and make what is learned transfer to
    unseen species (a linear encoder of 6-mer spectra trained with weighted
    SimCLR: ARI 0.65 on the evaluation species with 24 training species,
    0.76 with 120). DNABERT-S trained on thousands of genomes for the same
    reason.

    Cached in the process; do not modify it.

    Returns
    -------
    Community
        40 genera x 5 species x 100 kbp; 120 training species.
    """
    return simulate_community(DEFAULT_SEED, n_genera=n_genera or TRAINING_GENERA)


def training_genomes() -> dict[str, list[str]]:
    """Contigs of every training species of :func:`training_community`, by genome id.

    The training data of the book's models (pretraining and contrastive
    fine-tuning); none of :func:`default_community`'s evaluation species is
    among them.

    Returns
    -------
    dict
        Genome id -> list of contigs (120 genomes).
    """
    community = training_community()
    return {g: community.genomes[g] for g in community.train_ids}


# --- reads -----------------------------------------------------------------------------


def simulate_reads(
    genomes: Mapping[str, str | Sequence[str]] | str | Sequence[str],
    n: int,
    length: int | tuple[float, float] = 1_000,
    *,
    substitution_rate: float = 0.0,
    insertion_rate: float = 0.0,
    deletion_rate: float = 0.0,
    abundances: Mapping[str, float] | None = None,
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Sample reads from genomes, from both strands, with a long-read error model.

    Each read copies a template (a random stretch of a random contig, reverse
    complemented on the minus strand; ambiguous bases replaced by random ones)
    base by base, with the error model of :mod:`dnalib.seqerrors`
    (:func:`dnalib.seqerrors.mutate_codes`): a base is deleted with
    probability ``deletion_rate``, otherwise replaced by another base with
    probability ``substitution_rate / (1 - deletion_rate)``, and a random base
    is inserted after it with probability ``insertion_rate``.  Per template
    base the expected numbers of substitutions, insertions and deletions are
    therefore the three rates.

    Parameters
    ----------
    genomes
        Genome id -> sequence or list of contigs; a single sequence or list of
        contigs is taken as one genome with id ``"genome"``.
    n
        Number of reads.
    length
        Template length: an int, or ``(mean, sd)`` of a log-normal length
        distribution (rounded, at least 50 bp, at most the contig).
    substitution_rate, insertion_rate, deletion_rate
        Error rates per template base.
    abundances
        Relative abundance per genome id (default: proportional to genome
        length, as in a community with equal cell counts).
    seed
        Seed or NumPy Generator.

    Returns
    -------
    pandas.DataFrame
        One row per read: ``read_id``, ``sequence``, ``genome``, ``contig``
        (index), ``start``, ``end`` (template on the forward strand, half-open),
        ``strand`` (``"+"`` or ``"-"``), ``template_length`` and the error
        counts ``substitutions``, ``insertions``, ``deletions``.

    Raises
    ------
    DnalibError
        For an empty genome set, bad rates or lengths, or unknown abundance ids.
    """
    if isinstance(genomes, str):
        genome_map: dict[str, list[str]] = {"genome": [genomes]}
    elif isinstance(genomes, Mapping):
        genome_map = {str(g): [c] if isinstance(c, str) else list(c) for g, c in genomes.items()}
    else:
        genome_map = {"genome": list(genomes)}
    genome_map = {g: [c for c in cs if len(c) > 0] for g, cs in genome_map.items()}
    genome_map = {g: cs for g, cs in genome_map.items() if cs}
    if not genome_map:
        raise DnalibError("simulate_reads needs at least one non-empty genome")
    n = _check_int("n", n, 0)
    rates = {"substitution_rate": substitution_rate, "insertion_rate": insertion_rate,
             "deletion_rate": deletion_rate}
    for name, rate in rates.items():
        if not 0.0 <= float(rate) < 1.0:
            raise DnalibError(f"{name} must be in [0, 1), got {rate!r}")
    if substitution_rate + deletion_rate >= 1.0:
        raise DnalibError("substitution_rate + deletion_rate must be below 1")
    model = ErrorModel(substitution_rate, insertion_rate, deletion_rate, name="simulate_reads")
    if isinstance(length, tuple):
        if len(length) != 2 or length[0] <= 0 or length[1] < 0:
            raise DnalibError(f"length must be an int or (mean, sd) with mean > 0, got {length!r}")
    else:
        _check_int("length", length, 1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    ids = list(genome_map)
    sizes = np.array([sum(len(c) for c in genome_map[g]) for g in ids], dtype=np.float64)
    if abundances is None:
        weights = sizes
    else:
        unknown = [g for g in abundances if g not in genome_map]
        if unknown:
            raise DnalibError(f"abundances name unknown genome(s) {unknown[:3]}")
        weights = np.array([float(abundances.get(g, 0.0)) for g in ids]) * sizes
        if weights.sum() <= 0 or np.any(weights < 0):
            raise DnalibError("abundances must be non-negative and not all zero")
    which = rng.choice(len(ids), size=n, p=weights / weights.sum())
    if isinstance(length, tuple):
        mean, sd = float(length[0]), float(length[1])
        sigma2 = np.log1p((sd / mean) ** 2)
        lengths = rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), n)
        lengths = np.maximum(np.rint(lengths), 50).astype(np.int64)
    else:
        lengths = np.full(n, int(length), dtype=np.int64)

    rows: list[dict[str, Any]] = []
    for i in range(n):
        gid = ids[which[i]]
        contigs = genome_map[gid]
        clen = np.array([len(c) for c in contigs], dtype=np.float64)
        ci = int(rng.choice(len(contigs), p=clen / clen.sum()))
        contig = contigs[ci]
        m = int(min(lengths[i], len(contig)))
        start = int(rng.integers(0, len(contig) - m + 1))
        template = encode(contig[start : start + m])
        template = np.where(template > 3, rng.integers(0, 4, m), template).astype(np.uint8)
        minus = bool(rng.random() < 0.5)
        if minus:
            template = _revcomp_codes(template)
        edits = mutate_codes(template, model, rng)
        rows.append(
            {
                "read_id": f"read{i}",
                "sequence": _to_text(edits.codes),
                "genome": gid,
                "contig": ci,
                "start": start,
                "end": start + m,
                "strand": "-" if minus else "+",
                "template_length": m,
                "substitutions": edits.substitutions,
                "insertions": edits.insertions,
                "deletions": edits.deletions,
            }
        )
    columns = ["read_id", "sequence", "genome", "contig", "start", "end", "strand",
               "template_length", "substitutions", "insertions", "deletions"]
    return pd.DataFrame(rows, columns=columns)

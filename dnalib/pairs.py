"""Positive pairs for contrastive training: groups of contigs and the sampler that draws from them.

A *group* is a list of contigs whose fragments count as the same thing: one
genome (:func:`genome_groups`), one species (:func:`species_groups`) or, with
no labels at all, one contig (:func:`contig_groups`). :class:`PairSampler`
draws two non-overlapping fragments of one group per positive pair; the other
pairs of a batch are the negatives. Both trainers use it:
:func:`dnalib.contrastive.finetune` and
:func:`dnalib.spectrum_map.train_spectrum_map`; the losses that score the
pairs are in :mod:`dnalib.losses`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dnalib.errors import DnalibError
from dnalib.sequences import reverse_complement, sample_fragments

__all__ = ["PairSampler", "SAMPLE_BY", "contig_groups", "genome_groups", "species_groups"]

#: How :class:`PairSampler` picks the groups of a step (see its ``sample_by``).
SAMPLE_BY = ("group", "length")


def genome_groups(genomes: Any) -> list[list[str]]:
    """One group of contigs per genome (positives: two fragments of the same genome).

    Parameters
    ----------
    genomes
        A mapping id -> contigs (or one sequence), or an object with a
        ``genomes`` mapping (a genome set or a simulated community).

    Returns
    -------
    list of list of str
    """
    mapping = getattr(genomes, "genomes", genomes)
    return [[c] if isinstance(c, str) else list(c) for c in mapping.values()]


def species_groups(genomes: Any, rank: str = "species") -> list[list[str]]:
    """One group of contigs per label at *rank* (positives: two fragments of one species).

    Two genomes of one species are then never each other's negatives (with
    :func:`genome_groups` two strains of a species in one batch are pushed
    apart). Genomes whose label is missing (empty or a placeholder such as
    ``unknown``, :func:`dnalib.labels.missing_labels`, the rule of every
    task) are left out, with one warning that counts them.

    Parameters
    ----------
    genomes
        A genome set (:class:`dnalib.io.GenomeSet`) or a simulated community:
        anything with ``genomes`` (id -> contigs) and ``labels(rank)``.
    rank : str
        The rank whose labels form the groups.

    Returns
    -------
    list of list of str
        Groups in order of first appearance.
    """
    import warnings

    from dnalib.labels import missing_labels

    groups: dict[str, list[str]] = {}
    labels = list(genomes.labels(rank))
    missing = missing_labels(labels)
    for (gid, label), unknown in zip(zip(genomes.genomes, labels, strict=True), missing, strict=True):
        if unknown:  # a missing label is no species: never the positives of one another
            continue
        contigs = genomes.genomes[gid]
        groups.setdefault(label, []).extend([contigs] if isinstance(contigs, str) else contigs)
    if missing.any():
        warnings.warn(f"{int(missing.sum())} of {len(labels)} genome(s) have a missing {rank} label "
                      "(empty or a placeholder such as 'unknown') and are left out of the "
                      "contrastive groups", UserWarning, stacklevel=2)
    return list(groups.values())


def contig_groups(sequences: Sequence[str], min_length: int) -> list[list[str]]:
    """Label-free groups: every contig long enough for two non-overlapping views.

    Positives are then two fragments of the same contig, so the method runs on
    an unlabelled assembly or long-read set (contigs of one genome in
    different groups are unavoidable false negatives).

    Parameters
    ----------
    sequences : sequence of str
        Contigs or long reads.
    min_length : int
        Keep contigs of at least this length (twice the fragment length).

    Returns
    -------
    list of list of str
    """
    groups = [[s] for s in sequences if len(s) >= min_length]
    if len(groups) < 2:
        raise DnalibError(
            f"only {len(groups)} sequence(s) are at least {min_length} bp long; label-free training "
            "needs at least two: use shorter fragments or longer contigs"
        )
    return groups


class PairSampler:
    """Positive pairs: two non-overlapping fragments of one group, groups drawn evenly.

    Each step draws ``n`` distinct groups (with repetition only when there are
    fewer groups than pairs), uniformly, so every genome (species) contributes
    equally however long it is (or, with ``sample_by="length"``, in
    proportion to their bases); then two non-overlapping fragments from the
    group's contigs (from the same contig when one is long enough for both,
    otherwise from two contigs). The batch of step *s* depends only on
    ``(seed, s)``.

    Parameters
    ----------
    groups : sequence of sequence of str
        Contigs per group (see :func:`genome_groups`, :func:`contig_groups`).
    length : int
        Bases per view.
    seed : int
        Seed of the sampler.
    reverse_complement : bool
        Draw each view from either strand.
    sample_by : str
        ``"group"``: groups drawn evenly; ``"length"``: in proportion to their
        usable bases (see :class:`dnalib.contrastive.FinetuneConfig`).
    """

    def __init__(self, groups: Sequence[Sequence[str]], length: int, *, seed: int = 0,
                 reverse_complement: bool = True, sample_by: str = "group") -> None:
        if sample_by not in SAMPLE_BY:
            raise DnalibError(f"sample_by must be one of {SAMPLE_BY}; got {sample_by!r}")
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise DnalibError(
                f"length (bases per view) must be a positive integer; got {length!r} "
                "(a chunk_length of 0 means no chunking: pass the fragment length instead)"
            )
        usable = []
        for contigs in groups:
            contigs = [c.upper() for c in contigs if len(c) >= length]
            if sum(len(c) // length for c in contigs) >= 2:
                usable.append(contigs)
        if len(usable) < 2:
            raise DnalibError(
                f"fewer than two groups hold two non-overlapping {length} bp fragments: "
                "use shorter fragments or longer sequences"
            )
        self.groups = usable
        self.sample_by = sample_by
        sizes = np.array([sum(len(c) for c in g) for g in usable], dtype=np.float64)
        self._p = sizes / sizes.sum() if sample_by == "length" else None
        self.length = length
        self.seed = seed
        self.reverse_complement = reverse_complement

    def _pair(self, contigs: list[str], rng: np.random.Generator) -> tuple[str, str]:
        a, b = sample_fragments(contigs, self.length, 2, seed=rng)
        if self.reverse_complement:
            a = reverse_complement(a) if rng.random() < 0.5 else a
            b = reverse_complement(b) if rng.random() < 0.5 else b
        return a, b

    def batch(self, step: int, n: int, *, return_groups: bool = False) -> tuple:
        """Views 1 and 2 of the *n* pairs of step *step*.

        With *return_groups* also the index of each pair's group in the
        sampler's ``groups`` (the usable groups, in input order).
        """
        rng = np.random.default_rng([self.seed, 5, step])
        replace = n > len(self.groups)
        chosen = rng.choice(len(self.groups), size=n, replace=replace, p=self._p)
        pairs = [self._pair(self.groups[g], rng) for g in chosen]
        views = [p[0] for p in pairs], [p[1] for p in pairs]
        return (*views, [int(g) for g in chosen]) if return_groups else views

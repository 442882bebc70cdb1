"""Named models shared between chapters: found in the cache, or trained and cached.

A chapter that needs a model an earlier chapter trained asks for it by name,
``artifacts.get("simclr", profile)``. If the cache holds it, made with the
same recipe, its directory is returned at once; otherwise it is trained
deterministically (training what it starts from first) and cached. Chapters
therefore run in any order and on their own, which is how Jupyter Book
executes them.

The recipes, all trained on :func:`dnalib.simulate.training_genomes` (the
training species of the default synthetic community and of 32 more genera;
the default community's evaluation species are never seen):

``mlm``
    MLM pretraining with the profile's settings (:mod:`dnalib.pretrain`).
``simclr``
    Phase 1 of the curriculum, weighted SimCLR, from ``mlm``: the curriculum
    run of the profile paused at the end of its first phase
    (``finetune(..., stop_after=phase_steps[0])``), with its checkpoint.
``curriculum``
    The same run continued from that checkpoint through phase 2, MI-Mix
    (same optimizer state, learning-rate schedule and stream of pairs): the
    full DNABERT-S curriculum, exactly as one uninterrupted run trains it.

For the ``hour`` profile the same three recipes (about an hour on 2 CPU
cores: 2,000 MLM steps, then 800 + 800 contrastive steps) train on real
genomes instead: the ``train`` split of ``genomes_real`` (59 species, none of
the kmcp15 genera; one group of positives per species). Their weights ship
with dnalib in ``dnalib/weights/hour/<name>`` with recipe and sha256, so
``get("curriculum", "hour")`` copies them into the cache at once;
``force=True`` trains again (a ``simclr`` continued into ``curriculum`` is
trained first when its checkpoint is missing, as in a shipped copy), and
``python benchmarks/ship_weights.py --profile hour mlm simclr curriculum``
rewrites the shipped copies.

Two more recipes train on real genomes, the same for every profile:

``spectrum_map``
    A :class:`~dnalib.spectrum_map.SpectrumMap` (a learned linear map of the
    canonical 5-mer spectrum, the transformer's cheap rival) trained with its
    default settings on the ``train`` split of ``genomes_real`` (59 species;
    none of the kmcp15 genera). Its weights (0.5 MB) ship with dnalib in
    ``dnalib/weights/spectrum_map`` with their recipe and sha256, so
    :func:`get` copies them into the cache without the corpus;
    ``get("spectrum_map", force=True)`` trains them again (about a minute,
    with the genomes_real mirror), and ``python benchmarks/ship_weights.py``
    rewrites the shipped copy.
``spectrum_map_refit``
    The same settings refit, once they were chosen on the validation species,
    on every genomes_real species outside the kmcp15 genera: the training
    split and the validation species of other genera (122 genomes, 96
    species). kmcp15 stays unseen, species and genera; the validation
    species do not (score them with ``spectrum_map``). The map to use on
    your own genomes (more species generalise better: chapter 9 measures
    it on kmcp15). Shipped in ``dnalib/weights/spectrum_map_refit``
    (``python benchmarks/ship_weights.py spectrum_map_refit`` rewrites it).

Two error-augmented recipes (:data:`AUGMENTED`) are a clean one with
``augment_errors="longread10"`` (each view of every positive pair gets its own
long-read errors, every step), nothing else changed:

``spectrum_map_aug10``
    ``spectrum_map`` so augmented (what ``dnalib spectrum-map --data
    genomes_real --augment-errors longread10`` trains; about 80 s), shipped
    in ``dnalib/weights/spectrum_map_aug10``.
``curriculum_aug10``
    The whole curriculum (SimCLR, then MI-Mix, the profile's steps) so
    augmented, trained as one run from ``mlm`` (on the data of the profile,
    as ``curriculum``). The ``hour`` one ships in
    ``dnalib/weights/hour/curriculum_aug10``: what ``dnalib finetune --profile
    hour --init dnalib/weights/hour/mlm --data genomes_real --augment-errors
    longread10`` trains (about 55 minutes), shipped from that run with
    ``python benchmarks/ship_weights.py --profile hour curriculum_aug10 --from
    DIR`` after :func:`adopt` checked it.

Three more ship because each is the point-best model of at least one cell of
chapter 11's grid (most of those leads are inside the noise), so anyone can
rerun those cells with the very weights scored:

``spectrum_map_h512``
    The nonlinear map of "Revisiting k-mer profile" (NeurIPS 2024): one
    sigmoid hidden layer of :data:`NONLINEAR_HIDDEN` units between the
    spectrum and the map, ``spectrum_map``'s other settings (``dnalib
    spectrum-map --data genomes_real --hidden 512``, about 2 minutes), in
    ``dnalib/weights/spectrum_map_h512`` (1.6 MB).
``spectrum_map_h512_aug10``
    The same trained with errors (``... --augment-errors longread10``), in
    ``dnalib/weights/spectrum_map_h512_aug10``.
``curriculum_plus_aug10``
    ``curriculum`` continued by a new run of MI-Mix only, with errors, for
    :data:`PLUS_SHARE` of the profile's MI-Mix steps, on pairs the curriculum
    did not draw (``data_offset`` = its steps). The hour one (240 steps, about
    9 minutes) is ``dnalib finetune --profile hour --init
    dnalib/weights/hour/curriculum --data genomes_real --curriculum mimix
    --steps 240 --data-offset 1600 --augment-errors longread10``, in
    ``dnalib/weights/hour/curriculum_plus_aug10``.

The cache lives in ``$DNALIB_CACHE/artifacts/<profile>/<name>`` (default
``~/.cache/dnalib``). Each directory holds ``dnalib_artifact.json`` with the
recipe; it is written last, after the model is complete, and a directory whose
recipe differs from the current one (settings changed) is trained again.
Training writes into a temporary directory that is renamed into place, so an
interrupted run never leaves a half-written model behind.

A model trained elsewhere with exactly the recipe (chapter 4 pretrains its
MLM live, with held-out evaluations and checkpoints on the way) can be put in
the cache with :func:`adopt`, which checks the settings, the training data and
the start first; later chapters then find it instead of training it again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dnalib.errors import DnalibError
from dnalib.training import FINETUNE_INFO_FILE, PRETRAIN_INFO_FILE, SPECTRUM_MAP_INFO_FILE, plain

#: Names :func:`get` knows.
NAMES = ("mlm", "simclr", "curriculum", "curriculum_aug10", "curriculum_plus_aug10", "spectrum_map",
         "spectrum_map_refit", "spectrum_map_aug10", "spectrum_map_h512", "spectrum_map_h512_aug10")
#: The spectrum maps among :data:`NAMES` (the same for every profile, shipped in ``dnalib/weights/<name>``).
MAPS = ("spectrum_map", "spectrum_map_refit", "spectrum_map_aug10", "spectrum_map_h512",
        "spectrum_map_h512_aug10")
#: Error-augmented artifacts, each the recipe of a clean one with ``augment_errors=AUGMENT``.
AUGMENTED = {"spectrum_map_aug10": "spectrum_map", "curriculum_aug10": "curriculum"}
#: Every artifact trained with errors (:data:`AUGMENTED`, and two that change more than the errors).
WITH_ERRORS = (*AUGMENTED, "spectrum_map_h512_aug10", "curriculum_plus_aug10")
#: Sequencing errors of the augmented recipes (:func:`dnalib.seqerrors.error_model`).
AUGMENT = "longread10"
#: Hidden units of the nonlinear maps ``spectrum_map_h512`` and ``spectrum_map_h512_aug10``.
NONLINEAR_HIDDEN = 512
#: MI-Mix steps with errors that continue ``curriculum`` into ``curriculum_plus_aug10``, as a
#: share of the profile's MI-Mix phase (240 of 800 for the hour profile).
PLUS_SHARE = 0.3
#: Profiles whose transformer artifacts train on real genomes (and ship with dnalib).
REAL_PROFILES = ("hour",)
SYNTHETIC_TRAINING = "dnalib.simulate.training_genomes(): 120 training species of 40 synthetic genera"
REAL_TRAINING = ("dnalib.datasets.load_genomes_real().split('train'): 72 genomes of 59 species, "
                 "one group per species")
REFIT_TRAINING = ("dnalib.datasets.load_genomes_real().without(KMCP15_GENERA, 'genus'): 122 genomes "
                  "of 96 species (the train split and the validation species outside the kmcp15 "
                  "genera), one group per species")
RECIPE_FILE = "dnalib_artifact.json"
#: Checksums of a shipped artifact's files (``sha256  name`` lines).
SUMS_FILE = "SHA256SUMS"


def cache_root() -> Path:
    """The artifact cache: ``artifacts/`` beside the dataset cache (:func:`dnalib.datasets.cache_root`).

    ``$DNALIB_CACHE/artifacts`` when that variable is set, else the operating
    system's cache folder for dnalib (``~/.cache/dnalib/artifacts`` on Linux).
    """
    from dnalib.datasets import cache_root as data_cache

    return data_cache().parent / "artifacts"


def recipe(name: str, profile: str | None = None) -> dict[str, Any]:
    """The recipe of artifact *name*: what it starts from and every training setting.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    profile : str, optional
        ``smoke``, ``cpu``, ``hour`` or ``gpu`` (default: ``$DNALIB_PROFILE`` or ``cpu``).

    Returns
    -------
    dict
    """
    from dnalib import __version__
    from dnalib.contrastive import finetune_config
    from dnalib.pretrain import pretrain_config
    from dnalib.profiles import current_profile

    profile = current_profile(profile)
    errors = {"augment_errors": AUGMENT} if name in WITH_ERRORS else {}
    if name in MAPS:
        from dnalib.spectrum_map import SpectrumMapConfig

        shape = {"hidden": NONLINEAR_HIDDEN} if name.startswith("spectrum_map_h512") else {}
        return {"name": name, "kind": "spectrum-map", "from": None,
                "config": SpectrumMapConfig(**shape, **errors).to_dict(), "dnalib": __version__,
                "data": REFIT_TRAINING if name == "spectrum_map_refit" else REAL_TRAINING}
    data = {"data": REAL_TRAINING if profile in REAL_PROFILES else SYNTHETIC_TRAINING,
            "dnalib": __version__}
    if name == "mlm":
        cfg = pretrain_config(profile, checkpoint_every=0, eval_every=0)
        return {"name": name, "kind": "pretrain", "from": None, "config": plain(cfg), **data}
    # One curriculum run in two parts (chapters 5 and 6), as benchmarks/bench_contrastive.py runs it.
    full = finetune_config(profile, checkpoint_every=0)
    if name == "simclr":
        return {"name": name, "kind": "finetune", "from": "mlm", "config": plain(full),
                "stop_after": full.phase_steps[0], **data}
    if name == "curriculum":
        return {"name": name, "kind": "finetune", "from": "simclr", "config": plain(full),
                "continue": True, **data}
    if name == "curriculum_aug10":  # one run from mlm: no augmented simclr to continue
        return {"name": name, "kind": "finetune", "from": "mlm",
                "config": plain(finetune_config(profile, checkpoint_every=0, **errors)), **data}
    if name == "curriculum_plus_aug10":  # a new run from curriculum's weights: MI-Mix only, fresh pairs
        steps = max(1, round(PLUS_SHARE * full.phase_steps[-1]))
        cfg = finetune_config(profile, checkpoint_every=0, curriculum=("mimix",), phase_steps=(steps,),
                              data_offset=sum(full.phase_steps), **errors)
        return {"name": name, "kind": "finetune", "from": "curriculum", "config": plain(cfg), **data}
    raise DnalibError(f"unknown artifact {name!r}: choose one of {', '.join(NAMES)}")


def path(name: str, profile: str | None = None) -> Path:
    """Where artifact *name* of *profile* is (or would be) cached."""
    from dnalib.profiles import current_profile

    if name not in NAMES:
        raise DnalibError(f"unknown artifact {name!r}: choose one of {', '.join(NAMES)}")
    return cache_root() / current_profile(profile) / name


def is_cached(name: str, profile: str | None = None) -> bool:
    """True when the cache holds *name* made with the current recipe, its files intact.

    The cached copy is re-hashed against its ``SHA256SUMS`` every time: a
    damaged copy (one byte changed) is not cached, with a warning, and
    :func:`get` makes it again.
    """
    import warnings

    from dnalib.rundir import verify_sums

    where = path(name, profile) / RECIPE_FILE
    if not where.exists():
        return False
    try:
        if json.loads(where.read_text()) != plain(recipe(name, profile)):
            return False
    except (OSError, ValueError):
        return False
    try:
        verify_sums(where.parent)
    except DnalibError as exc:
        warnings.warn(f"the cached artifact {name!r} is damaged ({exc}); it is made again",
                      UserWarning, stacklevel=2)
        return False
    return True


def get(name: str, profile: str | None = None, *, progress: bool = True, force: bool = False,
        train: bool = True) -> Path:
    """The directory of artifact *name*, trained and cached first if needed.

    Parameters
    ----------
    name : str
        One of :data:`NAMES` (see the module docstring).
    profile : str, optional
        ``smoke``, ``cpu``, ``hour`` or ``gpu`` (default: ``$DNALIB_PROFILE`` or ``cpu``).
    progress : bool
        Show training progress bars.
    force : bool
        Train again even if cached or shipped (what it starts from is reused if cached).
    train : bool
        Train *name* when it is neither cached nor shipped; False refuses instead,
        with one line that says how to train it (``dnalib artifacts get`` without
        ``--train``).

    Returns
    -------
    pathlib.Path
        A model directory: ``AutoModel.from_pretrained(get(name))`` loads it;
        ``log.jsonl`` in it holds the training curve.
    """
    from dnalib.profiles import current_profile

    profile = current_profile(profile)
    target = path(name, profile)
    if not force and is_cached(name, profile):
        return target
    rec = recipe(name, profile)
    if not force and shipped_matches(name, rec, profile):
        return _install(target, rec, lambda tmp: shutil.copytree(shipped_path(name, profile), tmp))
    if not train:
        raise DnalibError(f"artifact {name!r} of the {profile} profile is neither cached nor shipped "
                          "with dnalib: pass --train (train=True) to train it (minutes, an hour for "
                          "the hour profile)")
    start = get(rec["from"], profile, progress=progress) if rec["from"] else None
    if rec.get("continue") and not (start / "checkpoints").is_dir():
        # a shipped start holds no checkpoint to continue from: train it here
        start = get(rec["from"], profile, progress=progress, force=True)
    return _install(target, rec, lambda tmp: _train(rec, tmp, start, progress))


#: Settings that change what is evaluated, logged or checkpointed on the way, never the trained
#: weights (evaluation runs in eval mode on its own random generator).
NOT_TRAINING = ("eval_every", "eval_fragments", "checkpoint_every", "keep_checkpoints")
#: The record a finished run of each kind of recipe writes, and what writes it.
RUN_RECORDS = {"pretrain": (PRETRAIN_INFO_FILE, "dnalib.pretrain.pretrain"),
               "finetune": (FINETUNE_INFO_FILE, "dnalib.contrastive.finetune"),
               "spectrum-map": (SPECTRUM_MAP_INFO_FILE, "dnalib.spectrum_map.train_spectrum_map")}


def adopt(name: str, directory: str | os.PathLike[str], profile: str | None = None) -> Path:
    """Cache a model trained elsewhere as artifact *name*, after checking it is the recipe's.

    *directory* must be a finished run of the recipe (:func:`dnalib.pretrain.pretrain`,
    :func:`dnalib.contrastive.finetune`, :func:`dnalib.spectrum_map.train_spectrum_map`,
    or the ``dnalib`` command that calls it): the recipe's settings, except those in
    :data:`NOT_TRAINING`; its training data (the same sequences, groups and order);
    and, for a recipe that starts from another artifact, that artifact's weights
    (:func:`get` provides them). The directory is copied (it is left as it is) and
    the copy gets the recipe file, so :func:`get` returns it. ``simclr`` and
    ``curriculum`` (one run trained in two parts) cannot be adopted.

    Parameters
    ----------
    name : str
        One of :data:`NAMES` but ``simclr`` and ``curriculum``.
    directory : str or path-like
        A finished training output directory.
    profile : str, optional
        ``smoke``, ``cpu``, ``hour`` or ``gpu`` (default: ``$DNALIB_PROFILE`` or ``cpu``).

    Returns
    -------
    pathlib.Path
        The cached artifact directory.

    Raises
    ------
    DnalibError
        If *directory* is not a finished run, or was trained with other settings,
        data or start than the recipe (the message names them).
    """
    from dnalib.contrastive import init_fingerprint
    from dnalib.pairs import PairSampler
    from dnalib.profiles import current_profile
    from dnalib.training import changed_keys, groups_fingerprint, sequences_fingerprint

    profile = current_profile(profile)
    target = path(name, profile)  # checks the name
    rec = recipe(name, profile)
    if rec.get("continue") or rec.get("stop_after"):
        raise DnalibError(f"the {name!r} artifact (one curriculum run trained in two parts) cannot be "
                          f"adopted: use artifacts.get({name!r}) to train it")
    info_file, trainer = RUN_RECORDS[rec["kind"]]
    src = Path(directory)
    info_path = src / info_file
    if not info_path.is_file() or not (src / "config.json").is_file():
        raise DnalibError(f"{src} is not a finished run of {trainer} (no {info_file} or config.json): "
                          "adopt its output directory after it returned")
    try:
        info = json.loads(info_path.read_text())
    except ValueError as err:
        raise DnalibError(f"{info_path} is not valid JSON ({err}): train again") from err
    saved, wanted = plain(info.get("config", {})), rec["config"]
    changed = [k for k in changed_keys(saved, wanted) if k not in NOT_TRAINING]
    if changed:
        detail = ", ".join(f"{k}={saved.get(k)!r} (recipe {wanted.get(k)!r})" for k in changed)
        raise DnalibError(f"{src} was not trained with the {profile} recipe of {name!r}: {detail}; "
                          f"train it with artifacts.recipe({name!r}, {profile!r})['config'] unchanged")
    if info.get("complete") is False:
        raise DnalibError(f"{src} stopped after {info.get('steps_done')} steps, before the end of the "
                          "recipe: finish it (--resume) first")
    fingerprints = info.get("fingerprints", {})
    if "data" not in fingerprints:
        raise DnalibError(f"{info_path} does not name its training data (written by an older dnalib): "
                          "train it again with this version")
    if rec["kind"] == "pretrain":
        data = sequences_fingerprint(_recipe_contigs(rec))
    else:  # the groups as the run's pair sampler keeps them (contigs that hold a fragment, upper case)
        data = groups_fingerprint(PairSampler(_recipe_groups(rec), rec["config"]["fragment_length"]).groups)
    if fingerprints["data"] != data:
        raise DnalibError(f"{src} was trained on other sequences than the recipe's "
                          f"({rec['data'].split(':')[0]}, in order)")
    if rec["from"] and fingerprints.get("initial model") != init_fingerprint(
            get(rec["from"], profile, progress=False)):
        raise DnalibError(f"{src} did not start from the {profile} {rec['from']!r} artifact (it started "
                          f"from {info.get('init', 'an unnamed model')}): pass "
                          f"artifacts.get({rec['from']!r}, {profile!r}) as its initial model")
    return _install(target, rec, lambda tmp: shutil.copytree(src, tmp))


def shipped_path(name: str, profile: str | None = None) -> Path:
    """Where dnalib ships the trained weights of artifact *name*.

    ``dnalib/weights/<name>`` for a spectrum map (one for every profile) and
    ``dnalib/weights/<profile>/<name>`` for a transformer (the ``hour`` profile's ship).
    """
    from dnalib.profiles import current_profile

    root = Path(__file__).resolve().parent / "weights"
    return root / name if name in MAPS else root / current_profile(profile) / name


def shipped_matches(name: str, rec: dict[str, Any] | None = None, profile: str | None = None) -> bool:
    """True when shipped weights of *name* exist, were made by its current recipe and match their sha256.

    A shipped copy whose recipe differs (the settings changed since it was
    trained) is not used: :func:`get` trains instead. A copy whose files do
    not match their ``SHA256SUMS`` (damaged) is refused with an error.
    """
    from dnalib.datasets import sha256_file

    where = shipped_path(name, profile)
    try:
        shipped = json.loads((where / RECIPE_FILE).read_text())
    except (OSError, ValueError):
        return False
    rec = plain(recipe(name, profile) if rec is None else rec)
    if {k: v for k, v in shipped.items() if k != "dnalib"} != \
            {k: v for k, v in rec.items() if k != "dnalib"}:
        return False
    sums = [line.split() for line in (where / SUMS_FILE).read_text().splitlines() if line.strip()]
    bad = [f for digest, f in sums if not (where / f).is_file() or sha256_file(where / f) != digest]
    if bad or not sums:
        raise DnalibError(f"the shipped weights in {where} are damaged ({', '.join(bad) or SUMS_FILE} "
                          f"do(es) not match {SUMS_FILE}): reinstall dnalib, or train them with "
                          f"artifacts.get({name!r}, force=True)")
    return True


def _install(target: Path, rec: dict[str, Any], fill: Callable[[Path], Any]) -> Path:
    """Fill a temporary directory, write the recipe into it last, then rename it to *target*."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    fill(tmp)
    (tmp / RECIPE_FILE).write_text(json.dumps(rec, indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def _real_genomes(data: str, progress: bool = False) -> Any:
    """The genomes_real subset a recipe's *data* names; ``None`` for the synthetic community.

    ``REAL_TRAINING``: the ``train`` split; ``REFIT_TRAINING``: every genome
    outside the kmcp15 genera.
    """
    from dnalib.datasets import KMCP15_GENERA, load_genomes_real

    if data == REAL_TRAINING:
        return load_genomes_real(progress=progress).split("train")
    if data == REFIT_TRAINING:
        return load_genomes_real(progress=progress).without(KMCP15_GENERA, "genus")
    return None


def _recipe_contigs(rec: dict[str, Any], progress: bool = False) -> list[str]:
    """Every contig of the recipe's training genomes, in order: what its ``mlm`` trains on."""
    from dnalib.simulate import training_genomes

    real = _real_genomes(rec["data"], progress)
    genomes = training_genomes() if real is None else real.genomes
    return [c for contigs in genomes.values() for c in contigs]


def _recipe_groups(rec: dict[str, Any], progress: bool = False) -> list[list[str]]:
    """The positive groups of the recipe's training genomes, in order: what its contrastive runs train on.

    One group per species of real genomes, one per genome of the synthetic ones.
    """
    from dnalib.pairs import genome_groups, species_groups
    from dnalib.simulate import training_genomes

    real = _real_genomes(rec["data"], progress)
    return genome_groups(training_genomes()) if real is None else species_groups(real)


def _train(rec: dict[str, Any], out: Path, start: Path | None, progress: bool) -> None:
    from dnalib.contrastive import FinetuneConfig, finetune
    from dnalib.pretrain import PretrainConfig, pretrain

    fields = rec["config"]
    if rec["kind"] == "spectrum-map":
        from dnalib.spectrum_map import SpectrumMapConfig, train_spectrum_map

        train_spectrum_map(_recipe_groups(rec, progress), out,
                           SpectrumMapConfig.from_dict(fields),
                           progress=progress, data_description=rec["data"],
                           command=f"dnalib.artifacts.get({rec['name']!r})")
        return
    command = f"dnalib.artifacts.get({rec['name']!r}, {fields['profile']!r})"
    if rec["kind"] == "pretrain":
        cfg = PretrainConfig.from_dict(fields)
        pretrain(_recipe_contigs(rec, progress), out, cfg,
                 progress=progress, data_description=rec["data"], command=command)
    else:
        cfg = FinetuneConfig.from_dict(fields)
        if rec.get("continue"):  # resume the run of `start` from its checkpoint, in a copy
            shutil.copytree(start, out, ignore=shutil.ignore_patterns(RECIPE_FILE))
        # continuing: the run in `out` goes on from its checkpoint, whatever it started from
        init = None if rec.get("continue") else start
        finetune(_recipe_groups(rec, progress), out, init, cfg, progress=progress,
                 resume=bool(rec.get("continue")), stop_after=rec.get("stop_after"),
                 data_description=rec["data"], command=command)


__all__ = ["AUGMENT", "AUGMENTED", "MAPS", "NAMES", "NONLINEAR_HIDDEN", "NOT_TRAINING", "PLUS_SHARE",
           "RUN_RECORDS", "WITH_ERRORS", "adopt", "cache_root", "get", "is_cached", "path", "recipe",
           "shipped_matches", "shipped_path"]

"""Registry of public datasets: download with checksums, cache, or serve from a local mirror.

Every dataset is a list of files, each with a URL and a sha256.  :func:`get`
returns a local directory that holds the dataset's files in the registry's
layout, fetching them in one of two ways:

*Download (default).*  Files are downloaded with `pooch
<https://www.fatiando.org/pooch/>`_ into the cache directory
``$DNALIB_CACHE/data/<dataset-dir>/`` (``DNALIB_CACHE`` defaults to the
operating system's cache folder, ``pooch.os_cache("dnalib")``).  pooch streams
each download into a temporary file next to the target and moves it into
place only after its sha256 matched, so an interrupted or corrupted download
never leaves a file under the final name; a later call simply downloads it
again.  A cached file is re-hashed on every :func:`get` (milliseconds for
these sizes) and re-downloaded if it no longer matches.

*Local mirror.*  ``DNALIB_DATA_MIRROR=<dir>`` (or ``mirror=<dir>``) serves the
same files from a folder laid out as ``<dir>/<dataset-dir>/<file>`` (for
example ``genomes-kmcp15/taxonomy.tsv`` and
``dairydb/DAIRYdb_v1.2.4_20200604_mothur.tgz``), for offline machines and CI.
The mirror is used **in place**: nothing is copied, and :func:`get` returns the
mirror's own ``<dir>/<dataset-dir>``.  Each mirrored file is still checked
against the registry's sha256; a file that does not match raises
:class:`~dnalib.errors.ChecksumError`.  A successful check is remembered in
``$DNALIB_CACHE/data/mirror-verified.json`` keyed by the file's absolute
path, size and modification time, so large mirrors are hashed once; a file
that is modified (new size or mtime) is hashed again.  With a mirror set, no
network access is attempted: a missing file is an error, not a download.

For tests and private HTTP mirrors, ``DNALIB_DATA_BASE_URL=<url>`` (or
``base_url=``) downloads ``<url>/<dataset-dir>/<file>`` instead of each file's
registered URL, with the same checksums, and :func:`register_dataset` adds
entries to the registry.

Registered datasets: ``kmcp15`` (15 bacterial RefSeq genomes with taxonomy,
from the KMCP repository), ``genomes_real`` (160 labelled genomes of 119
species with a species- and genus-disjoint train / validation split; served
from a mirror only), ``dairydb`` (DAIRYdb v1.2.4 16S reference, mothur
layout) and ``dnabert_s_eval`` (the DNABERT-S evaluation data on Google Drive;
no checksum is published, so :func:`get` refuses it unless
``allow_unverified=True``).  See ``data/README.md`` for sources, licences and
citations.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from dnalib.errors import ChecksumError, DataNotFoundError, DnalibError
from dnalib.io import GenomeSet

__all__ = [
    "load_real_or_synthetic",
    "DataFile",
    "DatasetInfo",
    "cache_root",
    "dataset_info",
    "format_datasets",
    "get",
    "list_datasets",
    "load_dairydb",
    "load_dataset",
    "load_kmcp15",
    "load_genomes_real",
    "genus_disjoint_split",
    "split_group",
    "GENOMES_REAL",
    "KMCP15_GENERA",
    "register_dataset",
    "sha256_file",
    "unregister_dataset",
]

MIRROR_ENV = "DNALIB_DATA_MIRROR"
BASE_URL_ENV = "DNALIB_DATA_BASE_URL"
CACHE_ENV = "DNALIB_CACHE"

_VERIFIED_FILE = "mirror-verified.json"


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    Parameters
    ----------
    path : str
        Path relative to the dataset directory (also its name in the mirror).
    url : str or None
        Where to download it from (``None`` if there is no direct URL).
    sha256 : str or None
        Expected sha256 (hex); ``None`` when no checksum is known.
    size : int or None
        Size in bytes, if known (informational).
    """

    path: str
    url: str | None
    sha256: str | None
    size: int | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"kmcp15"``.
    title : str
        One-line description.
    directory : str
        Folder name in the cache and in a mirror, e.g. ``"genomes-kmcp15"``.
    kind : str
        Layout: ``"genome_set"`` (FASTA files + ``taxonomy.tsv``, see
        :func:`dnalib.io.load_genome_set`), ``"16s_mothur_archive"`` (a
        mothur ``.tgz``, see :func:`dnalib.io.load_16s_archive`) or
        ``"archive"`` (an archive to unpack yourself).
    files : tuple[DataFile, ...]
        The files.
    licence : str
        Licence of the data (or of the repository that distributes it).
    citation : str
        What to cite.
    source : str
        Human-readable home page of the data.
    notes : str
        Anything a user should know (caveats, how it was obtained).
    ranks : tuple of str, optional
        For a genome set whose label table has other columns too: the rank
        columns to keep (default: every column).
    split_rule : callable, optional
        For a genome set with a documented split: a function of the label
        table returning ``{genome id: split name}`` (see :meth:`dnalib.io.GenomeSet.split`).
    """

    name: str
    title: str
    directory: str
    kind: str
    files: tuple[DataFile, ...]
    licence: str
    citation: str
    source: str
    notes: str = ""
    ranks: tuple[str, ...] | None = None
    split_rule: Callable[[pd.DataFrame], dict[str, str]] | None = None

    @property
    def verifiable(self) -> bool:
        """True if every file has a known sha256."""
        return all(f.sha256 for f in self.files)

    @property
    def size(self) -> int | None:
        """Total size in bytes, or ``None`` if any file's size is unknown."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


# --------------------------------------------------------------------------- the registry

_KMCP_BASE = "https://raw.githubusercontent.com/shenwei356/kmcp/main/demo-profiling"
_KMCP_GENOMES: tuple[tuple[str, str, int], ...] = (
    (
        "GCF_000006945.2",
        "e208aefecc2999689479f86c9bdb50a296be3bf6bb8fc2cc91d66ade89e33786",
        1519986,
    ),
    (
        "GCF_000017205.1",
        "81aa660a206ded07463deed23cdec5c8c17e25c28d09b48a1b1318da2b79f6ed",
        1964831,
    ),
    ("GCF_000148585.2", "a1950b5f4c966e6a1e1f53b8298f88e149cad3c7808f79c4cf6a389670d9e3c4", 571115),
    ("GCF_000392875.1", "de25a4a9c5cbd8609acaa82beb100ac4bcbcc894a8e5bb55d7e52c1f86a52ba9", 880189),
    (
        "GCF_000742135.1",
        "c28507976d1f710eba241c3c5870a10f3d6d434bd0ce8af020256311fef9a262",
        1697794,
    ),
    ("GCF_001027105.1", "f09532802c4b9c39ff7f55fd20fae29fcb5cb38792c6ed81d67940e4db369f13", 843014),
    ("GCF_001096185.1", "e420959c2491452391f669ee8ecc3fc82baf13f5178a183fb92ab970b9d841ec", 651442),
    ("GCF_001457655.1", "5c8a39f7d4cc890684375734f73b85686eb81aaa173333a3203628a231cad1b9", 578137),
    ("GCF_001544255.1", "51d999d9fe36bfb668fad16806c00559266bb5f8ee52217554e053879b32ff8a", 765260),
    (
        "GCF_002949675.1",
        "38954ad7f65249369529f1765e24b4d8f150f7a93a9696a0facf704adcb16654",
        1389921,
    ),
    (
        "GCF_002950215.1",
        "d41b65914b20190efb65901fb78b98f662655773e350972c1d108c05064a6bd8",
        1512862,
    ),
    (
        "GCF_003697165.2",
        "7423601511428ac3833b514259f71c758952ac179ba77d420031f07473212407",
        1547200,
    ),
    ("GCF_006742205.1", "de75cef4eb13db330161ade1a2268bc59719ab34ced163b3a6bfcd94eeece9b6", 737126),
    (
        "GCF_009759685.1",
        "43a723d2ad8b7bcfbd6f8ffc7d940fa27af16745259311e61e8014e3ce3a8e8c",
        1225671,
    ),
    ("GCF_900638025.1", "75afc13044b8d05f23498a657880e713f1b5473a9c9adac17ec35e9db6facfa1", 631209),
)

KMCP15 = DatasetInfo(
    name="kmcp15",
    title="15 bacterial RefSeq genomes with NCBI taxonomy (KMCP profiling demo)",
    directory="genomes-kmcp15",
    kind="genome_set",
    files=tuple(
        DataFile(f"{acc}.fa.gz", f"{_KMCP_BASE}/refs/{acc}.fa.gz", sha, size)
        for acc, sha, size in _KMCP_GENOMES
    )
    + (
        DataFile(
            "taxonomy.tsv",
            f"{_KMCP_BASE}/taxonomy.tsv",
            "e99c2fd6c6c5dec6e0b3d74d2350e1684f7ec729c5d810bd052e1d0b4849add1",
            1862,
        ),
        DataFile(
            "genome_size.tsv",
            f"{_KMCP_BASE}/genome_size.tsv",
            "d3209d926063cb8c7308a597a8a090c305af54dcb7039e1efc0a3ea4a2491101",
            375,
        ),
    ),
    licence="MIT (KMCP repository); the sequences are NCBI RefSeq records",
    citation=(
        "Shen W, Xiang H, Huang T, Tang H, Peng M, Cai D, Hu P, Ren H. KMCP: accurate "
        "metagenomic profiling of both prokaryotic and viral populations by pseudo-mapping. "
        "Bioinformatics 39(1):btac845, 2023. doi:10.1093/bioinformatics/btac845"
    ),
    source="https://github.com/shenwei356/kmcp/tree/main/demo-profiling",
    notes=(
        "One gzip FASTA per assembly (11 complete genomes, 4 multi-contig assemblies), 54 Mbp; "
        "taxonomy.tsv keyed by accession; 15 species, 10 genera, 2 phyla, with hard pairs "
        "(E. coli vs Shigella, S. pneumoniae vs S. mitis, S. aureus vs S. epidermidis, "
        "E. faecium vs E. faecalis)."
    ),
)

DAIRYDB = DatasetInfo(
    name="dairydb",
    title="DAIRYdb v1.2.4 full-length 16S rRNA reference (mothur layout)",
    directory="dairydb",
    kind="16s_mothur_archive",
    files=(
        DataFile(
            "DAIRYdb_v1.2.4_20200604_mothur.tgz",
            "https://raw.githubusercontent.com/marcomeola/DAIRYdb/master/"
            "DAIRYdb_v1.2.4_20200604/DAIRYdb_v1.2.4_20200604_mothur/"
            "DAIRYdb_v1.2.4_20200604_mothur.tgz",
            "becb72a28e8e8a7a4f2c22e25fc45e1530c1ff6f60cdad8abf0894e562999f25",
            3568923,
        ),
    ),
    licence="GPL-3.0 (DAIRYdb repository)",
    citation=(
        "Meola M, Rifa E, Shani N, Delbès C, Berthoud H, Chassard C. DAIRYdb: a manually "
        "curated reference database for improved taxonomy annotation of 16S rRNA gene "
        "sequences from dairy products. BMC Genomics 20:560, 2019. "
        "doi:10.1186/s12864-019-5914-8"
    ),
    source="https://github.com/marcomeola/DAIRYdb",
    notes=(
        "10,439 sequences (934-2,230 bp) with 7-level lineages; sequence lines end with a stray "
        "';' and contain IUPAC codes (handled by dnalib.io.load_16s_archive). Used by SCORPIO."
    ),
)

DNABERT_S_EVAL = DatasetInfo(
    name="dnabert_s_eval",
    title="DNABERT-S evaluation data (clustering, classification and binning sets)",
    directory="dnabert-s-eval",
    kind="archive",
    files=(
        DataFile(
            "dnabert-s_eval.zip",
            "https://drive.google.com/uc?export=download&id=1I44T2alXrtXPZrhkuca6QP3tFHxDW98c",
            None,
            None,
        ),
    ),
    licence="not stated for the data (see the DNABERT-S repository)",
    citation=(
        "Zhou Z, Wu W, Ho H, Wang J, Shi L, Davuluri RV, Wang Z, Liu H. DNABERT-S: Learning "
        "species-aware DNA embedding with genome foundation models. arXiv:2402.08777, 2024."
    ),
    source="https://github.com/MAGICS-LAB/DNABERT_S (README, section 2.2 Data)",
    notes=(
        "The repository documents 'gdown 1I44T2alXrtXPZrhkuca6QP3tFHxDW98c' then "
        "'unzip dnabert-s_eval.zip'. Google Drive publishes no checksum and may answer with an "
        "HTML confirmation page instead of the file; download it with gdown and place it in a "
        "mirror as dnabert-s-eval/dnabert-s_eval.zip. Not tested by dnalib."
    ),
)

#: The genera of the 15 kmcp15 genomes. The ``genomes_real`` split keeps them out of
#: training, so that kmcp15 stays a set of unseen species *and* genera (E. coli and
#: Shigella, for one, are hardly separable at the DNA level).
KMCP15_GENERA: tuple[str, ...] = (
    "Acinetobacter", "Enterococcus", "Escherichia", "Haemophilus", "Klebsiella",
    "Pseudomonas", "Salmonella", "Shigella", "Staphylococcus", "Streptococcus",
)

#: Fraction of the ``genomes_real`` genus groups (outside :data:`KMCP15_GENERA`) in training.
TRAIN_FRACTION = 0.6


def split_group(genus: str, species: str) -> str:
    """The unit a species-disjoint split keeps together: the genus, else a name stem.

    Genomes without a genus (metagenome-assembled genomes labelled e.g.
    ``candidate division WOR-1 bacterium RIFOXYA12_FULL_36_13``) are grouped by
    their name before ``bacterium`` / ``archaeon``, so that six WOR-1 genomes
    land on one side of the split.

    Parameters
    ----------
    genus, species : str
        The genome's labels.

    Returns
    -------
    str
    """
    return genus if genus else re.sub(r"\s+(bacterium|archaeon)\b.*$", "", species).strip()


def genus_disjoint_split(taxonomy: pd.DataFrame, *, held_out: Iterable[str] = KMCP15_GENERA,
                         train_fraction: float = TRAIN_FRACTION) -> dict[str, str]:
    """Split genomes into ``train`` and ``validation`` with no genus (hence no species) in both.

    Each genus group (:func:`split_group`) goes to ``train`` when the first 32
    bits of the sha256 of its name, read as a fraction of 2**32 - 1, are below
    *train_fraction*; to ``validation`` otherwise, and always when it is in
    *held_out*. The rule depends only on the names, so it gives the same split
    on any machine and does not move a genome when others are added.

    Parameters
    ----------
    taxonomy : pandas.DataFrame
        Indexed by genome id, with ``genus`` and ``species`` columns.
    held_out : iterable of str
        Genera kept out of training (default: :data:`KMCP15_GENERA`).
    train_fraction : float
        Expected fraction of the other groups in training.

    Returns
    -------
    dict
        Genome id to ``"train"`` or ``"validation"``.
    """
    held = set(held_out)
    split = {}
    for gid, row in taxonomy.iterrows():
        group = split_group(str(row["genus"]), str(row["species"]))
        share = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        split[str(gid)] = "train" if group not in held and share < train_fraction else "validation"
    return split


def _packaged_files(table: str) -> tuple[DataFile, ...]:
    from importlib.resources import files

    text = (files("dnalib") / "data" / table).read_text()
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return tuple(DataFile(path, None, sha, int(size)) for path, sha, size in rows[1:])


GENOMES_REAL = DatasetInfo(
    name="genomes_real",
    title="160 labelled prokaryote genomes of 119 species from public repositories' test data",
    directory="genomes-real",
    kind="genome_set",
    files=_packaged_files("genomes_real_files.tsv"),
    licence=(
        "public INSDC/RefSeq records, from repositories under MIT, BSD, GPL-2/3, CeCILL-2.1 or "
        "an academic licence (see SOURCES.tsv)"
    ),
    citation="the records' submitters, and the repositories named in SOURCES.tsv",
    source="data/README.md of the project's data mirror (genomes-real/SOURCES.tsv)",
    notes=(
        "160 gzip FASTA files (500 Mbp), 119 species in 82 genera, 152 Bacteria and 8 Archaea, at "
        "most 3 genomes per species; converted to gzip FASTA from their original files (named with "
        "repository, commit and path in SOURCES.tsv), so only a mirror of the converted files "
        "serves them (DNALIB_DATA_MIRROR or DNALIB_DATA_BASE_URL). Split species- and genus-"
        "disjoint into train (59 species) and validation (60), the kmcp15 genera in validation "
        "(genus_disjoint_split)."
    ),
    ranks=("domain", "phylum", "genus", "species"),
    split_rule=genus_disjoint_split,
)

_REGISTRY: dict[str, DatasetInfo] = {
    d.name: d for d in (KMCP15, DAIRYDB, DNABERT_S_EVAL, GENOMES_REAL)
}


def register_dataset(info: DatasetInfo, *, replace: bool = False) -> None:
    """Add a dataset to the registry (for private data or tests).

    Parameters
    ----------
    info : DatasetInfo
        The dataset description.
    replace : bool, optional
        Allow replacing an existing entry of the same name. Default: ``False``.

    Raises
    ------
    ~dnalib.errors.DnalibError
        If the name is taken and *replace* is false.
    """
    if info.name in _REGISTRY and not replace:
        raise DnalibError(
            f"a dataset named {info.name!r} is already registered; pass replace=True to override it"
        )
    _REGISTRY[info.name] = info


def unregister_dataset(name: str) -> None:
    """Remove a dataset from the registry (no error if absent).

    Parameters
    ----------
    name : str
        Registry key.
    """
    _REGISTRY.pop(name, None)


def list_datasets() -> list[DatasetInfo]:
    """All registered datasets, sorted by name.

    Returns
    -------
    list of DatasetInfo
        The registry entries.
    """
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def dataset_info(name: str) -> DatasetInfo:
    """Look up one dataset.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"kmcp15"``.

    Returns
    -------
    DatasetInfo
        The entry.

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        For an unknown name (the message lists the known names).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DataNotFoundError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(_REGISTRY))} "
            "(see 'dnalib data list')"
        ) from None


def _human_size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def format_datasets(datasets: Iterable[DatasetInfo] | None = None) -> str:
    """Render registry entries as text (what ``dnalib data list`` prints).

    Parameters
    ----------
    datasets : Iterable[DatasetInfo], optional
        Entries to show; all registered datasets by default.

    Returns
    -------
    str
        One block per dataset: name, title, size, files, licence, source and
        whether it can be verified.
    """
    blocks = []
    for d in list_datasets() if datasets is None else datasets:
        check = (
            "sha256 verified" if d.verifiable else "NO checksum: get() needs allow_unverified=True"
        )
        blocks.append(
            "\n".join(
                [
                    f"{d.name}: {d.title}",
                    f"  layout   {d.kind}, {len(d.files)} file(s), {_human_size(d.size)}, {check}",
                    f"  licence  {d.licence}",
                    f"  source   {d.source}",
                ]
            )
        )
    return "\n\n".join(blocks)


# --------------------------------------------------------------------------- locations


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder under which datasets are cached.

    Parameters
    ----------
    cache_dir : str or os.PathLike, optional
        Explicit cache folder; otherwise ``$DNALIB_CACHE``, otherwise the
        operating system's cache folder for ``dnalib`` (``pooch.os_cache``).

    Returns
    -------
    Path
        ``<cache>/data``; datasets live in ``<cache>/data/<dataset-dir>``.
    """
    if cache_dir is not None:
        base = Path(cache_dir)
    elif os.environ.get(CACHE_ENV):
        base = Path(os.environ[CACHE_ENV])
    else:
        import pooch

        base = Path(pooch.os_cache("dnalib"))
    return base.expanduser() / "data"


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """The sha256 (hex) of a file, read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    chunk_size : int, optional
        Read size. Default: ``1 MiB``.

    Returns
    -------
    str
        Lower-case hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _load_verified(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads((cache / _VERIFIED_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_verified(cache: Path, data: dict[str, Any]) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{_VERIFIED_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, indent=0, sort_keys=True))
        os.replace(tmp, cache / _VERIFIED_FILE)
    except OSError:  # a read-only cache only costs re-hashing next time
        pass


def _get_from_mirror(info: DatasetInfo, mirror: Path, cache: Path) -> Path:
    if not mirror.is_dir():
        raise DataNotFoundError(
            f"data mirror {mirror} is not a directory; set {MIRROR_ENV} (or mirror=) to a folder "
            f"laid out as <mirror>/{info.directory}/<file>, or unset it to download"
        )
    root = mirror / info.directory
    verified = _load_verified(cache)
    changed = False
    for f in info.files:
        path = root / f.path
        if not path.is_file():
            raise DataNotFoundError(
                f"data mirror {mirror} lacks {info.directory}/{f.path} for dataset {info.name!r}; "
                f"copy the file there (from {f.url or info.source}) or unset {MIRROR_ENV} to download"
            )
        if f.sha256 is None:
            continue
        st = path.stat()
        key = str(path.resolve())
        stamp = verified.get(key)
        if (
            isinstance(stamp, dict)
            and stamp.get("size") == st.st_size
            and stamp.get("mtime_ns") == st.st_mtime_ns
            and stamp.get("sha256") == f.sha256
        ):
            continue
        actual = sha256_file(path)
        if actual != f.sha256:
            raise ChecksumError(
                f"{path}: sha256 {actual} does not match the registry's {f.sha256} for dataset "
                f"{info.name!r}; the mirrored file is corrupt or a different version: replace it "
                "with a fresh copy of the original (or unset the mirror to download)"
            )
        verified[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": f.sha256}
        changed = True
    if changed:
        _save_verified(cache, verified)
    return root


_HASH_RE = re.compile(r"expected (?:sha256:)?([0-9a-fA-F]+) but got ([0-9a-fA-F]+)")


def _failure_reason(exc: BaseException, url: str) -> str:
    import requests

    host = urlparse(url).netloc or url
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.Timeout):
        return f"no answer from {host} in time"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect to {host}: offline?"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


def _download(info: DatasetInfo, f: DataFile, url: str, target: Path, progress: bool) -> None:
    import pooch
    import requests

    known = f"sha256:{f.sha256}" if f.sha256 else None
    logger = pooch.get_logger()
    level = logger.level
    if not progress:  # quiet: no "Downloading data from ..." line either
        logger.setLevel("WARNING")
    try:
        pooch.retrieve(url, known_hash=known, fname=f.path, path=target, progressbar=progress)
    except ValueError as exc:
        match = _HASH_RE.search(str(exc))
        if match is None:
            raise DnalibError(
                f"download of {f.path} for dataset {info.name!r} from {url} failed: {exc}"
            ) from exc
        raise ChecksumError(
            f"{url}: downloaded file has sha256 {match.group(2)} but dataset {info.name!r} expects "
            f"{match.group(1)}; the download was discarded (nothing cached): try again, and if it "
            "persists the file changed upstream; report it or use a verified copy via "
            f"{MIRROR_ENV}"
        ) from exc
    except (requests.RequestException, OSError) as exc:
        reason = _failure_reason(exc, url)
        raise DnalibError(
            f"download of {f.path} for dataset {info.name!r} from {url} failed ({reason}); "
            f"check the network connection, or set {MIRROR_ENV} to a local folder holding "
            f"{info.directory}/{f.path} (see data/README.md)"
        ) from exc
    finally:
        logger.setLevel(level)


def get(
    name: str,
    *,
    mirror: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    base_url: str | None = None,
    allow_unverified: bool = False,
) -> Path:
    """Return a local directory holding a dataset's files, fetching them if needed.

    Parameters
    ----------
    name : str
        Registry key (see :func:`list_datasets`).
    mirror : str or os.PathLike, optional
        Local mirror folder (``<mirror>/<dataset-dir>/<file>``); defaults to
        ``$DNALIB_DATA_MIRROR``.  Used in place, checksums verified, no network.
    cache_dir : str or os.PathLike, optional
        Cache folder; defaults to ``$DNALIB_CACHE`` or the OS cache folder.
    progress : bool, optional
        Show a tqdm progress bar while downloading. Default: ``True``.
    base_url : str, optional
        Download ``<base_url>/<dataset-dir>/<file>`` instead of the registered
        URLs; defaults to ``$DNALIB_DATA_BASE_URL``.
    allow_unverified : bool, optional
        Accept files that have no known sha256 (only ``dnabert_s_eval``). Default: ``False``.

    Returns
    -------
    Path
        The dataset directory, e.g. usable by :func:`dnalib.io.load_genome_set`
        for ``kmcp15``.

    Raises
    ------
    ~dnalib.errors.DataNotFoundError
        Unknown dataset name, or a file missing from the mirror.
    ~dnalib.errors.ChecksumError
        A downloaded or mirrored file has the wrong sha256 (a bad download is
        deleted, never cached).
    ~dnalib.errors.DnalibError
        The download failed (offline, HTTP error), or the dataset has no
        checksum and *allow_unverified* is false.
    """
    info = dataset_info(name)
    if not info.verifiable and not allow_unverified:
        where = ", ".join(f.url or f.path for f in info.files)
        raise DnalibError(
            f"dataset {name!r} has no published sha256, so dnalib cannot verify it ({where}); "
            f"download it yourself (see {info.source}) and place it in a mirror as "
            f"{info.directory}/{info.files[0].path}, or pass allow_unverified=True"
        )
    cache = cache_root(cache_dir)
    mirror = mirror if mirror is not None else (os.environ.get(MIRROR_ENV) or None)
    if mirror is not None:
        return _get_from_mirror(info, Path(mirror).expanduser(), cache)
    base = base_url if base_url is not None else (os.environ.get(BASE_URL_ENV) or None)
    target = cache / info.directory
    for f in info.files:
        if base:
            url = f"{base.rstrip('/')}/{info.directory}/{f.path}"
        elif f.url:
            url = f.url
        else:
            raise DnalibError(
                f"dataset {name!r} file {f.path} has no download URL; place it in a mirror "
                f"({MIRROR_ENV}) as {info.directory}/{f.path}"
            )
        _download(info, f, url, target, progress)
        local = target / f.path
        if f.sha256 is None and f.path.endswith(".zip") and not zipfile.is_zipfile(local):
            local.unlink(missing_ok=True)
            raise DnalibError(
                f"{url} did not return a zip archive (Google Drive often answers with an HTML "
                "confirmation page); download the file manually (e.g. with gdown) and place it "
                f"in a mirror as {info.directory}/{f.path}"
            )
    return target


# --------------------------------------------------------------------------- loaders


def load_dataset(name: str, **kwargs: Any) -> Any:
    """Fetch a dataset with :func:`get` and load it according to its layout.

    Parameters
    ----------
    name : str
        Registry key.
    **kwargs
        Passed to :func:`get` (``mirror``, ``cache_dir``, ``progress``, ...).

    Returns
    -------
    GenomeSet or pandas.DataFrame
        A genome set for ``"genome_set"`` datasets, a 16S table
        (``id``, ``sequence``, ranks) for ``"16s_mothur_archive"`` datasets.

    Raises
    ------
    ~dnalib.errors.DnalibError
        If the dataset's layout has no loader (use :func:`get`), or as :func:`get`.
    """
    from dnalib import io

    info = dataset_info(name)
    if info.kind not in ("genome_set", "16s_mothur_archive"):
        raise DnalibError(
            f"dataset {name!r} has layout {info.kind!r}, which dnalib does not load directly; "
            "use dnalib.datasets.get() and unpack it"
        )
    root = get(name, **kwargs)
    if info.kind == "genome_set":
        genomes = io.load_genome_set(root, ranks=info.ranks)
        if info.split_rule is not None:
            genomes.splits = info.split_rule(genomes.taxonomy)
        return genomes
    return io.load_16s_archive(root / info.files[0].path)


def load_kmcp15(**kwargs: Any) -> GenomeSet:
    """The 15 kmcp15 genomes with their taxonomy.

    Parameters
    ----------
    **kwargs
        Passed to :func:`get`.

    Returns
    -------
    GenomeSet
        15 genomes, ranks ``superkingdom`` ... ``species``.
    """
    return load_dataset("kmcp15", **kwargs)


def load_genomes_real(**kwargs: Any) -> GenomeSet:
    """The 160 genomes-real genomes with their taxonomy and their train / validation split.

    Parameters
    ----------
    **kwargs
        Passed to :func:`get` (a mirror is needed: the converted files have no download URL).

    Returns
    -------
    GenomeSet
        160 genomes, ranks ``domain``, ``phylum``, ``genus``, ``species``;
        ``.split("train")`` (72 genomes, 59 species) and
        ``.split("validation")`` (88 genomes, 60 species, the kmcp15 genera
        among them).
    """
    return load_dataset("genomes_real", **kwargs)


def load_dairydb(**kwargs: Any) -> pd.DataFrame:
    """The DAIRYdb v1.2.4 16S reference as a table.

    Parameters
    ----------
    **kwargs
        Passed to :func:`get`.

    Returns
    -------
    pandas.DataFrame
        10,439 rows; columns ``id``, ``sequence``, ``kingdom`` ... ``species``.
    """
    return load_dataset("dairydb", **kwargs)


def load_real_or_synthetic(
    name: str = "kmcp15", *, seed: int = 0, **kwargs: Any
) -> tuple[Any, str]:
    """Load a real genome set, or fall back to the synthetic community and say so.

    Chapters use this so that the book builds anywhere: with internet access or a
    local mirror (``DNALIB_DATA_MIRROR``) they show real genomes; on an offline
    machine without a mirror they print one clear line and use the synthetic
    community, which has the same ``genomes`` / ``taxonomy`` attributes.

    Parameters
    ----------
    name : str
        A registry key of layout ``"genome_set"`` (default ``"kmcp15"``).
    seed : int
        Seed of the synthetic community used as the fallback.
    **kwargs
        Passed to :func:`get`.

    Returns
    -------
    genomes : GenomeSet or dnalib.simulate.Community
        The loaded genome set (``.genomes``: id -> contigs, ``.taxonomy``: ranks).
    source : str
        ``"real"`` or ``"synthetic"``.
    """
    info = dataset_info(name)
    if info.kind != "genome_set":
        raise DnalibError(f"dataset {name!r} is not a genome set (layout {info.kind!r})")
    try:
        return load_dataset(name, **kwargs), "real"
    except DnalibError as exc:
        from dnalib.simulate import simulate_community

        print(
            f"Could not load the real dataset {name!r} ({exc}). Falling back to the synthetic "
            f"community (seed {seed}); set {MIRROR_ENV} to a local mirror to use real genomes."
        )
        return simulate_community(seed), "synthetic"

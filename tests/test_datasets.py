"""Tests for dnalib.datasets: download + cache over local HTTP, checksums, the local mirror."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from dnalib import datasets, io
from dnalib.datasets import DataFile, DatasetInfo
from dnalib.errors import ChecksumError, DataNotFoundError, DnalibError

pytestmark = pytest.mark.usefixtures("isolated_data_env")


# --------------------------------------------------------------------------- a local HTTP server


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path.startswith("/truncated/"):
                    # Promise 100 kB, send 10 bytes, hang up: an interrupted download.
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b">a\nACGTACG")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "www"
    root.mkdir()
    srv = _Server(root)
    yield srv
    srv.close()


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names registered by a test; removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        datasets.unregister_dataset(name)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tiny_genome_set(directory: Path) -> Path:
    taxonomy = pd.DataFrame(
        {"id": ["g1", "g2"], "genus": ["A", "B"], "species": ["A one", "B two"]}
    )
    genomes = {"g1": ["ACGT" * 30, "GGCC" * 5], "g2": "TTGACA" * 20}
    return io.write_genome_set(genomes, taxonomy, directory, gzip=True)


def register_tiny(
    registered: list[str],
    name: str,
    served: Path,
    url_base: str | None,
    *,
    directory: str = "tiny",
    bad_hash_for: str | None = None,
) -> DatasetInfo:
    files = []
    for path in sorted(served.iterdir()):
        digest = "0" * 64 if path.name == bad_hash_for else sha256(path)
        url = f"{url_base}/{directory}/{path.name}" if url_base else None
        files.append(DataFile(path.name, url, digest, path.stat().st_size))
    info = DatasetInfo(
        name=name,
        title="tiny test set",
        directory=directory,
        kind="genome_set",
        files=tuple(files),
        licence="CC0",
        citation="none",
        source="tests",
    )
    datasets.register_dataset(info)
    registered.append(name)
    return info


# --------------------------------------------------------------------------- registry


def test_registry_entries() -> None:
    names = [d.name for d in datasets.list_datasets()]
    assert {"kmcp15", "dairydb", "dnabert_s_eval"} <= set(names)
    kmcp = datasets.dataset_info("kmcp15")
    assert kmcp.kind == "genome_set" and kmcp.verifiable
    assert len([f for f in kmcp.files if f.path.endswith(".fa.gz")]) == 15
    assert all(
        f.url and f.url.startswith("https://raw.githubusercontent.com/shenwei356/kmcp/")
        for f in kmcp.files
    )
    assert "MIT" in kmcp.licence and "Bioinformatics" in kmcp.citation
    dairy = datasets.dataset_info("dairydb")
    assert "GPL-3.0" in dairy.licence and "BMC Genomics" in dairy.citation
    assert not datasets.dataset_info("dnabert_s_eval").verifiable
    text = datasets.format_datasets()
    assert "kmcp15" in text and "allow_unverified" in text


def test_registry_matches_mirror_checksums(shared_data: Path) -> None:
    sums = {}
    for line in (shared_data / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split()
        sums[rel] = digest
    for name in ("kmcp15", "dairydb", "genomes_real"):
        info = datasets.dataset_info(name)
        for f in info.files:
            assert sums[f"{info.directory}/{f.path}"] == f.sha256
            assert (shared_data / info.directory / f.path).stat().st_size == f.size


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(DataNotFoundError) as exc:
        datasets.get("nope")
    msg = str(exc.value)
    assert "\n" not in msg and "'nope'" in msg and "kmcp15" in msg and "dairydb" in msg


def test_unverifiable_dataset_is_refused() -> None:
    with pytest.raises(DnalibError) as exc:
        datasets.get("dnabert_s_eval")
    msg = str(exc.value)
    assert "no published sha256" in msg and "allow_unverified=True" in msg and "\n" not in msg


def test_register_refuses_duplicates(registered: list[str]) -> None:
    with pytest.raises(DnalibError, match="already registered"):
        datasets.register_dataset(datasets.dataset_info("kmcp15"))


# --------------------------------------------------------------------------- download + cache


def test_download_then_cache(
    server: _Server, registered: list[str], isolated_data_env: Path
) -> None:
    served = tiny_genome_set(server.root / "tiny")
    register_tiny(registered, "tiny", served, server.url)
    path = datasets.get("tiny", progress=False)
    assert path == isolated_data_env / "data" / "tiny"
    assert len(server.requests) == 3  # two genomes + taxonomy.tsv
    for f in served.iterdir():
        assert (path / f.name).read_bytes() == f.read_bytes()
    gs = io.load_genome_set(path)
    assert gs.ids == ["g1", "g2"] and gs.labels("species") == ["A one", "B two"]

    again = datasets.get("tiny", progress=False)
    assert again == path and len(server.requests) == 3  # served from the cache

    # A cached file that no longer matches its checksum is downloaded again.
    (path / "taxonomy.tsv").write_text("tampered\n")
    datasets.get("tiny", progress=False)
    assert len(server.requests) == 4
    assert (path / "taxonomy.tsv").read_bytes() == (served / "taxonomy.tsv").read_bytes()

    loaded = datasets.load_dataset("tiny", progress=False)
    assert len(loaded) == 2 and len(server.requests) == 4


def test_base_url_override(
    server: _Server, registered: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served = tiny_genome_set(server.root / "tinyb")
    register_tiny(registered, "tinyb", served, None, directory="tinyb")
    with pytest.raises(DnalibError, match="no download URL"):
        datasets.get("tinyb", progress=False)
    monkeypatch.setenv("DNALIB_DATA_BASE_URL", server.url)
    path = datasets.get("tinyb", progress=False, cache_dir=tmp_path / "other-cache")
    assert path == tmp_path / "other-cache" / "data" / "tinyb"
    assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in served.iterdir())


def test_corrupt_download_is_rejected_and_not_cached(
    server: _Server, registered: list[str], isolated_data_env: Path
) -> None:
    served = tiny_genome_set(server.root / "tiny")
    register_tiny(registered, "tinybad", served, server.url, bad_hash_for="g2.fa.gz")
    with pytest.raises(ChecksumError) as exc:
        datasets.get("tinybad", progress=False)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "g2.fa.gz" in msg and "0" * 64 in msg and sha256(served / "g2.fa.gz") in msg
    cache = isolated_data_env / "data" / "tiny"
    assert not (cache / "g2.fa.gz").exists()
    assert sorted(p.name for p in cache.iterdir()) == ["g1.fa.gz"]  # no temporary files left


def test_interrupted_download_leaves_nothing(
    server: _Server, registered: list[str], isolated_data_env: Path
) -> None:
    info = DatasetInfo(
        name="tinycut",
        title="cut",
        directory="cut",
        kind="archive",
        files=(DataFile("a.fa", f"{server.url}/truncated/a.fa", "1" * 64),),
        licence="CC0",
        citation="none",
        source="tests",
    )
    datasets.register_dataset(info)
    registered.append("tinycut")
    with pytest.raises(DnalibError) as exc:
        datasets.get("tinycut", progress=False)
    assert "download of a.fa" in str(exc.value) and "DNALIB_DATA_MIRROR" in str(exc.value)
    cache = isolated_data_env / "data" / "cut"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_http_error_and_offline(server: _Server, registered: list[str]) -> None:
    info = DatasetInfo(
        name="tiny404",
        title="missing",
        directory="t404",
        kind="archive",
        files=(DataFile("x.fa", f"{server.url}/nothing/x.fa", "1" * 64),),
        licence="CC0",
        citation="none",
        source="tests",
    )
    datasets.register_dataset(info)
    registered.append("tiny404")
    with pytest.raises(DnalibError) as exc:
        datasets.get("tiny404", progress=False)
    assert "HTTP 404" in str(exc.value)

    # A port nobody listens on stands in for "offline".
    probe = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()
    with pytest.raises(DnalibError) as exc:
        datasets.get("tiny404", progress=False, base_url=f"http://127.0.0.1:{port}")
    msg = str(exc.value)
    assert "\n" not in msg and "failed" in msg and "DNALIB_DATA_MIRROR" in msg


# --------------------------------------------------------------------------- local mirror


def test_mirror_kmcp15(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = datasets.get("kmcp15", mirror=shared_data)
    assert path == shared_data / "genomes-kmcp15"  # used in place, not copied
    monkeypatch.setenv("DNALIB_DATA_MIRROR", str(shared_data))
    gs = datasets.load_kmcp15()
    assert len(gs) == 15 and len(set(gs.labels("species"))) == 15


def test_mirror_dairydb(shared_data: Path) -> None:
    frame = datasets.load_dairydb(mirror=shared_data)
    assert len(frame) == 10_439 and list(frame.columns[2:]) == list(io.DAIRYDB_RANKS)


def test_tampered_mirror_is_rejected(shared_data: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    target = mirror / "genomes-kmcp15"
    target.mkdir(parents=True)
    for src in (shared_data / "genomes-kmcp15").iterdir():
        if src.name == "taxonomy.tsv":
            text = src.read_text().replace("Escherichia coli", "Escherichia kolli")
            (target / src.name).write_text(text)
        else:
            (target / src.name).symlink_to(src)  # no copies of the big files
    with pytest.raises(ChecksumError) as exc:
        datasets.get("kmcp15", mirror=mirror)
    msg = str(exc.value)
    expected = datasets.dataset_info("kmcp15").files[-2].sha256
    assert "\n" not in msg and "taxonomy.tsv" in msg and expected in msg
    assert sha256(target / "taxonomy.tsv") in msg


def test_mirror_missing_file(tmp_path: Path, registered: list[str]) -> None:
    served = tiny_genome_set(tmp_path / "mirror" / "tiny")
    register_tiny(registered, "tinym", served, None)
    (served / "g1.fa.gz").unlink()
    with pytest.raises(DataNotFoundError) as exc:
        datasets.get("tinym", mirror=tmp_path / "mirror")
    assert "tiny/g1.fa.gz" in str(exc.value) and "DNALIB_DATA_MIRROR" in str(exc.value)
    with pytest.raises(DataNotFoundError, match="not a directory"):
        datasets.get("tinym", mirror=tmp_path / "absent")


def test_mirror_verification_is_remembered(
    tmp_path: Path, registered: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tiny_genome_set(tmp_path / "mirror" / "tiny")
    register_tiny(registered, "tinyv", served, None)
    calls: list[str] = []
    real = datasets.sha256_file

    def counting(path: Path, chunk_size: int = 1 << 20) -> str:
        calls.append(Path(path).name)
        return real(path, chunk_size)

    monkeypatch.setattr(datasets, "sha256_file", counting)
    assert datasets.get("tinyv", mirror=tmp_path / "mirror") == served
    assert len(calls) == 3
    datasets.get("tinyv", mirror=tmp_path / "mirror")
    assert len(calls) == 3  # size + mtime unchanged: not hashed again
    shutil.copy(served / "g1.fa.gz", tmp_path / "g1.bak")
    (served / "g1.fa.gz").write_bytes(b"changed")
    with pytest.raises(ChecksumError, match="g1.fa.gz"):
        datasets.get("tinyv", mirror=tmp_path / "mirror")
    assert calls[-1] == "g1.fa.gz"


def test_load_real_or_synthetic_falls_back_and_says_so(isolated_data_env, monkeypatch, capsys):
    from dnalib.datasets import load_real_or_synthetic

    monkeypatch.setenv("DNALIB_DATA_BASE_URL", "http://127.0.0.1:9/")  # nothing listens there
    genomes, source = load_real_or_synthetic("kmcp15", progress=False)
    assert source == "synthetic"
    assert "Falling back to the synthetic community" in capsys.readouterr().out
    assert len(genomes.genomes) >= 40 and "species" in genomes.taxonomy.columns


def test_load_real_or_synthetic_uses_the_mirror(shared_data, isolated_data_env):
    from dnalib.datasets import load_real_or_synthetic

    genomes, source = load_real_or_synthetic("kmcp15", mirror=shared_data)
    assert source == "real" and len(genomes.genomes) == 15

"""`.ci/vendor_js.py`: the site's JavaScript, fetched from an npm-style registry
(here a server on localhost), checked against pinned checksums, unpacked."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import importlib.util
import io
import tarfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load():
    spec = importlib.util.spec_from_file_location("vendor_js", ROOT / ".ci" / "vendor_js.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


@pytest.fixture
def registry(tmp_path):
    """A local npm-style registry serving one package tarball."""
    root = tmp_path / "registry"
    tarball = _tgz({"package/dist/app.js": b"console.log(1)", "package/dist/app.js.map": b"{}",
                    "package/dist/big.js": b"x" * 10, "package/README.md": b"# readme"})
    path = root / "demo" / "-" / "demo-1.0.0.tgz"
    path.parent.mkdir(parents=True)
    path.write_bytes(tarball)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _integrity(tarball)
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_verify_unpack_and_skip_when_up_to_date(registry, tmp_path, monkeypatch):
    vj = _load()
    url, integrity = registry
    monkeypatch.setattr(vj, "REGISTRY", url)
    monkeypatch.setenv("DNALIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(vj, "PACKAGES", [("demo", "1.0.0", integrity,
                                          [("package/dist/", "demo/")], ("package/dist/big",))])
    dest = tmp_path / "book" / "_vendor"
    dest.parent.mkdir()
    assert vj.main(["vendor_js", str(dest)]) == 0
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    # source maps and excluded builds are left out; a stamp records what was unpacked
    assert files == ["vendor.json", "vendor/demo/app.js"]
    assert (dest / "vendor" / "demo" / "app.js").read_bytes() == b"console.log(1)"
    # up to date: nothing is downloaded or rewritten
    (dest / "vendor" / "demo" / "app.js").write_bytes(b"edited")
    monkeypatch.setattr(vj, "REGISTRY", "http://127.0.0.1:9")  # nothing listens there
    assert vj.main(["vendor_js", str(dest)]) == 0
    assert (dest / "vendor" / "demo" / "app.js").read_bytes() == b"edited"


def test_checksum_mismatch_and_unreachable_registry_fail_clearly(registry, tmp_path, monkeypatch):
    vj = _load()
    url, integrity = registry
    monkeypatch.setattr(vj, "REGISTRY", url)
    monkeypatch.setenv("DNALIB_CACHE", str(tmp_path / "cache"))
    wrong = _integrity(b"something else")
    with pytest.raises(SystemExit, match="does not match its pinned checksum"):
        vj.fetch("demo", "1.0.0", wrong)
    assert not list((tmp_path / "cache" / "npm").glob("*.tgz")), "a bad download must not be kept"
    monkeypatch.setattr(vj, "REGISTRY", "http://127.0.0.1:9")
    with pytest.raises(SystemExit, match="could not download demo@1.0.0"):
        vj.fetch("demo", "1.0.0", integrity)


def test_pinned_packages_are_well_formed():
    vj = _load()
    for name, version, integrity, files, _exclude in vj.PACKAGES:
        assert integrity.startswith("sha512-") and len(base64.b64decode(integrity[7:])) == 64
        assert files and all(isinstance(p, str) and isinstance(d, str) for p, d in files)
        assert vj._tarball_url(name, version).endswith(f"-{version}.tgz")
    config = (ROOT / "_config.yml").read_text()
    # every vendored entry point named in the config is one the script unpacks
    for entry in ("vendor/require.js", "vendor/html-manager/embed-amd.js",
                  "vendor/mathjax/tex-mml-chtml.js"):
        assert entry in config

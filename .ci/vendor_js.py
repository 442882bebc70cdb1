"""Fetch the JavaScript the built book serves itself, so its pages need no CDN.

Usage: python .ci/vendor_js.py [DEST]        (``make book`` runs it; DEST: book/_vendor)

Without this, the site would load three things from the internet: RequireJS and
the Jupyter widgets HTML manager (saved ipywidgets state, added by myst-nb) and
MathJax (formulas, added by Sphinx). Each is downloaded once from the npm
registry as the package tarball, checked against its pinned SHA-512 (the
``integrity`` the registry publishes; a mismatch stops the build), and the
files the browser needs are unpacked under ``DEST/vendor/``. ``_config.yml``
adds DEST to ``html_static_path`` and points myst-nb (``nb_ipywidgets_js``) and
Sphinx (``mathjax_path``) at ``_static/vendor/...``.

Not in ``_static/``: Jupyter Book 1 adds every ``.js`` under a root ``_static``
folder to every page, which would load MathJax and RequireJS everywhere.
Tarballs are kept in ``$DNALIB_CACHE/npm`` (or ``~/.cache/dnalib/npm``), so a
rebuild works offline once they are there.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import pooch

REGISTRY = "https://registry.npmjs.org"

# name, version, npm "integrity" (sha512, base64), files to unpack: (tarball member
# prefix, destination under vendor/), and members to leave out (prefixes: builds the
# site does not load). Bump a version here and in _config.yml together.
PACKAGES = [
    ("requirejs", "2.3.8",
     "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
     [("package/require.js", "require.js")], ()),
    ("@jupyter-widgets/html-manager", "1.0.15",
     "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
     [("package/dist/", "html-manager/")],
     ("package/dist/embed.js", "package/dist/libembed-amd.js")),
    ("mathjax", "3.2.2",
     "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
     [("package/es5/", "mathjax/")],
     tuple(f"package/es5/{f}" for f in ("mml-", "tex-svg", "tex-chtml", "tex-mml-svg",
                                         "node-main"))),
]

SKIP_SUFFIXES = (".map", ".d.ts", ".LICENSE.txt")


def _cache_dir() -> Path:
    from dnalib.datasets import cache_root  # <dnalib cache>/data: the same root, resolved once

    return cache_root().parent / "npm"


def _known_hash(integrity: str) -> str:
    algo, b64 = integrity.split("-", 1)
    return f"{algo}:{base64.b64decode(b64).hex()}"


def _tarball_url(name: str, version: str) -> str:
    return f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz"


def fetch(name: str, version: str, integrity: str) -> Path:
    """The package tarball, downloaded once and verified against *integrity*."""
    fname = f"{name.replace('/', '__')}-{version}.tgz"
    try:
        return Path(pooch.retrieve(_tarball_url(name, version), known_hash=_known_hash(integrity),
                                   fname=fname, path=_cache_dir(), progressbar=False))
    except ValueError as exc:  # pooch: hash mismatch (the bad file is deleted)
        raise SystemExit(
            f"vendor_js: {name}@{version} does not match its pinned checksum: {exc}") from exc
    except Exception as exc:  # network errors
        raise SystemExit(
            f"vendor_js: could not download {name}@{version} from {REGISTRY} ({exc}).\n"
            f"The book serves this JavaScript itself; build once with network access to the npm "
            f"registry, or put the tarball at {_cache_dir() / fname}."
        ) from exc


def unpack(tarball: Path, files: list[tuple[str, str]], dest: Path,
           exclude: tuple[str, ...] = ()) -> int:
    """Unpack members under each prefix of *files* into *dest*, except those starting
    with an *exclude* prefix; return the file count."""
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if (not member.isfile() or member.name.endswith(SKIP_SUFFIXES)
                    or member.name.startswith(exclude)):
                continue
            for prefix, target in files:
                if member.name == prefix or (prefix.endswith("/") and member.name.startswith(prefix)):
                    rel = target + member.name[len(prefix):] if prefix.endswith("/") else target
                    out = dest / rel
                    if ".." in Path(rel).parts:
                        raise SystemExit(f"vendor_js: unsafe path {member.name!r} in {tarball.name}")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    assert src is not None
                    with src, open(out, "wb") as fh:
                        shutil.copyfileobj(src, fh)
                    count += 1
    return count


def main(argv: list[str]) -> int:
    dest = Path(argv[1] if len(argv) > 1 else "book/_vendor")
    stamp = dest / "vendor.json"
    wanted = [{"name": n, "version": v, "integrity": i, "files": f, "exclude": list(x)}
              for n, v, i, f, x in PACKAGES]
    wanted = json.loads(json.dumps(wanted))  # tuples -> lists, as read back from the stamp
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return 0
    tmp = Path(tempfile.mkdtemp(prefix=".vendor-", dir=dest.parent if dest.parent.exists() else None))
    try:
        for name, version, integrity, files, exclude in PACKAGES:
            n = unpack(fetch(name, version, integrity), files, tmp / "vendor", exclude)
            if n == 0:
                raise SystemExit(f"vendor_js: nothing unpacked from {name}@{version}: {files}")
            print(f"vendor_js: {name}@{version}: {n} files")
        (tmp / "vendor.json").write_text(json.dumps(wanted, indent=1))
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

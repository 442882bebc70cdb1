"""Shared pytest fixtures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    """The local data mirror used by tests: ``$DNALIB_TEST_DATA`` or ``../shared/data``."""
    env = os.environ.get("DNALIB_TEST_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real-data mirror (kmcp15 genomes, DAIRYdb); skips the test if absent."""
    path = _shared_data_dir()
    if not (path / "genomes-kmcp15").is_dir() or not (path / "dairydb").is_dir():
        pytest.skip(f"real-data mirror not found at {path} (set DNALIB_TEST_DATA)")
    return path


@pytest.fixture
def isolated_data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private dnalib cache in tmp_path, with no mirror or base URL from the environment."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DNALIB_CACHE", str(cache))
    monkeypatch.delenv("DNALIB_DATA_MIRROR", raising=False)
    monkeypatch.delenv("DNALIB_DATA_BASE_URL", raising=False)
    return cache


@pytest.fixture
def interrupt_embed_after_first_block(monkeypatch: pytest.MonkeyPatch):
    """Make ``dnalib.embed.load_embedder``'s embedders stop (KeyboardInterrupt) at their second block.

    Call the fixture's value to install it; it returns the real ``load_embedder``
    (to compute the uninterrupted result).
    """
    from dnalib import embed

    def install():
        real = embed.load_embedder

        def interrupted(model, **kw):
            f = real(model, **kw)
            calls = []

            def g(batch):
                calls.append(1)
                if len(calls) == 2:
                    raise KeyboardInterrupt
                return f(batch)
            return g

        monkeypatch.setattr(embed, "load_embedder", interrupted)
        return real

    return install


@pytest.fixture(scope="session")
def small_set(tmp_path_factory: pytest.TempPathFactory):
    """A 9-species community (``community/``) and a 2-step smoke MLM (``mlm/``, 2 layers) to fine-tune.

    Trained once per test session and shared by the fine-tuning tests of
    ``test_contrastive.py`` and ``test_contrastive_ddp.py``; they write only
    into their own ``tmp_path``. Returns ``(root, community)``.
    """
    from dnalib.pretrain import pretrain, pretrain_config
    from dnalib.simulate import simulate_community

    root = tmp_path_factory.mktemp("small-set")
    community = simulate_community(0, n_genera=3, species_per_genus=3, genome_length=20_000)
    community.write(root / "community")
    seqs = [c for g in community.train_ids for c in community.genomes[g]]
    pretrain(seqs, root / "mlm", pretrain_config("smoke", max_steps=2, checkpoint_every=0,
                                                 eval_every=0), progress=False)
    return root, community


#: Chromium's flags for the browser tests; a test module may set its own ``CHROMIUM_FLAGS``.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest):
    """A headless Chromium (Debian's, or ``$DNALIB_CHROMIUM``) driven by Playwright, one per test module.

    Skipped where there is none, unless ``DNALIB_REQUIRE_BROWSER=1`` (CI), where that fails.
    """
    exe = os.environ.get("DNALIB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = ("no Chromium found (install Debian's `chromium` package, or set DNALIB_CHROMIUM "
               "to the browser's path)")
        if os.environ.get("DNALIB_REQUIRE_BROWSER") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    sync_api = pytest.importorskip("playwright.sync_api")
    flags = getattr(request.module, "CHROMIUM_FLAGS", CHROMIUM_FLAGS)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=flags)
        try:
            yield b
        finally:
            b.close()

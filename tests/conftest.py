"""Shared pytest fixtures."""

from __future__ import annotations

import os
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

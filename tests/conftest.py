"""Shared fixtures: the shipped content, a folder builder for edge cases, the real corpora."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import SHIPPED_CONTENT
from bot.content import Library, load_library
from bot.search import Index, build_index

# The shared corpora sit next to the checkout (../shared); CI clones elsewhere, so also
# look where the workplace keeps them.
CORPUS = next(
    (
        p
        for p in (
            Path(__file__).resolve().parent.parent.parent / "shared" / "corpus",
            Path("/work/shared/corpus"),
        )
        if p.is_dir()
    ),
    Path("/work/shared/corpus"),
)
KNOWLEDGEHUB = CORPUS / "knowledgehub" / "docs"


@pytest.fixture(scope="session")
def shipped_library() -> Library:
    """The role documents shipped in content/."""
    return load_library(SHIPPED_CONTENT)


@pytest.fixture(scope="session")
def shipped_index(shipped_library: Library) -> Index:
    """The index over the shipped content."""
    return build_index(shipped_library)


@pytest.fixture
def make_content(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    """Write {relative path: text or bytes} into a fresh content folder and return it."""

    def make(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "content"
        root.mkdir(exist_ok=True)
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data, encoding="utf-8", newline="")
        return root

    return make

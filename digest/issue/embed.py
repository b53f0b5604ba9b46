"""Semantic embeddings for `ranking.similarity: embeddings`
(pip install 'trending-papers-digest[embeddings]').

WordLlama: static token embeddings distilled from an LLM, mean-pooled; its 256-dimension
model weights (16 MB) and tokenizer ship inside the wheel, so nothing is downloaded at run
time. model2vec was the other candidate; its models come from the Hugging Face hub, which a
deployment may not reach.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DigestError, install_hint

INSTALL = install_hint("embeddings")


def available() -> bool:
    return importlib.util.find_spec("wordllama") is not None


@functools.cache
def _model() -> Any:
    if not available():
        raise DigestError(f"ranking.similarity: embeddings needs the embeddings extra: {INSTALL}")
    import wordllama
    from wordllama import WordLlama

    # The wheel keeps its tokenizer in tokenizers/, where WordLlama.load looks only when that
    # is its cache folder; elsewhere it would try to download it. Point the cache at the wheel
    # and forbid downloads: a missing file is an error, never a request.
    return WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)


def vectors(texts: Sequence[str]) -> list[list[float]]:
    """Unit vectors, one per text."""
    if not texts:
        return []
    return _model().embed(list(texts), norm=True).tolist()

"""digest: trending research papers in your inbox.

The library API the CLI is built on (README.md, "Use it as a library", has a runnable
example). The names in `__all__` are the supported ones; anything else may change between
releases. They load on first use, so `import digest` and the CLI start fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> (module, attribute)
_EXPORTS = {
    # configuration
    "Config": ("digest.config", "Config"),
    "load_config": ("digest.config", "load"),
    # papers and readers
    "Paper": ("digest.models", "Paper"),
    "Subscriber": ("digest.models", "Subscriber"),
    "Issue": ("digest.models", "Issue"),
    "Pick": ("digest.models", "Pick"),
    "read_papers": ("digest.sources.file", "read"),
    "collect": ("digest.sources", "collect"),
    # one issue, each reader's email
    "issue_for": ("digest.compose.build", "issue_for"),
    "Builder": ("digest.compose.build", "Builder"),
    "Message": ("digest.compose.build", "Message"),
    "Rendered": ("digest.models", "Rendered"),
    # the jobs the CLI runs
    "send_digest": ("digest.jobs.send", "run"),
    "SendReport": ("digest.jobs.send", "SendReport"),
    "preview_digest": ("digest.jobs.preview", "build"),
    "publish": ("digest.jobs.archive", "publish"),
    "open_stores": ("digest.store", "stores"),
    "DigestError": ("digest.errors", "DigestError"),
}

__all__ = [
    "__version__",
    "Config",
    "load_config",
    "Paper",
    "Subscriber",
    "Issue",
    "Pick",
    "read_papers",
    "collect",
    "issue_for",
    "Builder",
    "Message",
    "Rendered",
    "send_digest",
    "SendReport",
    "preview_digest",
    "publish",
    "open_stores",
    "DigestError",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'digest' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .compose.build import Builder, Message, issue_for
    from .config import Config
    from .config import load as load_config
    from .errors import DigestError
    from .jobs.archive import publish
    from .jobs.preview import build as preview_digest
    from .jobs.send import SendReport
    from .jobs.send import run as send_digest
    from .models import Issue, Paper, Pick, Rendered, Subscriber
    from .sources import collect
    from .sources.file import read as read_papers
    from .store import stores as open_stores

"""Errors a user can act on. Each carries the exit code the CLI reports (DESIGN.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1  # ran, but some items failed (reported)
EXIT_USAGE = 2  # bad usage, config or input


# The distribution's name on PyPI: `digest` there is an unrelated project, so every install
# hint names this one. Each extra's packages, for `pipx inject` (README: "From a wheel, with pipx").
DISTRIBUTION = "trending-papers-digest"
EXTRAS = {"dkim": "dkimpy", "postgres": "'psycopg[binary]'", "embeddings": "wordllama", "ses": "cryptography"}


def install_hint(extra: str) -> str:
    """How to add an optional extra, with pip or into a pipx install."""
    return (
        f"pip install '{DISTRIBUTION}[{extra}]' "
        f"(installed with pipx: pipx inject {DISTRIBUTION} {EXTRAS[extra]})"
    )


class DigestError(Exception):
    """A problem with what the user gave us: bad config, bad input file, bad arguments.

    `problems` holds one line per problem, each naming the file, line or field at fault.
    """

    exit_code = EXIT_USAGE

    def __init__(self, problems: str | list[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class NoPapers(DigestError):
    """Every source failed for a day: the run is sound but has nothing to work on. `problems`
    holds each source's failure first (the cause), then the day's line (the effect)."""

    exit_code = EXIT_PARTIAL


class DeliveryError(Exception):
    """One message could not be delivered (digest/delivery/backends.py has the kinds). A send run
    records it and goes on; a command sending one message reports it and exits 1."""

    exit_code = EXIT_PARTIAL


def cannot_listen(host: str, port: int, exc: OSError) -> DigestError:
    """A server that cannot bind: usually another process holds the port."""
    return DigestError(
        f"cannot listen on {host}:{port}: {exc.strerror or exc}; stop whatever holds the port "
        "or choose another with --port"
    )

"""TL;DRs from an OpenAI-compatible endpoint (`summaries:` in digest.yaml), for the papers whose
source gives no summary of its own. An edge module: HTTP and the database, called where a run
opens its stores (send, preview, archive); the Builder gets the result as a mapping.

    papers without a source summary (most trending first, up to max_papers)
        -> the database's TL;DR for (paper id, model, hash of the text sent), if any
        -> else POST {url}/chat/completions, a few at once, within one deadline
        -> cleaned: one plain line, no markdown, quotes or "TL;DR:" prefix, at most 300 chars
        -> stored, so the same paper with the same text is never asked for again

Nothing here can fail a run: a refused connection, a timeout, an HTTP error, bad JSON or an
empty answer leaves those papers with the sentence digest/compose/tldr.py picks, and `Written.warning`
says once, naming the endpoint, why and for how many papers.
"""

from __future__ import annotations

import hashlib
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from ..compose.tldr import TLDR_CHARS, cut
from ..config import Config, Summaries
from ..models import Paper
from ..store import Tldrs
from ..util import capped
from ..util.clean import display
from ..util.plural import counted

if TYPE_CHECKING:
    from ..compose.build import Builder

ABSTRACT_CHARS = 4000  # of the abstract sent: the contribution is stated well before this
MAX_ANSWER_BYTES = 64_000
MIN_TLDR_CHARS = 20
SYSTEM = (
    "You write the TL;DR line of a research newsletter. Given a paper's title and abstract, "
    "answer with exactly one plain sentence, at most 40 words, stating the paper's contribution: "
    "what it proposes, builds or finds. No preamble, no markdown, no quotes."
)
_PREFIX = re.compile(r"^\s*(?:tl;?\s*dr|summary|contribution|one[- ]sentence summary)\s*[:.\-–—]\s*", re.I)
_MARKDOWN = re.compile(r"(\*\*|__|\*|`|^#+\s*|^\s*[-*>]\s+)", re.M)
_THINKING = re.compile(r"<think>.*?</think>", re.S | re.I)  # reasoning models' scratchpad
_QUOTES = "\"'“”‘’«»"


@dataclass
class Written:
    tldrs: dict[str, str] = field(default_factory=dict)  # paper id -> TL;DR
    fell_back: int = 0
    warning: str | None = None


def text_sent(paper: Paper) -> str:
    return f"Title: {one_space(paper.title)}\n\nAbstract: {one_space(paper.abstract[:ABSTRACT_CHARS])}"


def one_space(text: str) -> str:
    return " ".join(text.split())


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_body(model: str, text: str) -> dict:
    return {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        "temperature": 0,
        "max_tokens": 120,
        "stream": False,
    }


def clean(answer: str) -> str | None:
    """The answer as a TL;DR: one line of plain text, or None if nothing usable is left."""
    text = _THINKING.sub(" ", answer)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    text = _PREFIX.sub("", _MARKDOWN.sub("", lines[0]))
    text = display(text)  # markup, entities, LaTeX and control characters out; one line
    text = _PREFIX.sub("", text).strip().strip(_QUOTES).strip()
    if len(text) < MIN_TLDR_CHARS:
        return None
    return cut(text, TLDR_CHARS)


class Failure(Exception):
    """Why one request gave no TL;DR, as the warning says it."""


def ask(client: httpx.Client, settings: Summaries, text: str, timeout: float) -> str:
    try:
        body = request_body(settings.model, text)
        response, cut = capped.post(
            client, settings.endpoint, MAX_ANSWER_BYTES, timeout, json=body, timeout=timeout
        )
    except httpx.TimeoutException:
        raise Failure("timed out") from None
    except httpx.ConnectError as exc:
        raise Failure(f"cannot connect ({_reason(exc)})") from None
    except httpx.HTTPError as exc:
        raise Failure(f"{type(exc).__name__}: {_reason(exc)}") from None
    if response.status_code != 200:
        raise Failure(f"HTTP {response.status_code}")
    if cut:  # read up to the cap, no further: a 400 MB answer costs 64 KB
        raise Failure(f"answer too large (over {MAX_ANSWER_BYTES // 1000} KB)")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise Failure("not an OpenAI-style chat completion (bad JSON)") from None
    if not isinstance(content, str):
        raise Failure("not an OpenAI-style chat completion (no text)")
    tldr = clean(content)
    if tldr is None:
        raise Failure("empty answer")
    return tldr


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return "connection refused" if "refused" in text.lower() else one_space(text)[:120]


def write(settings: Summaries, papers: Iterable[Paper], store: Tldrs, *, readonly: bool = False) -> Written:
    """TL;DRs for `papers` (those without a source summary, in the order to ask), from the
    database or the endpoint. `readonly` (preview, dry runs): new ones are not stored."""
    wanted = [p for p in papers if not p.summary][: settings.max_papers]
    out = Written()
    if not wanted:
        return out
    texts = {p.id: text_sent(p) for p in wanted}
    hashes = {pid: text_hash(text) for pid, text in texts.items()}
    out.tldrs = store.tldrs(settings.model, hashes.items())
    missing = [p for p in wanted if p.id not in out.tldrs]
    if not missing:
        return out
    headers = {"Accept": "application/json"}
    if settings.api_key_env is not None:
        key = settings.api_key()
        if key is None:
            out.fell_back = len(missing)
            out.warning = _warning(settings, f"{settings.api_key_env} is not set", len(missing), len(missing))
            return out
        headers["Authorization"] = f"Bearer {key}"
    answers, failures = _ask_all(settings, [(p.id, texts[p.id]) for p in missing], headers)
    for pid, tldr in answers.items():
        out.tldrs[pid] = tldr
        if not readonly:
            store.store_tldr(pid, settings.model, hashes[pid], tldr)
    out.fell_back = len(missing) - len(answers)
    if out.fell_back:
        reason = Counter(failures.values()).most_common(1)[0][0] if failures else "no answer"
        out.warning = _warning(settings, reason, out.fell_back, len(missing))
    return out


def _warning(settings: Summaries, reason: str, fell_back: int, asked: int) -> str:
    return (
        f"summaries: {settings.endpoint}: {reason}; {fell_back} of {counted(asked, 'paper')} got "
        "the abstract's sentence instead"
    )


def _ask_all(
    settings: Summaries, jobs: list[tuple[str, str]], headers: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(answers, failures) by paper id: `concurrency` requests at once, all within `deadline`.
    The workers are daemon threads: one stuck past the deadline holds neither the run nor the
    process's exit; its answer, if it ever comes, is dropped."""
    todo: queue.Queue[tuple[str, str]] = queue.Queue()
    for job in jobs:
        todo.put(job)
    answers: dict[str, str] = {}
    failures: dict[str, str] = {}
    lock = threading.Condition()
    end = time.monotonic() + settings.deadline
    client = httpx.Client(headers=headers, follow_redirects=False, trust_env=False)

    def work() -> None:
        while True:
            try:
                pid, text = todo.get_nowait()
            except queue.Empty:
                return
            left = end - time.monotonic()
            if left <= 0:
                result, failed = None, f"deadline of {settings.deadline:g}s passed"
            else:
                try:
                    result, failed = ask(client, settings, text, min(settings.timeout, left)), None
                except Failure as exc:
                    result, failed = None, str(exc)
                except Exception as exc:  # nothing the network sends may stop the run
                    result, failed = None, f"{type(exc).__name__}: {exc}"
            with lock:
                if result is not None:
                    answers[pid] = result
                else:
                    failures[pid] = failed or "no answer"
                lock.notify_all()

    workers = [
        threading.Thread(target=work, daemon=True) for _ in range(min(settings.concurrency, len(jobs)))
    ]
    for worker in workers:
        worker.start()
    with lock:
        while len(answers) + len(failures) < len(jobs):
            left = end - time.monotonic()
            if left <= 0:
                break
            lock.wait(left)
        done_answers, done_failures = dict(answers), dict(failures)
    for pid, _ in jobs:
        if pid not in done_answers and pid not in done_failures:
            done_failures[pid] = f"deadline of {settings.deadline:g}s passed"
    if all(not w.is_alive() for w in workers):
        client.close()
    return done_answers, done_failures


def for_builder(config: Config, builder: Builder, store: Tldrs, *, readonly: bool = False) -> str | None:
    """Give the issue's cards their endpoint TL;DRs, if `summaries:` is configured; the warning
    to print, if some papers fell back to the picked sentence."""
    if config.summaries is None:
        return None
    written = write(config.summaries, builder.by_trending(), store, readonly=readonly)
    builder.use_tldrs(written.tldrs)
    return written.warning

"""Each reader's profile (digest/issue/similar.py), from what they gave and what they clicked.

A reader's own papers come from three places: the library stored for them (`digest subscribe
--library`, an upload on the preferences page), the file their entry's `library:` names, and
their "more / less like this" clicks. The profile made of them is stored with what it was made
from, so a send run reads one row per reader and makes a profile again only when the library
or a click changed it (the store marks it out of date) or the file changed on disk.

A profile is made once per distinct set of papers in a run: a lab whose 300 readers name one
shared library file has its file read once and one profile made, which each reader's row
then stores (a dry run or a preview, storing nothing, still makes it once, not per reader).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DigestError
from ..issue import library, similar, themes
from ..issue.similar import Own, Profile
from ..models import Paper, Subscriber

if TYPE_CHECKING:
    from ..config import Config
    from ..store import OwnPapers

Lookup = Callable[[list[str]], dict[str, tuple[str, str]]]
STORED = "stored"  # the source of a profile made from the database alone
READ_PROFILES = 64  # distinct stored profiles kept as read (the most recent)


@dataclass
class Profiles:
    """The profiles of one run's readers. `lookup` fetches titles and abstracts of arXiv ids
    (None: entries without text are left out); `readonly` (preview, dry runs) stores nothing."""

    store: OwnPapers
    root: Path  # what a `library:` path is relative to
    lookup: Lookup | None = None
    readonly: bool = False
    embed: similar.Embed | None = None  # ranking.similarity: embeddings
    themes_of: similar.ThemesOf | None = None  # each paper's theme in the taxonomy
    problems: list[str] = field(default_factory=list)
    # This run's work, shared between readers: each library file as read (by path and the
    # stat that `source_of` records), and each profile made (by what its papers hash to).
    _files: dict[str, tuple[list[Own], str]] = field(default_factory=dict, repr=False)
    _made: dict[str, tuple[Profile, str]] = field(default_factory=dict, repr=False)
    # Stored profiles as read, by their text: readers whose profiles are the same share one
    # object, and with it what ranking works out from it for the day (rank.ProfileDay).
    _read: OrderedDict[str, Profile] = field(default_factory=OrderedDict, repr=False)

    def library_file(self, reader: Subscriber) -> Path | None:
        if not reader.library:
            return None
        path = Path(reader.library).expanduser()
        return path if path.is_absolute() else self.root / path

    def source_of(self, reader: Subscriber) -> str:
        """What the reader's profile is made from now: the database, and their file as it is."""
        path = self.library_file(reader)
        made = STORED + ("+embeddings" if self.embed is not None else "")
        if path is None:
            return made
        try:
            st = path.stat()
        except OSError:
            return f"{made}+missing:{path}"
        return f"{made}+{path}:{st.st_mtime_ns}:{st.st_size}"

    def of(self, reader: Subscriber) -> Profile | None:
        """The reader's profile, or None for a reader who gave nothing and clicked nothing."""
        stored = self.store.profile(reader.email)
        if stored is None and not reader.library:
            return None  # most readers: one lookup, nothing else
        source = self.source_of(reader)
        if stored is not None and stored[0] == source and stored[1]:
            return self._parsed(stored[1])
        owns, key = self._papers_and_key(reader, source)
        if key not in self._made:
            made = similar.profile_of(owns, self.embed, self.themes_of)
            self._made[key] = made, made.to_json()
        profile, data = self._made[key]
        if not self.readonly:
            self.store.store_profile(reader.email, source, data)
        # Readers sharing a profile share its term maps too: it is only read from here on.
        return profile or None

    def _parsed(self, data: str) -> Profile:
        profile = self._read.get(data)
        if profile is None:
            profile = self._read[data] = Profile.from_json(data)
            if len(self._read) > READ_PROFILES:
                self._read.popitem(last=False)
        return profile

    def papers_of(self, reader: Subscriber) -> list[Own]:
        return self._papers_and_key(reader, self.source_of(reader))[0]

    def _papers_and_key(self, reader: Subscriber, source: str) -> tuple[list[Own], str]:
        """The reader's papers, and a hash of them (and of how the profile is made, with or
        without embeddings) that readers with the same papers share."""
        own = [
            Own(similar.LIBRARY, pid, title, abstract)
            for pid, title, abstract in self.store.library(reader.email)
        ]
        parts = ["embeddings" if self.embed is not None else "terms", *map(_text_of, own)]
        path = self.library_file(reader)
        if path is not None:
            file_owns, file_key = self._file(path, source)
            own += file_owns
            parts.append(file_key)
        for pid, vote, title, abstract in self.store.feedback(reader.email):
            if title:  # a paper the store no longer knows the text of says nothing
                own.append(Own(similar.LIKED if vote > 0 else similar.DISLIKED, pid, title, abstract))
                parts.append(_text_of(own[-1]))
        return own, _hash(parts)

    def _file(self, path: Path, source: str) -> tuple[list[Own], str]:
        """A library file's papers and their hash, read once per run for every reader naming
        it (`source` ends with its stat, so a file changed mid-run is read again)."""
        key = f"{path}\0{source}"
        if key not in self._files:
            owns = [Own(similar.LIBRARY, e.id, e.title, e.abstract) for e in self.read_file(path).entries]
            self._files[key] = owns, _hash(map(_text_of, owns))
        return self._files[key]

    def read_file(self, path: Path) -> library.Library:
        """A `library:` file with its arXiv entries' texts, from the store where it has them
        and from the arXiv API otherwise (and then kept in the store)."""
        try:
            found = library.read(path)
        except DigestError as exc:
            self.problems.extend(exc.problems)
            return library.Library()
        return complete(found, str(path), self.store, self.lookup, self.readonly, self.problems)


def _text_of(own: Own) -> str:
    return f"{own.kind}\0{own.id}\0{own.title}\0{own.abstract}"


def _hash(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\1")
    return digest.hexdigest()


def complete(
    found: library.Library,
    where: str,
    store: OwnPapers,
    lookup: Lookup | None,
    readonly: bool,
    problems: list[str],
) -> library.Library:
    """`found` with every arXiv entry's title and abstract filled in, from the papers the store
    knows, then from `lookup`; the problems of the entries left out go to `problems`."""
    texts: dict[str, tuple[str, str]] = {}
    wanted = library.missing(found)
    for aid in wanted:
        if (known := store.paper(aid)) is not None:
            texts[aid] = (known[0], known[1])
    unknown = [aid for aid in wanted if aid not in texts]
    unanswered = None if lookup is not None else "arXiv lookups are off: libraries.lookup"
    if unknown and lookup is not None:
        try:
            fetched = lookup(unknown)
        except Exception as exc:  # the API down: the entries with text still count
            problems.append(
                f"{where}: could not look up {len(unknown)} arXiv ids ({exc}); they count once it answers"
            )
            # Then nothing is known about them: never say arXiv has no such paper.
            fetched, unanswered = {}, "arXiv did not answer"
        texts.update(fetched)
        if fetched and not readonly:
            store.remember_papers(
                (aid, title, abstract, f"https://arxiv.org/abs/{aid}")
                for aid, (title, abstract) in fetched.items()
            )
    done = library.completed(found, texts, where, unanswered, asked=unknown)
    problems.extend(done.problems)
    return done


def arxiv_lookup(config: Config) -> tuple[Lookup | None, Callable[[], None]]:
    """A lookup of arXiv ids on the configured API (`libraries.arxiv_url`), and how to close
    its connection; (None, no-op) when `libraries.lookup` is off."""
    if not config.libraries.lookup:
        return None, lambda: None
    from ..sources import arxiv_api
    from ..sources.httpclient import Client

    client: Client | None = None

    def lookup(ids: list[str]) -> dict[str, tuple[str, str]]:
        nonlocal client
        if client is None:
            client = Client(config.fetch, cache=None, user_agent=config.fetch.user_agent)
        return arxiv_api.lookup(ids, client, config.libraries.arxiv_url)

    def close() -> None:
        if client is not None:
            client.close()

    return lookup, close


def load_library(
    path: Path, store: OwnPapers, lookup: Lookup | None
) -> tuple[library.Library, list[str], int]:
    """A library file read whole, its arXiv entries completed (looked up where needed): the
    entries, the problems (each with its line) and how many were looked up. A file that cannot
    be read at all is a DigestError."""
    found = library.read(path)
    problems: list[str] = []
    before = {e.id for e in found.entries if e.title and e.abstract}
    done = complete(found, str(path), store, lookup, False, problems)
    return done, problems, sum(1 for e in done.entries if e.id not in before and e.arxiv)


def for_run(config: Config, store: OwnPapers, *, readonly: bool) -> tuple[Profiles, Callable[[], None]]:
    """The profiles of a run's readers as the configuration asks, and how to close what they opened."""
    lookup, close = arxiv_lookup(config)
    embed = None
    if config.ranking.similarity == "embeddings":
        from ..issue import embed as embedding

        embed = embedding.vectors
    return Profiles(
        store, config.root, lookup, readonly, embed, taxonomy_themes(themes.configured(config.themes))
    ), close


def taxonomy_themes(taxonomy: list[themes.Topic]) -> similar.ThemesOf:
    """Each of a reader's papers' theme in the taxonomy (for "less like this" on a whole area)."""

    def of(owns: list[Own]) -> list[str | None]:
        return themes.best_topics(
            [Paper(id=o.id, title=o.title, abstract=o.abstract) for o in owns], taxonomy
        )

    return of

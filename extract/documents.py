"""Turn seed files and user documents into clean articles with a map back to the original text.

A seed file is a scraped page: it may hold several unrelated articles and carries
boilerplate (repeated headline and caption lines, navigation, banners, comment footers).
The rules here are deterministic and documented; the model never sees the raw page.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from extract.errors import InputError
from extract.files import iter_jsonl, read_text

#: Three or more blank lines separate unrelated articles inside one page.
ARTICLE_GAP = 3
#: A body line shorter than this (in words) is kept only if it ends like a sentence.
MIN_WORDS = 5
_SENTENCE_END = tuple('.!?"”’')

_BOILERPLATE = [
    re.compile(p)
    for p in (
        r"^UNITED24 - ",  # donation banner
        r"^A\+ A-$",  # font-size widget
        r"^(?!.*[.!?]$).*[a-z][A-Z].*[a-z][A-Z]",  # run-together tag links: "IraqMiddle EastNorth"
    )
]
#: A line matching one of these ends the article: everything after it is page furniture.
_FOOTER = [
    re.compile(p)
    for p in (
        r"^Comments$",
        r"^Back to top button$",
        r"^Join the .* mailing list$",
        r"^Page last modified:",
    )
]
_DMY = re.compile(r"^(\d{2})-(\d{2})-(\d{4})$")
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
#: The document files of a folder, in any case (``a.TXT`` too).
SUFFIXES = (".txt", ".jsonl")
#: The longest article ``extract run`` takes by default (``--max-chars``): about 700 windows. A
#: longer text is more likely a dump in one file than an article, and would be a silent, huge plan.
MAX_CHARS = 200_000


@dataclass(frozen=True)
class Article:
    """One clean article: ``text`` is what the model reads; ``offsets`` map it to ``source``."""

    id: str
    title: str
    text: str
    source: str
    published: str | None = None
    #: Sorted (clean_start, original_start, length) runs copied verbatim from the original.
    runs: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of ``text`` to the same characters in the original file."""
        return self._map(start), self._map(end - 1) + 1 if end > start else self._map(start)

    def _map(self, pos: int) -> int:
        i = max(bisect.bisect_right(self.runs, pos, key=lambda run: run[0]) - 1, 0)
        clean_start, orig_start, length = self.runs[i]
        return orig_start + min(pos - clean_start, max(length - 1, 0))


def _is_blank(line: str) -> bool:
    return not line.strip()


def _segments(lines: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """Split (offset, line) pairs on runs of ARTICLE_GAP or more blank lines."""
    segments: list[list[tuple[int, str]]] = [[]]
    blanks = 0
    for offset, line in lines:
        if _is_blank(line):
            blanks += 1
            continue
        if blanks >= ARTICLE_GAP and segments[-1]:
            segments.append([])
        blanks = 0
        segments[-1].append((offset, line))
    return [s for s in segments if s]


def _lines_with_offsets(raw: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in raw.splitlines(keepends=True):
        out.append((pos, line.rstrip("\r\n")))
        pos += len(line)
    return out


def _clean_segment(segment: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], str | None]:
    """Drop boilerplate lines; return kept (offset, stripped line) pairs and a publication date."""
    counts: dict[str, int] = {}
    for _, line in segment:
        counts[line.strip()] = counts.get(line.strip(), 0) + 1
    kept: list[tuple[int, str]] = []
    published = None
    for offset, line in segment:
        text = line.strip()
        if any(p.search(text) for p in _FOOTER):
            break
        if m := _DMY.match(text):
            published = published or f"{m[3]}-{m[2]}-{m[1]}"
            continue
        if any(p.search(text) for p in _BOILERPLATE):
            continue
        if not kept:  # the first surviving line is the headline, even when it repeats
            kept.append((offset + line.index(text), text))
            continue
        if counts[text] > 1 or text == kept[0][1]:
            continue  # repeated headline / photo caption
        if len(text.split()) < MIN_WORDS and not text.endswith(_SENTENCE_END):
            continue  # tags, bylines, list navigation, widgets
        kept.append((offset + line.index(text), text))
    return kept, published


def _build(article_id: str, source: str, kept: list[tuple[int, str]], published: str | None) -> Article:
    parts, runs, pos = [], [], 0
    for offset, text in kept:
        if parts:
            parts.append("\n\n")
            pos += 2
        runs.append((pos, offset, len(text)))
        parts.append(text)
        pos += len(text)
    return Article(
        id=article_id,
        title=kept[0][1],
        text="".join(parts),
        source=source,
        published=published,
        runs=tuple(runs),
    )


def _read_document(path: Path) -> str:
    text = read_text(path)
    if "\x00" in text:
        raise InputError("binary file, expected UTF-8 text", path=str(path))
    if not text.strip():
        raise InputError("empty document", path=str(path))
    return text


def split_page(raw: str, *, stem: str, source: str) -> list[Article]:
    """Split one page's text into clean articles with ids ``<stem>#1``, ``<stem>#2``, ...

    A text of one paragraph (no blank line) is one article as written, without a headline, if it
    reads like a sentence: a plain document, not a scraped page.
    """
    body = raw.strip()
    if body and not _BLANK_LINE.search(body) and (len(body.split()) >= MIN_WORDS or body.endswith(_SENTENCE_END)):
        return [Article(id=f"{stem}#1", title="", text=body, source=source, runs=((0, raw.index(body), len(body)),))]
    articles = []
    for segment in _segments(_lines_with_offsets(raw)):
        kept, published = _clean_segment(segment)
        if len(kept) < 2:  # a headline alone is not an article
            continue
        articles.append(_build(f"{stem}#{len(articles) + 1}", source, kept, published))
    return articles


def load_text_file(path: Path) -> list[Article]:
    """Load one ``.txt`` page (a seed file or any user document)."""
    articles = split_page(_read_document(path), stem=path.stem, source=str(path))
    if not articles:
        raise InputError("no article text found", path=str(path))
    return articles


def iter_jsonl_articles(path: Path) -> Iterator[Article]:
    """``{"id", "text", "published"?}`` records, one article each (no page splitting), read line by line."""
    for n, record in iter_jsonl(path):
        try:
            article_id, text = str(record["id"]), record["text"]
        except KeyError as e:
            raise InputError(f"expected a JSON object with 'id' and 'text' (no {e})", path=str(path), line=n) from e
        if not isinstance(text, str) or not text.strip():
            raise InputError("'text' is empty", path=str(path), line=n)
        published = record.get("published")
        if published is not None and not isinstance(published, str):
            raise InputError("'published' is not a string (write it as \"2021-01-15\")", path=str(path), line=n)
        kept = [(o + t.index(t.strip()), t.strip()) for o, t in _lines_with_offsets(text) if t.strip()]
        yield _build(article_id, f"{path}:{n}", kept, published)


def load_jsonl(path: Path) -> list[Article]:
    """Load every record of a JSONL file (see ``iter_jsonl_articles``)."""
    return list(iter_jsonl_articles(path))


def _files(path: Path) -> list[Path]:
    """The documents a path names: itself, or a folder's ``.txt``/``.jsonl`` files (any case), sorted."""
    if not path.exists():
        raise InputError("no such file or folder", path=str(path))
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise InputError("folder holds no .txt or .jsonl documents", path=str(path))
    return files


def iter_documents(path: Path, *, max_chars: int | None = None) -> Iterator[Article]:
    """The articles of a ``.txt`` file, a ``.jsonl`` file or a folder of them, read lazily (a folder
    file by file, JSONL line by line), so a big input is never held whole.

    Two articles with one id, or an article longer than ``max_chars``, are input errors naming them.
    """
    seen: dict[str, str] = {}
    for file in _files(path):
        jsonl = file.suffix.lower() == ".jsonl"
        for article in iter_jsonl_articles(file) if jsonl else load_text_file(file):
            if article.id in seen:
                raise InputError(f"duplicate article id {article.id!r}: {seen[article.id]} and {article.source}")
            seen[article.id] = article.source
            if max_chars is not None and len(article.text) > max_chars:
                raise InputError(
                    f"article {article.id!r} has {len(article.text):,} characters, more than the maximum of "
                    f"{max_chars:,} (--max-chars)",
                    path=article.source,
                )
            yield article


def load_documents(path: Path, *, max_chars: int | None = None) -> list[Article]:
    """Every article of ``iter_documents``, as a list."""
    return list(iter_documents(path, max_chars=max_chars))

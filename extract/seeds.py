"""Turn seed files and user documents into clean articles with a map back to the original text.

A seed file is a scraped page: it may hold several unrelated articles and carries
boilerplate (repeated headline and caption lines, navigation, banners, comment footers).
The rules here are deterministic and documented; the model never sees the raw page.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path

from extract.errors import InputError
from extract.files import read_jsonl, read_text

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
    """Split one page's text into clean articles with ids ``<stem>#1``, ``<stem>#2``, ..."""
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


def load_jsonl(path: Path) -> list[Article]:
    """Load ``{"id", "text", "published"?}`` records, one article each (no page splitting)."""
    articles = []
    for n, record in read_jsonl(path, text=_read_document(path)):
        try:
            article_id, text = str(record["id"]), record["text"]
        except KeyError as e:
            raise InputError(f"expected a JSON object with 'id' and 'text' (no {e})", path=str(path), line=n) from e
        if not isinstance(text, str) or not text.strip():
            raise InputError("'text' is empty", path=str(path), line=n)
        kept = [(o + t.index(t.strip()), t.strip()) for o, t in _lines_with_offsets(text) if t.strip()]
        articles.append(_build(article_id, f"{path}:{n}", kept, record.get("published")))
    if not articles:
        raise InputError("no records", path=str(path))
    return articles


def load_documents(path: Path) -> list[Article]:
    """Load a ``.txt`` file, a ``.jsonl`` file, or every ``.txt``/``.jsonl`` file of a folder, sorted."""
    if not path.exists():
        raise InputError("no such file or folder", path=str(path))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".txt", ".jsonl"))
        if not files:
            raise InputError("folder holds no .txt or .jsonl documents", path=str(path))
        return [a for f in files for a in load_documents(f)]
    if path.suffix == ".jsonl":
        return load_jsonl(path)
    return load_text_file(path)

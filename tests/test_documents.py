"""Seed loader: splitting pages, stripping boilerplate, the map back to the original, user documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from extract.documents import Article, load_documents, load_jsonl, load_text_file
from extract.errors import InputError

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

EXPECTED = {
    "000_a3c408a06a87a4ae#1": ("US-Led Coalition Reveals Number of Troops in Iraq", None),
    "000_a3c408a06a87a4ae#2": ("Bodies of Eight Red Crescent Medics Recovered in Gaza, One Still Missing", None),
    "001_2dcd82ee068addd3#1": ("Anti-ISIS Coalition Reviews its Role in Iraq", None),
    "001_2dcd82ee068addd3#2": (
        "Death Toll in Lebanon Crosses 3,000 in 13-Month Israel-Hezbollah War, Health Ministry Says",
        None,
    ),
    "002_3fec5153dcc9e278#1": ("Operation Inherent Resolve", None),
    "003_c876d06fac985b5f#1": ("US allies halve number of troops in Iraq coalition: Report", None),
    "004_7f677d72774e52bd#1": ("US reduces troop numbers in Iraq to 2,500: Pentagon", "2021-01-15"),
}

#: Boilerplate that must not survive anywhere in an article's text.
FORBIDDEN_SUBSTRINGS = (
    "Back to top button",
    "UNITED24",
    "Join the GlobalSecurity.org mailing list",
    "IraqMiddle EastNorth",
    "Page last modified",
    "Rudaw moderates all comments",
    "Post a comment",
    "A+ A-",
    "(File Photo: AFP)",
    "(Reuters)",
    "(EPA)",
    "carry bodies of fellow rescuers",
    "gather at a military base north of Mosul",
    "A building destroyed during an Israeli airstrike",
)
FORBIDDEN_LINES = {"TT", "20", "Comments", "Required", "Rudaw", "15-01-2021"}
NUMBERED = re.compile(r"^\s*\d+\.\s")


def _raw(path: str | Path) -> str:
    """The original file exactly as the loader indexes it (no newline translation)."""
    return Path(path).read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def articles() -> list[Article]:
    return load_documents(SEEDS)


def _separator_positions(article: Article) -> set[int]:
    covered: set[int] = set()
    for clean_start, _, length in article.runs:
        covered.update(range(clean_start, clean_start + length))
    return set(range(len(article.text))) - covered


# ---------------------------------------------------------------- seed files


def test_seed_ids_and_count(articles: list[Article]) -> None:
    assert [a.id for a in articles] == list(EXPECTED)
    assert len(articles) == 7


def test_seed_titles_and_published(articles: list[Article]) -> None:
    for a in articles:
        title, published = EXPECTED[a.id]
        assert a.title == title
        assert a.published == published
        assert a.text.startswith(title + "\n\n")
        assert Path(a.source).name == a.id.split("#")[0] + ".txt"


def test_seed_headline_appears_once(articles: list[Article]) -> None:
    for a in articles:
        paragraphs = a.text.split("\n\n")
        assert paragraphs.count(a.title) == 1, a.id
        assert len(paragraphs) >= 5, a.id


def test_seed_no_boilerplate(articles: list[Article]) -> None:
    for a in articles:
        for s in FORBIDDEN_SUBSTRINGS:
            assert s not in a.text, (a.id, s)
        for line in a.text.split("\n"):
            assert line.strip() not in FORBIDDEN_LINES, (a.id, line)
            assert not NUMBERED.match(line), (a.id, line)


def test_seed_no_repeated_lines_survive(articles: list[Article]) -> None:
    """Every body paragraph occurs once as a line of its page: repeated captions/headlines are gone."""
    for a in articles:
        raw_lines = [line.strip() for line in _raw(a.source).split("\n")]
        for paragraph in a.text.split("\n\n")[1:]:
            assert raw_lines.count(paragraph) == 1, (a.id, paragraph[:60])


def test_seed_body_sentences_kept(articles: list[Article]) -> None:
    by_id = {a.id: a for a in articles}
    assert "3,000 members of its forces currently in Iraq." in by_id["000_a3c408a06a87a4ae#1"].text
    assert "reducing its international staff in Gaza by a third" in by_id["000_a3c408a06a87a4ae#2"].text
    assert "completed 48 operations against Daesh" in by_id["004_7f677d72774e52bd#1"].text
    # the second article of a page does not leak into the first
    assert "Red Crescent" not in by_id["000_a3c408a06a87a4ae#1"].text
    assert "Hezbollah" not in by_id["001_2dcd82ee068addd3#1"].text


def test_seed_runs_copy_the_original(articles: list[Article]) -> None:
    for a in articles:
        raw = _raw(a.source)
        assert a.runs[0][0] == 0
        assert a.runs[-1][0] + a.runs[-1][2] == len(a.text)
        for clean_start, orig_start, length in a.runs:
            assert a.text[clean_start : clean_start + length] == raw[orig_start : orig_start + length]
        # what the runs do not cover is exactly the inserted "\n\n" separators
        gaps = sorted(_separator_positions(a))
        assert len(gaps) == 2 * (len(a.runs) - 1)
        assert all(a.text[i] == "\n" for i in gaps)
        for (c1, _, l1), (c2, _, _) in zip(a.runs, a.runs[1:]):
            assert c2 == c1 + l1 + 2


def test_seed_every_character_maps_back(articles: list[Article]) -> None:
    for a in articles:
        raw = _raw(a.source)
        separators = _separator_positions(a)
        for i, ch in enumerate(a.text):
            if i in separators:
                continue
            s, e = a.to_original(i, i + 1)
            assert e == s + 1
            assert raw[s] == ch, (a.id, i)


def test_seed_to_original_spans(articles: list[Article]) -> None:
    for a in articles:
        raw = _raw(a.source)
        n = len(a.text)
        first_len = a.runs[0][2]
        last_start = a.runs[-1][0]
        spans = [
            (0, 1),
            (0, first_len),  # the whole headline, from the very start
            (last_start, n),  # the whole last paragraph, to the very end
            (n - 1, n),
            (n - 10, n),
        ]
        for clean_start, _, length in a.runs:  # a span inside every paragraph
            spans.append((clean_start + length // 3, clean_start + length // 3 + max(length // 3, 1)))
        for start, end in spans:
            s, e = a.to_original(start, end)
            assert raw[s:e] == a.text[start:end], (a.id, start, end)
        # a span across paragraphs starts and ends on the same characters in the original
        start, end = a.runs[0][0] + 2, a.runs[1][0] + 5
        s, e = a.to_original(start, end)
        assert raw[s] == a.text[start] and raw[e - 1] == a.text[end - 1]
        assert s < e


def test_published_date_from_dd_mm_yyyy_line() -> None:
    (a,) = load_text_file(SEEDS / "004_7f677d72774e52bd.txt")
    assert a.published == "2021-01-15"
    assert "15-01-2021" not in a.text


def test_loader_is_deterministic() -> None:
    first, second = load_documents(SEEDS), load_documents(SEEDS)
    assert first == second
    assert [a.runs for a in first] == [a.runs for a in second]


# ---------------------------------------------------------------- user documents

DOC = """Army withdraws from the northern base

The army withdrew 400 soldiers from the northern base on Monday.

Officials said the handover to local forces was completed without incident.
"""


def test_single_txt_file(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text(DOC, encoding="utf-8")
    (a,) = load_documents(path)
    assert a.id == "report#1"
    assert a.title == "Army withdraws from the northern base"
    assert a.source == str(path)
    assert a.published is None
    assert "400 soldiers" in a.text
    s, e = a.to_original(0, len(a.text))
    assert (s, e) == (0, len(DOC.rstrip("\n")))


def test_folder_of_txt_files_sorted(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "c.txt"):
        (tmp_path / name).write_text(DOC.replace("northern", name[0]), encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    articles = load_documents(tmp_path)
    assert [a.id for a in articles] == ["a#1", "b#1", "c#1"]
    assert [a.title for a in articles] == [f"Army withdraws from the {c} base" for c in "abc"]


def test_jsonl_records(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    records = [
        {"id": "r1", "text": "Headline one\n\nFirst body sentence here.", "published": "2024-03-01"},
        {"id": 7, "text": "  Headline two\r\n  Second body sentence here.  "},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    a, b = load_documents(path)
    assert (a.id, a.title, a.published, a.source) == ("r1", "Headline one", "2024-03-01", f"{path}:1")
    assert a.text == "Headline one\n\nFirst body sentence here."
    assert (b.id, b.title, b.published, b.source) == ("7", "Headline two", None, f"{path}:2")
    assert b.text == "Headline two\n\nSecond body sentence here."
    for article, record in ((a, records[0]), (b, records[1])):
        i = article.text.index("body")
        s, e = article.to_original(i, i + 4)
        assert record["text"][s:e] == "body"


def test_jsonl_text_may_hold_unicode_line_separators(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    record = {"id": "u", "text": "Headline\n\nBody one\u2028two and \x85three."}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    (a,) = load_jsonl(path)
    assert a.id == "u"
    assert "three." in a.text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"id": "x", "text": "unterminated', "corrupt JSON line"),
        ('{"id": "x"}', "'text'"),
        ('{"text": "Some text here."}', "'id'"),
        ('["not", "an", "object"]', "expected a JSON object"),
        ('{"id": "x", "text": "   "}', "'text' is empty"),
        ('{"id": "x", "text": "Body.", "published": 20210115}', "'published' is not a string"),
    ],
)
def test_jsonl_bad_line_names_the_line(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "docs.jsonl"
    good = json.dumps({"id": "ok", "text": "Headline\n\nBody sentence."})
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_documents(path)
    message = str(info.value)
    assert f"{path}:2:" in message
    assert expected in message
    assert info.value.line == 2


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.txt"
    with pytest.raises(InputError, match="no such file or folder") as info:
        load_documents(path)
    assert str(path) in str(info.value)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text(" \n\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty document"):
        load_documents(path)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no .txt or .jsonl"):
        load_documents(tmp_path)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.txt"
    path.write_bytes(b"Headline\n\x00\x01\x02 body")
    with pytest.raises(InputError, match="binary file, expected UTF-8 text") as info:
        load_documents(path)
    assert str(info.value).startswith(f"{path}: ")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Headline\n\nCaf\xe9 au lait for everyone today.".encode("latin-1"))
    with pytest.raises(InputError, match=r"not UTF-8 \(byte \d+\)") as info:
        load_documents(path)
    assert str(path) in str(info.value)


def test_headline_only_is_no_article(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("Just a headline\n", encoding="utf-8")
    with pytest.raises(InputError, match="no article text found"):
        load_documents(path)


def test_upper_case_extensions_in_a_folder_and_as_a_file(tmp_path: Path) -> None:
    (tmp_path / "A.TXT").write_text(DOC, encoding="utf-8")
    (tmp_path / "b.JSONL").write_text(json.dumps({"id": "b", "text": "Headline\n\nBody sentence."}) + "\n", encoding="utf-8")
    (tmp_path / "c.Md").write_text("ignored", encoding="utf-8")
    assert [a.id for a in load_documents(tmp_path)] == ["A#1", "b"]
    assert [a.id for a in load_documents(tmp_path / "b.JSONL")] == ["b"]  # read as JSONL, not as a page


@pytest.mark.parametrize(
    "text",
    [
        "US troops will leave Syria, officials said on Monday.",  # one line
        "The army withdrew 400 soldiers from the northern base\non Monday, officials said, and more will follow.\n",
    ],
)
def test_a_text_of_one_paragraph_is_one_article_without_a_headline(tmp_path: Path, text: str) -> None:
    path = tmp_path / "note.txt"
    path.write_text("  " + text, encoding="utf-8")
    (a,) = load_documents(path)
    assert (a.id, a.title, a.text) == ("note#1", "", text.strip())
    assert a.to_original(0, len(a.text)) == (2, 2 + len(text.strip()))


def test_duplicate_ids_are_an_error_naming_both_places(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    lines = [{"id": i, "text": f"Text {n} of the record."} for n, i in enumerate(["x", "y", "x"])]
    path.write_text("\n".join(json.dumps(r) for r in lines[:2]) + "\n\n" + json.dumps(lines[2]) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_documents(path)
    assert str(info.value) == f"duplicate article id 'x': {path}:1 and {path}:4"
    (tmp_path / "a.txt").write_text(DOC, encoding="utf-8")
    path.write_text(json.dumps({"id": "a#1", "text": "Another text."}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=f"duplicate article id 'a#1': {path}:1 and {tmp_path / 'a.txt'}$"):
        load_documents(tmp_path)


def test_an_article_longer_than_max_chars_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text(DOC, encoding="utf-8")
    assert load_documents(path, max_chars=len(DOC))
    with pytest.raises(InputError) as info:
        load_documents(path, max_chars=100)
    assert str(info.value) == f"{path}: article 'big#1' has {len(DOC.strip()):,} characters, more than the maximum of 100 (--max-chars)"


def test_documents_are_read_lazily(tmp_path: Path) -> None:
    from extract.documents import iter_documents

    path = tmp_path / "docs.jsonl"
    good = json.dumps({"id": "ok", "text": "Headline\n\nBody sentence."})
    path.write_text(good + "\n" + '{"id": "broken' + "\n", encoding="utf-8")
    articles = iter_documents(path)
    assert next(articles).id == "ok"  # the first record comes before the corrupt line is read
    with pytest.raises(InputError, match=f"{path}:2: corrupt JSON line"):
        next(articles)

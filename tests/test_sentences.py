from __future__ import annotations

from extract.sentences import sentence_spans, sentence_windows

NEWS = (
    "U.S. troops left Ain al-Asad on Jan. 5, Lt. Gen. John Smith said. The U.K. sent 300 more.\n"
    "Read more\n"
    '"We are done here. It is over," he said. Officials agreed.'
)


def test_abbreviations_are_no_sentence_ends_and_a_line_break_always_is() -> None:
    sentences = [NEWS[a:b] for a, b in sentence_spans(NEWS)]
    assert sentences == [
        "U.S. troops left Ain al-Asad on Jan. 5, Lt. Gen. John Smith said.",
        "The U.K. sent 300 more.",
        "Read more",
        '"We are done here. It is over," he said.',  # a quotation is not split
        "Officials agreed.",
    ]


def test_spans_are_offsets_into_the_text_without_surrounding_space() -> None:
    text = "  First one.   Second one.\n\n  Third\n"
    assert [text[a:b] for a, b in sentence_spans(text)] == ["First one.", "Second one.", "Third"]
    assert sentence_spans("") == [] and sentence_spans("\n \n") == []


def test_windows_hold_whole_sentences_and_never_cut_a_quotation() -> None:
    spans = sentence_spans(NEWS)
    groups = sentence_windows(NEWS, spans, max_chars=30)
    assert [s for group in groups for s in group] == spans  # every sentence, once, in order
    assert len(groups[0]) == 1  # a sentence longer than the limit is a window of its own
    assert len(sentence_windows(NEWS, spans, max_chars=10_000)) == 1
    # Sentences cut inside a quotation (by any splitter) stay in one window up to its end.
    text = '"We go. We stay," he said. Then more. And more.'
    cut = [(0, 7), (8, 26), (27, 37), (38, 47)]
    assert [[text[a:b] for a, b in g] for g in sentence_windows(text, cut, max_chars=5)] == [
        ['"We go.', 'We stay," he said.'], ["Then more."], ["And more."]
    ]

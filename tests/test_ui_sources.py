"""What the chat shows beside an answer, as the CLI does: the date it was answered as of, the
sources in the order of their numbers with a rank instead of raw scores, one entry per article
in a refusal. Pure rendering; the browser test looks at the same in Chromium."""

from __future__ import annotations

import re

from support import answer, citation

from ui import render


def three_sources(**kw):
    # Listed out of number order, scores negative and positive as the fused ranker gives them.
    cites = [
        citation(number=3, doc_id="c", chunk_id="c#0", title="Third", score=-4.78),
        citation(number=1, doc_id="a", chunk_id="a#0", title="First", score=0.4),
        citation(number=2, doc_id="b", chunk_id="b#0", title="Second", score=2.1),
    ]
    return answer(citations=cites, text="A [1]. B [2]. C [3].", **kw)


def test_sources_are_in_number_order_with_ranks_not_scores() -> None:
    html = render.sources_html(three_sources())
    numbers = re.findall(r'data-numbers="([^"]+)"', html)
    assert numbers == ["1", "2", "3"]
    cards = html.split('class="src-card"')[1:]
    assert "relevance 2 of 3" in cards[0]  # First: 0.4
    assert "most relevant" in cards[1]  # Second: 2.1
    assert "relevance 3 of 3" in cards[2]  # Third: -4.78
    assert "-4.78" not in html and not re.search(r"score\s*-?\d", html)

    md = render.answer_with_sources_markdown(three_sources())
    assert md.index("[1] [First]") < md.index("[2] [Second]") < md.index("[3] [Third]")


def test_answer_says_the_date_it_was_answered_as_of() -> None:
    md = render.answer_with_sources_markdown(answer(asked_as_of="2024-03-20"))
    assert "_answered as of 2024-03-20_" in md
    assert "answered as of" not in render.answer_with_sources_markdown(answer())


def test_refusal_lists_each_article_once() -> None:
    same = dict(doc_id="bridge", title="Bridge repairs")
    cites = [
        citation(number=1, chunk_id="bridge#0", **same),
        citation(number=2, chunk_id="bridge#1", **same),
        citation(number=3, chunk_id="tram#0", doc_id="tram", title="Tram line"),
        citation(number=4, chunk_id="bridge#2", **same),
    ]
    refusal = answer(abstained=True, text="I could not find an answer.", citations=cites)
    html = render.sources_html(refusal)
    assert html.count("Bridge repairs") == 1 and html.count("Tram line") == 1
    md = render.answer_with_sources_markdown(refusal)
    assert md.count("Bridge repairs") == 1 and md.count("Tram line") == 1

    # An answer (not a refusal) keeps every cited passage: its [n] markers point at them.
    cited = answer(text="A [1]. B [2]. C [3]. D [4].", citations=cites)
    assert render.sources_html(cited).count('class="src-card"') == 4

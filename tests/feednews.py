"""The small news site the feed tests serve: an RSS 2.0 feed and an Atom feed of pages written
for the tests, each page with menus, a promo, a "most read" box and a footer around the story."""

from __future__ import annotations

import datetime as dt

from feedsite import Site, Story, atom_xml, page_html, rss_xml

HARBOUR = Story(
    slug="harbour-bridge-reopens",
    title="Harbour bridge reopens after eight months of repairs",
    paragraphs=[
        "The old harbour bridge in Portmere reopened on Tuesday after eight months of repairs "
        "costing 12 million pounds.",
        "Engineers replaced 40 steel cables and repainted the whole span, the council said in a "
        "statement on its website.",
        "Traffic is expected to return to normal by the weekend, according to the port authority, "
        "which had diverted lorries through Elsby.",
    ],
    published=dt.date(2025, 3, 4),
    author="Jane Roe",
)
LIBRARY = Story(
    slug="library-moves",
    title="Town library moves into the old corn exchange",
    paragraphs=[
        "Elsby library has moved into the restored corn exchange building on Market Street.",
        "The move took three weeks and volunteers carried 18,000 books across the square in "
        "wooden crates, the head librarian said.",
        "The new reading room has space for 60 people and opens until eight in the evening.",
    ],
    published=dt.date(2025, 3, 5),
)
TRAM = Story(
    slug="tram-line-approved",
    title="Council approves tram line to the airport",
    paragraphs=[
        "Carrow council approved a new tram line linking the station with the airport on "
        "Wednesday.",
        "The line will be 14 kilometres long and is due to open in 2029 if the government "
        "confirms its share of the funding.",
        "Opponents said the route would cut through allotments near the river.",
    ],
    published=dt.date(2025, 3, 6),
)
COMET = Story(
    slug="comet-spotted",
    title="Amateur astronomer spots a new comet",
    paragraphs=[
        "An amateur astronomer in Dunmoor has discovered a comet that will be visible with "
        "binoculars in April.",
        "Retired teacher Aled Price found the faint smudge on photographs taken from his garden "
        "observatory on a clear night in February.",
        "The comet will make its closest approach to the Sun on 12 April, astronomers said.",
    ],
    published=dt.date(2025, 3, 7),
)
BEES = Story(
    slug="rooftop-bees",
    title="Rooftop hives produce a record honey harvest",
    paragraphs=[
        "Beekeepers on the roof of Tamsworth town hall collected 230 jars of honey this summer, "
        "a record for the project.",
        "The eight hives were installed five years ago to help pollinators in the town centre.",
        "The honey is sold in the town hall shop and the money pays for wildflower planting.",
    ],
    published=dt.date(2025, 3, 8),
)
RSS_STORIES = [HARBOUR, LIBRARY, TRAM]
ATOM_STORIES = [COMET, BEES]


def items(site: Site, stories: list[Story]) -> list[tuple[str, str, dt.date]]:
    return [(s.title, site.url(s.path), s.published) for s in stories]


def publish(site: Site, *, build: str = "1") -> None:
    """Write every page and both feeds (a new `build` string changes both feeds)."""
    for story in RSS_STORIES + ATOM_STORIES:
        site.write(story.path, page_html(story, site))
    write_rss(site, RSS_STORIES, build=build)
    site.write("science.atom", atom_xml("Gazette science", items(site, ATOM_STORIES), build=build))


def write_rss(site: Site, stories: list[Story], *, build: str) -> None:
    site.write("news.xml", rss_xml("Harbour Gazette", items(site, stories), build=build))

"""A small news corpus written for the tests: distinct topics, sources and dates."""

from __future__ import annotations

from pathlib import Path

ARTICLES: dict[str, str] = {
    "harbour-bridge.md": """---
title: Council approves new harbour bridge for Port Ellery
source: Coastal Herald
published: 2024-03-14
url: https://example.org/coastal/harbour-bridge
author: Mara Quinn
---

The Port Ellery town council voted 7 to 2 on Tuesday to approve a new cable-stayed bridge across the harbour.

The bridge will cost an estimated 84 million pounds and is expected to open in 2027. Construction will be led by the engineering firm Halden & Sons.

Mayor Ruth Okafor said the crossing would cut the journey between the east and west quays from forty minutes to five. Local fishermen raised concerns that the construction barges could block the harbour mouth during the mackerel season.

The council promised that the harbour mouth would remain open to boats at all times.
""",
    "wheat-harvest.md": """---
title: Drought cuts wheat harvest in the Vell valley
source: Farm Weekly
published: 2024-08-02
url: https://example.org/farm/wheat-harvest
---

Farmers in the Vell valley harvested 30 percent less wheat this summer after the driest spring in sixty years.

Agronomist Tomas Berg said irrigation reservoirs fell to a quarter of their capacity by June. Several farms switched to sorghum, a grain that needs far less water.

The regional government announced an emergency fund of 12 million euros to help growers buy seed for next season.
""",
    "chess-final.md": """---
title: Teenager wins national chess championship
source: Coastal Herald
published: 2024-11-20
url: https://example.org/coastal/chess
---

Sixteen-year-old Lena Varga won the national chess championship on Sunday, becoming the youngest champion in the tournament's history.

She defeated the defending champion, grandmaster Piotr Adamek, in a tense final game that lasted more than six hours.

Varga learned to play at the age of five at her grandfather's cafe in Port Ellery. She said she would donate part of her prize money to the town's school chess club.
""",
    "battery-plant.md": """---
title: Battery maker to build gigafactory outside Dunmore
source: Tech Ledger
published: 2025-02-10
url: https://example.org/tech/battery-plant
---

The battery company Voltreon will build a gigafactory on a former airfield outside Dunmore, creating about 1,800 jobs.

The plant will produce sodium-ion cells for electric buses and grid storage. Production is scheduled to begin in late 2026.

Voltreon's chief executive, Anika Shah, said the site was chosen because of its rail connections and a nearby wind farm that will supply most of the factory's electricity.

Environmental groups welcomed the use of renewable power but asked for a study of the plant's water consumption.
""",
    "museum-theft.md": """---
title: Stolen medieval manuscript recovered in Brussels
source: Culture Daily
published: 2025-05-28
url: https://example.org/culture/manuscript
---

A medieval manuscript stolen from the Ravensworth Museum in 2019 has been recovered by police in Brussels.

The illuminated Book of Hours, made around 1420, was found in the back room of an antiques shop during a routine inspection. Investigators said the manuscript was undamaged.

The museum's director, Hugo Lindqvist, said it would go back on display in the autumn with new security measures, including pressure-sensitive display cases.
""",
}


def write_corpus(root: Path, names: list[str] | None = None) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in ARTICLES.items():
        if names is None or name in names:
            p = root / name
            p.write_text(text, encoding="utf-8")
            paths.append(p)
    return paths

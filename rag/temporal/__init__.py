"""Time in questions: answers as of a date.

- `windows`: relative time in a question ("last month", "in March") → a date window relative
  to the `as_of` date (parsed with dateparser);
- `recency`: questions about the present ("latest", "currently") → a mild prior for newer
  passages, applied after fusion;
- `conflicts`: when the top passages disagree over time, the newest dated evidence wins.
"""

from rag.temporal.conflicts import format_date, newest_first
from rag.temporal.recency import PRESENT_CUES, apply_recency, is_present_question, recency_bonus
from rag.temporal.windows import Window, question_window, resolve_as_of

__all__ = [
    "PRESENT_CUES",
    "Window",
    "apply_recency",
    "format_date",
    "is_present_question",
    "newest_first",
    "question_window",
    "recency_bonus",
    "resolve_as_of",
]

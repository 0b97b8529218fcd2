"""Measuring newsrag: retrieval and answers on SQuAD or a user's {question, answers} file
(`squad`), abstention and short answers on SQuAD 2.0 (`squad2`), RealTimeQA news
(`realtimeqa`), generated answers against extractive ones (`llm`), the shared measures
(`metrics`) and the unanswerable question sets (`data/`, package data).

Sits above `rag` and `ingest` (it builds stores and asks through the pipeline); only `ui.cli`
imports it."""

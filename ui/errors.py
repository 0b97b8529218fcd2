"""The one way the web app refuses a request: a `gr.Error` shown on the page.

Gradio prints the full traceback of every `gr.Error` to the server's terminal by default. For
an expected refusal (an empty question, no file chosen, another writer holds the lease) that is
noise a user takes for a crash; an unexpected failure is already logged once, with its
traceback, by the handler's `log.exception`. So none is printed again.
"""

from __future__ import annotations

import gradio as gr


def user_error(message: str) -> gr.Error:
    return gr.Error(message, print_exception=False)

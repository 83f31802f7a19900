"""The floor for `aq-coach bench`'s API load figures: a Gradio app whose `/chat_with_history`
returns a constant.

It has the real app's API signature, concurrency group and limit (`ui.answer_concurrency`) and is
served by the real app's own `ui.serve` (the same queue and launch settings), so the only
difference the load figures see is the work of answering. Run it as
`python -m assistant.bench.trivial` (it reads AQ_HOST / AQ_PORT like `aq-coach serve`).
`AQ_BENCH_TRIVIAL_STREAM=N` makes it a generator that yields the constant in N pieces, as the
composer's answer streams sentence by sentence (a diagnostic, not a bench figure).
"""

from __future__ import annotations

from ..config import Settings, apply_offline_hygiene, get_settings

CONSTANT = "In AQ's terms, this is a constant answer from the trivial endpoint."


def build_trivial_app(settings: Settings, stream_pieces: int = 0):
    apply_offline_hygiene()
    import gradio as gr

    from ..ui import answer_concurrency

    def chat_with_history(question: str, history_json: str) -> str:
        """A constant, whatever the question."""
        return CONSTANT

    def chat_with_history_stream(question: str, history_json: str):
        """The constant, growing in stream_pieces pieces (the last value is the whole of it)."""
        words = CONSTANT.split(" ")
        step = max(1, -(-len(words) // stream_pieces))
        for end in range(step, len(words) + step, step):
            yield " ".join(words[: min(end, len(words))])

    limit = answer_concurrency(settings)
    with gr.Blocks(title="AQ bench: trivial endpoint", analytics_enabled=False) as demo:
        gr.Markdown("The trivial endpoint `aq-coach bench` measures as its floor.")
        gr.api(chat_with_history_stream if stream_pieces > 0 else chat_with_history, api_name="chat_with_history",
               concurrency_id="aq-answer", concurrency_limit=limit)
    return demo


def main() -> None:
    from ..ui import serve

    settings = get_settings()
    serve(build_trivial_app(settings, settings.bench_trivial_stream), settings)


if __name__ == "__main__":
    main()

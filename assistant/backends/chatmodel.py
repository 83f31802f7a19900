"""An answerer over a LangChain chat model: the prompt, the chain, and the follow-up condenser.

The llama.cpp and OpenAI-compatible backends subclass ChatModelAnswerer and supply `chat_model`;
they wrap each run (`_stream`, `_invoke`) to turn their failures into LLMUnavailable.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..corpus import Glossary
from ..plan import QuestionPlan
from ..retrieval import SearchHit
from . import AnswerRequest, LLMUnavailable

SYSTEM_TEMPLATE = """You are AQ Coach, a sprint coach who explains sprinting in AQ's terms.
{doctrine}

AQ terms:
{glossary}

Rules:
- Answer only from the numbered context passages. Cite them like [1] or [2].
- If the context does not cover the question, say that AQ's articles don't cover it. Do not invent training plans.
- Answer in 2 to 5 short sentences, in plain words, using the AQ terms."""

# The doctrine's own correction (corpus/doctrine.yaml, texts.correction) follows this.
CORRECTION = "Your previous answer was rejected: {evidence}. Answer again, briefly and without repeating yourself. {doctrine}"

CONDENSE_PROMPT = (
    "Rewrite the athlete's last message as one standalone question, using the conversation for context. "
    "Reply with the question only.\n\nConversation:\n{history}\n\nLast message: {question}\n\nStandalone question:"
)

# What the plan asks of the first sentence (the composer reads the plan itself).
KIND_GUIDANCE = {   # what the first sentence must do, per kind of ask (assistant.plan_model.KINDS)
    "yes_no": "Open with a plain yes or no (or 'not necessarily'), then say why.",
    "definition": "Open with what the term means, in one sentence, then how it feels.",
    "same_or_different": "Define both terms, one sentence each, then say how they relate.",
    "signs": "Say what it feels like, only on the side asked (improving or disrupted), then what may be changing underneath.",
    "why_feel": "Name the feeling, then what may be happening underneath it.",
    "contrast": "Describe both situations, each with what may be happening underneath it.",
    "work_on": "Open with what to work on, in AQ's terms.",
    "pushback": "Open with a plain, polite correction.",
    "explain": "Open with the reason AQ gives.",
    "about_aq": "Say what AQ is.",
}


class ChatModelAnswerer:
    """Answers with a LangChain chat model, streaming its tokens (LangChain .stream())."""

    name = "chat-model"
    faithful = False
    streams = True
    chat_model: object  # a LangChain BaseChatModel, set by the subclass

    def stream(self, request: AnswerRequest) -> Iterator[str]:
        inputs = answer_inputs(request)
        yield from self._stream(answer_chain(self.chat_model, request, inputs["context"]), inputs)

    def condense(self, history: list[dict], question: str) -> str | None:
        try:
            return self._invoke(condense_chain(self.chat_model), {"history": _history_text(history), "question": question}).strip()
        except LLMUnavailable:
            return None  # the plan's own way (previous topic + follow-up) still works

    # Subclasses wrap these: a lock around one llama.cpp context, their errors as LLMUnavailable.
    def _stream(self, chain, inputs: dict) -> Iterator[str]:
        yield from chain.stream(inputs)

    def _invoke(self, chain, inputs: dict) -> str:
        return chain.invoke(inputs)


def answer_inputs(request: AnswerRequest) -> dict:
    plan = request.plan
    correction = ""
    if request.rejected:
        correction = CORRECTION.format(evidence="; ".join(request.rejected)[:300], doctrine=request.doctrine.text("correction"))
    return {"context": passages_text(request.passages), "question": plan.standalone, "history": _lc_history(request.history),
            "correction": correction, "guidance": plan_guidance(plan)}


def answer_chain(chat_model, request: AnswerRequest, context: str):
    """prompt | chat model | text; the system prompt names the AQ terms the question and `context` use."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    focus = f"{request.plan.standalone}\n{context}"
    system = SYSTEM_TEMPLATE.format(doctrine=request.doctrine.statement, glossary=glossary_lines(request.glossary, focus))
    prompt = ChatPromptTemplate.from_messages([
        ("system", system.replace("{", "{{").replace("}", "}}")),
        MessagesPlaceholder("history"),
        ("human", "Context:\n{context}\n\nQuestion: {question}\n{guidance}{correction}"),
    ])
    return prompt | chat_model | StrOutputParser()


def condense_chain(chat_model):
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("human", CONDENSE_PROMPT)]) | chat_model | StrOutputParser()


def plan_guidance(plan: QuestionPlan) -> str:
    # "not covered" with no not-covered topic named: the passages decide, as for an explanation
    kind = "explain" if plan.kind == "not_covered" and not plan.gaps else plan.kind
    lines = [KIND_GUIDANCE.get(kind, "")]
    if plan.set_aside:
        lines.insert(0, "Part of the athlete's message is off-topic and was left out: say in one short sentence that "
                        "you can't help with that part, then answer this question.")
    if plan.gaps:
        lines.insert(0, f"AQ's articles don't cover {', '.join(plan.gaps)}: say so in your first sentence and invent nothing.")
    for part in plan.parts:
        lines.append(f"Answer this part too: {part.standalone}")
    return "".join(f"{line}\n" for line in lines if line)


def glossary_lines(glossary: Glossary, focus: str = "") -> str:
    """The AQ terms for the system prompt: those the question and its passages name (all when none
    is named). Small local models have little context to spare; every line costs prompt time."""
    named = {t.term for t in glossary.terms_in(focus)} | {t.term for t in glossary.expansions(focus)} if focus else set()
    terms = [t for t in glossary if t.term in named] or list(glossary)
    return "\n".join(f"- {t.term}: {t.definition}" for t in terms) or "- (no glossary loaded)"


def passages_text(hits: list[SearchHit]) -> str:
    return "\n\n".join(f"[{n}] ({h.section}) {h.body}" for n, h in enumerate(hits, 1))


def _history_text(history: list[dict]) -> str:
    return "\n".join(f"{m['role']}: {m['content'][:500]}" for m in history)


def _lc_history(history: list[dict]):
    from langchain_core.messages import AIMessage, HumanMessage

    return [HumanMessage(m["content"]) if m["role"] == "user" else AIMessage(m["content"]) for m in history]

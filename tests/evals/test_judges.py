"""The judges on crafted inputs: three-state verdicts with evidence; uncertain is never a pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import shipped_doctrine, shipped_judge
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from assistant.config import Settings
from assistant.evals import judges, retrieval_judge, terms_judge
from assistant.evals.datasets import Source
from assistant.evals.judges import FAIL, PASS, UNCERTAIN

ROOT = Path(__file__).resolve().parents[2]

OFF_CHUNK = Source(
    id="chunk-off",
    section="Why Sprinting Sometimes Suddenly Feels “Off”",
    text=(
        "Why Sprinting Sometimes Suddenly Feels Off\n"
        "For example:\n- the swing side may stop thrusting aggressively enough into position\n"
        "- contributor timing may begin arriving less cleanly\n- sprint-system cycling may become more interrupted\n"
        "But AQ says the underlying issue may involve much more specific sprint-system disruptions underneath."
    ),
)
TRAINING_CHUNK = Source(
    id="chunk-training",
    section="What This Means For Speed Training",
    text=(
        "What This Means For Speed Training\nAQ focuses on improving:\n- pushing-side contribution\n- swing-side thrust\n"
        "- timing between contributors\n- timing between steps\n"
        "AQ views sprint speed as the result of aggressive sprint-system relationships organizing together continuously during sprinting."
    ),
)


def test_combine_uncertain_is_never_pass():
    assert judges.combine([PASS, PASS]) == PASS
    assert judges.combine([PASS, UNCERTAIN]) == UNCERTAIN
    assert judges.combine([UNCERTAIN, FAIL, PASS]) == FAIL
    assert judges.combine([]) == UNCERTAIN


# --- framing ------------------------------------------------------------------------------------

def test_framing_fails_a_causal_answer_with_the_sentence_rule_and_chunk():
    text = "Sprinting feels smoother when contributor timing gets cleaner. Better coordination makes you faster."
    trace = [{"sentence": "Sprinting feels smoother when contributor timing gets cleaner.", "chunk_id": "c1"},
             {"sentence": "Better coordination makes you faster.", "chunk_id": "c2"}]
    r = judges.judge_framing_check(text, shipped_judge(), trace)
    assert r.verdict == FAIL and r.name == "framing"
    ev = r.evidence[0]
    assert ev["sentence"] == "Better coordination makes you faster." and ev["rule"] and ev["span"] and ev["chunk_id"] == "c2"
    assert r.detail["causal"] == 1 and 0 < r.score < 1


def test_framing_passes_felt_framing():
    r = judges.judge_framing_check("AQ views coordination as the athlete's label for how improved sprinting feels. "
                                   "It is not the cause of speed.", shipped_judge())
    assert r.verdict == PASS and r.evidence == []


def test_framing_uncertain_is_reported_not_passed():
    from assistant.guard import FramingJudge, FramingVerdict, SentenceJudgement

    s = SentenceJudgement("Coordination and speed, hmm.", "neutral", "", "")

    class Undecided(FramingJudge):
        def judge_framing(self, text: str) -> FramingVerdict:
            return FramingVerdict("uncertain", (s,), _undecided=(s,))

    r = judges.judge_framing_check("Coordination and speed, hmm.", Undecided(shipped_doctrine()))
    assert r.verdict == UNCERTAIN and not r.passed and r.evidence[0]["label"] == "uncertain"


# --- terms --------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    "The swing side thrust gets stronger.", "The **Swing-Side Thrust** gets stronger.", "swing–side  thrust",
    "Swing-side\nthrust matters.",
])
def test_terms_are_hyphen_space_and_case_insensitive(answer):
    assert terms_judge.judge_terms(answer, ["swing-side thrust"], []).verdict == PASS


def test_terms_any_and_all():
    r = terms_judge.judge_terms("The pushing side works with contributor timing.", ["swing side", "pushing side"], ["contributor timing"])
    assert r.verdict == PASS and r.score == 1.0
    r = terms_judge.judge_terms("The pushing side works hard.", ["swing side"], ["pushing side", "contributor timing"])
    assert r.verdict == FAIL
    assert {"missing_any": ["swing side"], "detail": "none of terms_any appears"} in r.evidence
    assert any(e.get("missing_all") == ["contributor timing"] for e in r.evidence)
    # a term is a whole phrase, not a substring of another word
    assert terms_judge.judge_terms("sprint-system cyclings", ["sprint-system cycling"], []).verdict == PASS
    assert terms_judge.judge_terms("recycling", ["cycling"], []).verdict == FAIL


# --- grounding ----------------------------------------------------------------------------------

def test_grounding_supported_answer_passes():
    answer = ("The swing side may stop thrusting aggressively enough into position. "
              "AQ views sprint speed as the result of aggressive sprint-system relationships organizing together continuously.")
    r = judges.judge_grounding(answer, [OFF_CHUNK, TRAINING_CHUNK])
    assert r.verdict == PASS and r.score == 1.0 and r.detail["considered"] == 2


def test_grounding_flags_unsupported_sentences_with_best_chunk():
    answer = ("Contributor timing may begin arriving less cleanly and sprint-system cycling may become more interrupted. "
              "Do three sets of wicket runs twice a week and eat more protein before sessions.")
    r = judges.judge_grounding(answer, [OFF_CHUNK, TRAINING_CHUNK])
    assert r.verdict == FAIL and r.score == 0.5
    assert r.evidence[0]["sentence"].startswith("Do three sets") and "chunk_id" in r.evidence[0]


def test_grounding_scores_each_sentence_against_its_best_single_chunk():
    # Half of the words come from each chunk: a concatenated premise would "support" it, no single chunk does.
    sentence = ("Contributor timing arrives less cleanly and underlying disruptions appear, so AQ views speed as the result "
                "of relationships organizing continuously.")
    both = Source(id="both", text=OFF_CHUNK.text + "\n" + TRAINING_CHUNK.text)
    assert judges.score_sentence(sentence, [both])["supported"]
    r = judges.score_sentence(sentence, [OFF_CHUNK, TRAINING_CHUNK])
    assert not r["supported"] and r["chunk_id"] in ("chunk-off", "chunk-training")


def test_grounding_leaves_out_connective_sentences_and_is_uncertain_without_sources():
    r = judges.judge_grounding("Not in AQ's view, no.\n\n**What you're feeling:**", [OFF_CHUNK])
    assert r.verdict == UNCERTAIN and not r.passed
    r = judges.judge_grounding("The swing side may stop thrusting aggressively enough into position.", [])
    assert r.verdict == UNCERTAIN and r.evidence[0]["detail"].startswith("no sources")
    r = judges.judge_grounding("Here we go. The swing side may stop thrusting aggressively enough into position.", [OFF_CHUNK])
    assert r.verdict == PASS and r.detail["considered"] == 1


def test_grounding_uses_the_excerpt_when_no_full_text():
    src = Source(id="s", excerpt="AQ views sprint speed as the result of aggressive sprint-system relationships organizing together.")
    assert judges.judge_grounding("AQ views sprint speed as the result of aggressive sprint-system relationships organizing together.",
                                  [src]).verdict == PASS


def test_grounding_with_embeddings_accepts_a_close_paraphrase(embeddings):
    paraphrase = "In AQ terms, speed comes out of the sprint system's relationships staying organised together, stride after stride."
    lexical = judges.score_sentence(paraphrase, [TRAINING_CHUNK])
    with_model = judges.score_sentence(paraphrase, [TRAINING_CHUNK], embeddings=embeddings)
    assert not lexical["supported"]
    assert with_model["supported"] and with_model["cosine"] >= judges.GROUNDING_COSINE
    off_topic = judges.score_sentence("Eat a high-carbohydrate meal three hours before every race you run.", [TRAINING_CHUNK],
                                      embeddings=embeddings)
    assert not off_topic["supported"] and off_topic["cosine"] < 0.5


# --- retrieval ----------------------------------------------------------------------------------

def test_section_matching_is_normalised():
    hit = Source(id="1", section="Why Sprinting Sometimes Suddenly Feels “Off”")
    assert retrieval_judge.gold_matches("why sprinting sometimes suddenly feels off", hit)
    assert retrieval_judge.gold_matches('Why Sprinting Sometimes Suddenly Feels "Off"', hit)
    assert not retrieval_judge.gold_matches("Introduction", hit)
    faq = Source(id="2", section="Frequently Asked Questions", question="What does “coordination” actually mean in sprinting?")
    assert retrieval_judge.gold_matches("FAQ: What does coordination actually mean in sprinting?", faq)
    assert retrieval_judge.gold_matches("faq: what does coordination actually mean in sprinting", faq)
    assert not retrieval_judge.gold_matches("FAQ: Why can sprinting suddenly feel off?", faq)
    assert retrieval_judge.gold_matches("Frequently Asked Questions", faq)
    assert not retrieval_judge.gold_matches("Frequently Asked Questions", hit)


def test_retrieval_recall_and_mrr():
    hits = [Source(id="a", section="Introduction"),
            Source(id="b", section="Frequently Asked Questions", question="Why can sprinting suddenly feel off?"),
            Source(id="c", section="Why Sprinting Sometimes Suddenly Feels Off")]
    r = retrieval_judge.judge_retrieval(["Why Sprinting Sometimes Suddenly Feels Off", "FAQ: Why can sprinting suddenly feel off?"], hits, 3)
    assert r.verdict == PASS and r.score == 1.0 and r.detail["mrr"] == 0.5 and r.detail["first_rank"] == 2
    r = retrieval_judge.judge_retrieval(["Why Sprinting Sometimes Suddenly Feels Off", "FAQ: Why can sprinting suddenly feel off?"], hits, 2)
    assert r.verdict == PASS and r.score == 0.5 and {"missed": ["Why Sprinting Sometimes Suddenly Feels Off"]} in r.evidence
    r = retrieval_judge.judge_retrieval(["What This Means For You"], hits, 3)
    assert r.verdict == FAIL and r.score == 0.0 and r.detail["mrr"] == 0.0
    assert retrieval_judge.judge_retrieval(["Introduction"], None, 3).verdict == UNCERTAIN


# --- scope --------------------------------------------------------------------------------------

def test_scope_refusal_expected():
    refusals = (shipped_doctrine().text("out_of_scope"), shipped_doctrine().text("injury"),
                "Sorry, AQ's articles don't cover nutrition. Ask a sports dietitian.")
    for text in refusals:
        r = judges.judge_scope(text, expect_refusal=True)
        assert r.verdict == PASS, text
        assert r.evidence[0]["span"]
    r = judges.judge_scope("Eat pasta the night before and drink plenty of water.", expect_refusal=True)
    assert r.verdict == FAIL and "no refusal" in r.evidence[-1]["detail"]
    late = "Eat pasta the night before. Drink plenty of water. Keep it simple. For more, please see a dietitian."
    assert judges.judge_scope(late, expect_refusal=True).verdict == UNCERTAIN


def test_scope_in_scope_answer_that_refuses_fails():
    OUT_OF_SCOPE_TEXT = shipped_doctrine().text("out_of_scope")

    r = judges.judge_scope(OUT_OF_SCOPE_TEXT, expect_refusal=False, service_scope="out")
    assert r.verdict == FAIL and {"service_scope": "out"} in r.evidence
    ok = judges.judge_scope("I can't say that coordination causes speed, because AQ doesn't hold that. "
                            "Sprinting feels more coordinated when timing between steps sharpens.", expect_refusal=False)
    assert ok.verdict == PASS


# --- forbidden ----------------------------------------------------------------------------------

def test_forbidden_regexes_with_span_and_chunk():
    shipped = yaml.safe_load((ROOT / "evals" / "datasets" / "answers.yaml").read_text(encoding="utf-8"))
    patterns = shipped["cases"][0]["forbidden"]
    text = "Sure. **Coordination drives** speed in every race."
    r = judges.judge_forbidden(text, patterns, [{"sentence": "Coordination drives speed in every race.", "chunk_id": "cx"}])
    assert r.verdict == FAIL and r.evidence[0]["span"].lower().startswith("coordination drives")
    assert r.evidence[0]["chunk_id"] == "cx"
    assert judges.judge_forbidden("AQ does not believe coordination is the cause of speed.", patterns).verdict == PASS


# --- LLM judge ----------------------------------------------------------------------------------

class FakeChat(BaseChatModel):
    """Scripted replies; counts calls. Only for the judge's parsing/caching logic."""

    replies: list = []
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "fake-judge"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.calls += 1
        reply = self.replies[min(self.calls - 1, len(self.replies) - 1)]
        if isinstance(reply, Exception):
            raise reply
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


def _reply(framing="felt", grounded=True, on_topic=True):
    return json.dumps({"framing": framing, "grounded": grounded, "on_topic": on_topic, "reason": "r"})


def test_llm_output_parsing():
    assert judges.parse_llm_output('```json\n{"framing": "FELT", "grounded": "true", "on_topic": true}\n```')["framing"] == "felt"
    assert judges.parse_llm_output("Sure! " + _reply("causal") + " hope that helps")["framing"] == "causal"
    assert judges.parse_llm_output("no json here") is None
    assert judges.parse_llm_output('{"framing": "maybe"}') is None
    assert judges.parse_llm_output('[1, 2]') is None
    assert judges.parse_llm_output('{"framing": "none", "grounded": 3}')["grounded"] is None


def test_llm_judge_verdicts_and_disk_cache(tmp_path):
    chat = FakeChat(replies=[_reply()])
    judge = judges.LLMJudge(chat, "model/a", tmp_path / "eval-cache", shipped_doctrine().statement)
    r1 = judge.judge("q?", "answer", [OFF_CHUNK])
    r2 = judge.judge("q?", "answer", [OFF_CHUNK])
    assert r1.verdict == r2.verdict == PASS
    assert chat.calls == 1 and r2.detail["cached"] is True
    files = list((tmp_path / "eval-cache").rglob("*.json"))
    assert len(files) == 1 and files[0].parent.name == "model_a"
    # another model or another prompt is another cache entry
    judges.LLMJudge(chat, "model-b", tmp_path / "eval-cache", shipped_doctrine().statement).judge("q?", "answer", [OFF_CHUNK])
    judge.judge("q?", "another answer", [OFF_CHUNK])
    assert chat.calls == 3 and len(list((tmp_path / "eval-cache").rglob("*.json"))) == 3


@pytest.mark.parametrize("reply,verdict", [
    (_reply("causal"), FAIL), (_reply(grounded=False), FAIL), (_reply(on_topic=False), FAIL),
    (_reply("unclear"), UNCERTAIN), ("I think it's fine", UNCERTAIN), (_reply("none"), PASS),
])
def test_llm_judge_maps_replies_to_verdicts(tmp_path, reply, verdict):
    judge = judges.LLMJudge(FakeChat(replies=[reply]), "m", tmp_path, shipped_doctrine().statement)
    assert judge.judge("q?", "a", None).verdict == verdict


def test_llm_judge_does_not_cache_unusable_replies_or_errors(tmp_path):
    chat = FakeChat(replies=["garbage", ConnectionError("down"), _reply()])
    judge = judges.LLMJudge(chat, "m", tmp_path, shipped_doctrine().statement)
    assert judge.judge("q?", "a", None).verdict == UNCERTAIN
    r = judge.judge("q?", "a", None)
    assert r.verdict == UNCERTAIN and "unavailable" in r.evidence[0]["detail"]
    assert judge.judge("q?", "a", None).verdict == PASS
    assert chat.calls == 3


def test_llm_judge_is_off_unless_configured(monkeypatch, settings):
    for name in ("AQ_EVAL_LLM_JUDGE", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert judges.make_llm_judge(Settings(data_dir=settings.data_dir)) is None
    monkeypatch.setenv("AQ_EVAL_LLM_JUDGE", "1")
    settings = Settings(data_dir=settings.data_dir)
    assert settings.eval_llm_judge
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        judges.make_llm_judge(settings)
    configured = settings.model_copy(update={"openai_base_url": "http://127.0.0.1:9/v1", "openai_model": "judge-m"})
    judge = judges.make_llm_judge(configured)
    assert judge is not None and judge.model_name == "judge-m"
    assert judge.cache_dir == Path(configured.data_dir) / "eval-cache"
    assert judge.chat_model.bound.temperature == 0
    assert judge.chat_model.kwargs["response_format"] == {"type": "json_object"}
    assert judges.make_llm_judge(configured, enabled=False) is None

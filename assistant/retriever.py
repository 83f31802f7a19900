"""The LangChain face of the hybrid searcher, for chains: kept apart from `retrieval` because
LangChain's retriever module takes longer to import than a whole search does (a cold
`aq-coach search` never needs it)."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .retrieval import HybridSearcher


class HybridRetriever(BaseRetriever):
    """The LangChain face of HybridSearcher, for chains."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    searcher: HybridSearcher
    k: int = 4

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [hit.to_document() for hit in self.searcher.search(query, self.k)]

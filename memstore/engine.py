"""The engine: the write path (validate, encode, one transaction, patch the index) and the query path
(snapshot, route through the index, fetch selected K/V, generate, cite) over one store and one model."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from msa.memstore.errors import InvalidArgument, StoreError
from msa.memstore.index.content_cache import ContentCache
from msa.memstore.index.route_batcher import RouteBatcher
from msa.memstore.index.routing_index import RoutingIndex
from msa.memstore.index.store_memory import StoreMemory
from msa.memstore.storage.records import (
    Document,
    Encoding,
    ModelBinding,
    NewDocument,
    WriteResult,
    check_id,
    check_metadata,
)
from msa.memstore.storage.store import Store
from msa.model.api import MSAModel
from msa.model.checkpoints.fingerprint import fingerprint
from msa.model.generate import GenerationResult, Retrieved, Token
from msa.model.memory import EncodedDocument
from msa.model.prefill import IsCancelled

MAX_TOP_K = 64
MAX_QUESTION_TOKENS = 1024
MAX_WRITE_DOCUMENTS = 1000  # per Write (its encoding is one request's work) and per Delete
MAX_WRITE_BYTES = 4 << 20  # text bytes per Write
QUESTION_PROMPT_TOKENS = 64  # the question's template, routing instruction and text-reading frame, at most


@dataclass(frozen=True)
class WriteItem:
    """A memory to write; without an id the engine makes one."""

    text: str
    metadata: dict[str, str] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Citation:
    id: str
    version: int
    ordinal: int
    score: float


@dataclass(frozen=True)
class Retrieval:
    """Streamed before the answer's tokens: the documents it reads."""

    citations: list[Citation]  # best first


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]  # the documents read, best first
    read_mode: str
    stop_reason: str
    prompt_tokens: int
    completion_tokens: int
    memory_documents: int  # documents in the question's snapshot
    timings_ms: dict[str, float]  # route (snapshot and routing), fetch, prefill, decode, total


def binding_for(model: MSAModel) -> ModelBinding:
    """What a store written by this model records: fingerprint, router layers, MSA parameters."""
    return ModelBinding(fingerprint(model.path), model.config.msa.router_layers, model.config.msa.to_dict(),
                        Path(model.path).name)


class Engine:
    def __init__(self, model: MSAModel, store: Store, index: RoutingIndex | None = None,
                 cache: ContentCache | None = None) -> None:
        self.model, self.store = model, store
        dtype = model.transformer.embed_tokens.weight.dtype
        self.index = index or RoutingIndex(store, device=model.device, dtype=dtype)
        self.cache = cache or ContentCache(store)
        self.route_batcher = RouteBatcher()  # concurrent questions over one state share a pass over the keys
        self._write_lock = threading.Lock()  # one writer: ordinals are chosen before encoding

    @classmethod
    def open(cls, path: str | Path, model: MSAModel, create: bool = False, index_budget_bytes: int = 8 << 30,
             host_budget_bytes: int = 32 << 30, cache_budget_bytes: int = 1 << 30, **store_options) -> Engine:
        """The store at PATH with MODEL (refused if the store was written by another model). Budgets: routing
        keys on the device, routing keys of namespaces too large for it in host memory, cached content K/V."""
        store = Store(path, binding_for(model), create=create, **store_options)
        index = RoutingIndex(store, device=model.device, dtype=model.transformer.embed_tokens.weight.dtype,
                             budget_bytes=index_budget_bytes, host_budget_bytes=host_budget_bytes)
        return cls(model, store, index, ContentCache(store, cache_budget_bytes))

    def close(self) -> None:
        self.index.close()
        self.store.close()

    # -- writes ------------------------------------------------------------------------------------
    def write(self, ns: str, items: list[WriteItem], mode: str = "create") -> list[WriteResult]:
        """Encode and write a batch all-or-nothing; then patch the index and drop stale cached K/V."""
        (outcome,) = self.write_many([(ns, items, mode)])
        if isinstance(outcome, StoreError):
            raise outcome
        return outcome

    def write_many(self, requests: list[tuple[str, list[WriteItem], str]]) -> list[list[WriteResult] | StoreError]:
        """Several clients' writes (namespace, items, mode): encoded together in one batch for throughput,
        then committed one transaction each, so one request's error (its outcome) leaves the others alone.
        A request that names a document an earlier one in the same call also names waits for a later round."""
        outcomes: list[list[WriteResult] | StoreError | None] = [None] * len(requests)
        ids: list[list[str]] = []
        for i, (_, items, _) in enumerate(requests):
            try:
                ids.append(self._check_items(items))
            except StoreError as e:
                outcomes[i] = e
                ids.append([])
        pending = [i for i, o in enumerate(outcomes) if o is None]
        while pending:
            taken: set[tuple[str, str]] = set()
            round_, later = [], []
            for i in pending:
                names = {(requests[i][0], d) for d in ids[i]}
                (later if names & taken else round_).append(i)
                if not names & taken:
                    taken |= names
            for i, outcome in zip(round_, self._write_round([(*requests[i], ids[i]) for i in round_]), strict=True):
                outcomes[i] = outcome
            pending = later
        return outcomes

    def _write_round(self, requests: list[tuple[str, list[WriteItem], str, list[str]]]
                     ) -> list[list[WriteResult] | StoreError]:
        """Requests naming distinct documents: ordinals chosen, one encode, a transaction per request."""
        with self._write_lock:
            outcomes: list[list[WriteResult] | StoreError] = []
            plans: list[list[int] | None] = []
            next_free: dict[str, int] = {}
            for ns, _, _, ids in requests:
                try:
                    start = next_free.get(ns, self.store.namespace(ns).next_ordinal)
                    known = self.store.ordinals(ns, ids)
                except StoreError as e:
                    outcomes.append(e)
                    plans.append(None)
                    continue
                ordinals = []
                for doc_id in ids:
                    ordinals.append(known.get(doc_id, start))
                    start += doc_id not in known
                next_free[ns] = start
                outcomes.append([])
                plans.append(ordinals)
            texts = [item.text for (_, items, _, _), p in zip(requests, plans, strict=True) if p for item in items]
            numbers = [o for p in plans if p for o in p]
            encoded = iter(self.model.encode_documents(texts, numbers=numbers))
            for i, ((ns, items, mode, ids), ordinals) in enumerate(zip(requests, plans, strict=True)):
                if ordinals is None:
                    continue
                docs = [NewDocument(doc_id, item.text, dict(item.metadata), self._encoding(next(encoded)), o)
                        for doc_id, item, o in zip(ids, items, ordinals, strict=True)]
                try:
                    results = self.store.write(ns, docs, mode)
                except StoreError as e:
                    outcomes[i] = e
                    continue
                changed = {r.ordinal: d.encoding.routing_keys for r, d in zip(results, docs, strict=True)
                           if r.changed}
                self.index.patch(ns, changed, [])
                self.cache.invalidate(ns, list(changed))
                outcomes[i] = results
        return outcomes

    def update(self, ns: str, doc_id: str, text: str | None = None, metadata: dict[str, str] | None = None,
               expected_version: int = 0) -> WriteResult:
        with self._write_lock:
            encoding = None
            if text is not None:
                self._check_text(text)
                current = self.store.get(ns, doc_id)
                if text != current.text:
                    encoding = self._encoding(self.model.encode_documents([text], numbers=[current.ordinal])[0])
                else:
                    text = None
            result = self.store.update(ns, doc_id, text, metadata, encoding, expected_version)
            if encoding is not None and result.changed:
                self.index.patch(ns, {result.ordinal: encoding.routing_keys}, [])
                self.cache.invalidate(ns, [result.ordinal])
        return result

    def delete(self, ns: str, ids: list[str], expected_version: int = 0) -> list[Document]:
        if len(ids) > MAX_WRITE_DOCUMENTS:  # one transaction: bounded like a write
            raise InvalidArgument(f"a delete names {len(ids)} documents; at most {MAX_WRITE_DOCUMENTS}: split it")
        with self._write_lock:
            gone = self.store.delete(ns, ids, expected_version)
            self.index.patch(ns, {}, [d.ordinal for d in gone])
            self.cache.invalidate(ns, [d.ordinal for d in gone])
        return gone

    def delete_namespace(self, ns: str) -> int:
        """Gone for every reader at once; its documents are then purged in bounded transactions, between
        which other writes go on."""
        with self._write_lock:
            count = self.store.drop_namespace(ns)
            self.index.drop(ns)
            self.cache.drop(ns)
        self.store.purge(ns)
        return count

    # -- queries -----------------------------------------------------------------------------------
    def memory(self, ns: str) -> StoreMemory:
        """One consistent state of the namespace for one question."""
        self.store.namespace(ns)  # NotFound for an unknown namespace
        return StoreMemory(ns, self.index.snapshot(ns), self.cache, self.store, self.route_batcher)

    def retrieve(self, ns: str, question: str, top_k: int = 8, cancelled: IsCancelled | None = None
                 ) -> list[Citation]:
        """The top_k documents over router layers (mean of layer scores), best first; `cancelled` stops the
        routing prefill between chunks (`msa.model.prefill.Cancelled`)."""
        self._check_top_k(top_k)
        self._check_question(question)
        memory = self.memory(ns)
        if not len(memory):
            return []
        ranking = self.model.route(question, memory, top_k=min(top_k, len(memory)), read_mode="text",
                                   cancelled=cancelled).ranking()
        return self._cite(memory, ranking[:top_k])

    def query(self, ns: str, question: str, top_k: int | None = None, read_mode: str | None = None,
              max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0,
              cancelled: IsCancelled | None = None) -> Iterator[Retrieval | Token | Answer]:
        """Stream the `Retrieval`, `Token`s, then the `Answer` with citations and timings. A cancelled request
        stops: `cancelled` is checked between prefill chunks, and closing the iterator stops decoding."""
        if top_k is not None:
            self._check_top_k(top_k)
        self._check_question(question, max_new_tokens)
        start = time.perf_counter()
        memory = self.memory(ns)
        snapshot = time.perf_counter()
        retrieved, ranked = snapshot, []
        for item in self.model.stream(question, memory, max_new_tokens=max_new_tokens, temperature=temperature,
                                      top_p=top_p, seed=seed, read_mode=read_mode, top_k=top_k,
                                      cancelled=cancelled):
            if isinstance(item, Retrieved):
                retrieved = time.perf_counter()
                scores = dict(item.routing.ranking()) if item.read_mode == "text" else item.routing.read_scores()
                read = sorted(item.documents, key=lambda n: (-scores.get(n, float("-inf")), n))
                ranked = self._cite(memory, [(n, scores.get(n, float("-inf"))) for n in read])
                yield Retrieval(ranked)
            elif isinstance(item, GenerationResult):
                end = time.perf_counter()
                route, fetch = (1e3 * memory.spent[k] for k in ("route", "fetch"))
                timings = {"route": 1e3 * (snapshot - start) + route, "fetch": fetch,
                           "prefill": 1e3 * (retrieved - snapshot) - route - fetch,
                           "decode": 1e3 * (end - retrieved), "total": 1e3 * (end - start)}
                yield Answer(item.text, ranked, item.read_mode, item.stop_reason, item.prompt_tokens,
                             len(item.token_ids), len(memory), timings)
            else:
                yield item

    # -- helpers -----------------------------------------------------------------------------------
    def _cite(self, memory: StoreMemory, ranked: list[tuple[int, float]]) -> list[Citation]:
        docs = memory.documents([n for n, _ in ranked])
        return [Citation(docs[n].id, docs[n].version, n, s) for n, s in ranked if n in docs]

    def _check_items(self, items: list[WriteItem]) -> list[str]:
        """Validate a write's documents -> their ids (made for those without one)."""
        if not items:
            raise InvalidArgument("a write needs at least one document")
        if len(items) > MAX_WRITE_DOCUMENTS:
            raise InvalidArgument(f"a write holds {len(items)} documents; at most {MAX_WRITE_DOCUMENTS}: split it")
        size = sum(len(i.text.encode()) for i in items if isinstance(i.text, str))
        if size > MAX_WRITE_BYTES:
            raise InvalidArgument(f"a write holds {size} bytes of text; at most {MAX_WRITE_BYTES}: split it")
        for item in items:
            self._check_text(item.text)
            check_metadata(item.metadata)
        ids = [check_id(i.id) if i.id is not None else uuid.uuid4().hex for i in items]
        if len(set(ids)) != len(ids):
            raise InvalidArgument("a write holds the same document id twice")
        return ids

    def _check_text(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument("document text is empty")
        limit = self.model.config.max_position_embeddings - 16  # the document template adds a few tokens
        if self.model.tokenizer.count_within(text, limit) is None:
            raise InvalidArgument(f"document is {len(text.encode())} bytes, over the {limit} tokens this model "
                                  "takes. Split it.")

    def _check_question(self, question: str, max_new_tokens: int = 0) -> None:
        """A question is bounded before any work: MAX_QUESTION_TOKENS, and room left in the context for it, the
        prompt around it and the answer."""
        if not question.strip():
            raise InvalidArgument("the question is empty")
        n = self.model.tokenizer.count_within(question, MAX_QUESTION_TOKENS)
        if n is None:
            raise InvalidArgument(f"the question is over {MAX_QUESTION_TOKENS} tokens; ask a shorter one")
        context = self.model.config.max_position_embeddings
        if n + QUESTION_PROMPT_TOKENS + max_new_tokens > context:
            raise InvalidArgument(f"the question ({n} tokens) and max_new_tokens ({max_new_tokens}) do not fit this "
                                  f"model's context of {context} tokens; lower max_new_tokens")

    def _check_top_k(self, top_k: int) -> None:
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidArgument(f"top_k must be in [1, {MAX_TOP_K}], got {top_k}")

    @staticmethod
    def _encoding(e: EncodedDocument) -> Encoding:
        return Encoding(e.token_ids, e.keys, e.values, e.routing_keys)

"""The engine: the one API over one store and one model, for the servicer, the CLI and the benchmarks.
Writes (validate, batch with concurrent writers, encode, one transaction, patch the index), questions
(snapshot, route through the index, fetch selected K/V, generate, cite), namespaces, reads and stats."""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from msa.memstore.engine.in_flight import InFlight, Reservation
from msa.memstore.engine.options import (
    MAX_QUESTION_TOKENS,
    MAX_WRITE_BYTES,
    MAX_WRITE_DOCUMENTS,
    QUESTION_PROMPT_TOKENS,
    RETRIEVE_TOP_K,
    QueryOptions,
    check_top_k,
)
from msa.memstore.engine.results import Answer, Citation, Retrieval, WriteItem, answer_timings
from msa.memstore.engine.stats import Grant, StoreStats, summed, visible
from msa.memstore.engine.write_batcher import WriteBatcher
from msa.memstore.errors import InvalidArgument, NotFound, StaleOrdinal, StoreError
from msa.memstore.index.attributes import AttributeIndex
from msa.memstore.index.content_cache import ContentCache
from msa.memstore.index.protocols import RoutingIndexInterface
from msa.memstore.index.routing_index import RoutingIndex, default_budget
from msa.memstore.index.store_memory import StoreMemory
from msa.memstore.storage.filters import NO_FILTER, DocumentFilter
from msa.memstore.storage.records import (
    HISTORY_VERSIONS,
    Document,
    Encoding,
    ModelBinding,
    Namespace,
    NewDocument,
    Origin,
    WriteResult,
    check_expiry,
    check_id,
    check_metadata,
)
from msa.memstore.storage.store import Store
from msa.model.api import MSAModel
from msa.model.call_batcher import CallBatcher
from msa.model.generate import GenerationResult, Retrieved, Token
from msa.model.memory import EncodedDocument
from msa.model.prefill import IsCancelled

logger = logging.getLogger(__name__)
REAP_EVERY_S = 30.0  # how often expired documents are reclaimed (they are invisible from when they expire)
REAP_BATCH = 256  # expired documents reclaimed per transaction


def binding_for(model: MSAModel) -> ModelBinding:
    """What a store written by this model records: fingerprint, router layers, MSA parameters."""
    i = model.identity()
    return ModelBinding(i.fingerprint, i.router_layers, i.msa, i.name)


@dataclass(eq=False)
class _Planned:
    """One write request after checks and ordinal planning; `documents` once encoded."""

    ns: str
    items: list[WriteItem]
    mode: str
    ids: list[str]
    reserved: list[Reservation]
    documents: list[NewDocument] = field(default_factory=list)

    @property
    def ordinals(self) -> list[int]:
        return [r.ordinal for r in self.reserved]


class Engine:
    """`Engine.open` builds one; the constructor takes parts already made (tests)."""

    def __init__(self, model: MSAModel, store: Store, index: RoutingIndexInterface | None = None,
                 cache: ContentCache | None = None, write_batch_s: float = 0.0, write_batch_documents: int = 256,
                 reap_every_s: float = REAP_EVERY_S) -> None:
        self.model, self.store = model, store
        self.index = index or RoutingIndex(store, device=model.device, dtype=model.dtype)
        self.cache = cache or ContentCache(store)
        self.attributes = AttributeIndex(store, device=model.device)  # metadata and times, for filters
        self.route_batcher = CallBatcher()  # concurrent questions over one state share a pass over the keys
        self.in_flight = InFlight(store)  # ordinals of writes encoded, not yet committed
        self.write_batcher = WriteBatcher(self._prepare, self._commit, write_batch_s, write_batch_documents)
        self._write_lock = threading.Lock()  # one commit at a time: store, index and cache change together
        self._stopping = threading.Event()
        self._reaping = None  # the thread that reclaims expired documents every `reap_every_s` (0: none)
        if reap_every_s > 0 and not store.readonly:
            self._reaping = threading.Thread(target=self._reaper, args=(reap_every_s,), name="msa-reaper",
                                             daemon=True)
            self._reaping.start()

    @classmethod
    def open(cls, path: str | Path, model: MSAModel, create: bool = False, index_budget_bytes: int | None = None,
             host_budget_bytes: int = 32 << 30, cache_budget_bytes: int = 1 << 30, world: int = 1,
             shard_timeout_s: float = 60.0, write_batch_s: float = 0.0, write_batch_documents: int = 256,
             reap_every_s: float = REAP_EVERY_S, **store_options) -> Engine:
        """The store at PATH with MODEL (refused if the store was written by another model). Budgets: routing
        keys on the device (None: `routing_index.default_budget`, sized from the GPU's free memory), routing keys
        of namespaces too large for it in host memory, cached content K/V.
        `world` > 1: Memory Parallel, the routing index sharded over that many ranks (`parallel.start`), every
        namespace loaded before this returns. Writes wait up to `write_batch_s` for others to encode with.
        Expired documents are reclaimed every `reap_every_s` (0: only when `reap` is called)."""
        store = Store(path, binding_for(model), create=create, **store_options)
        if world > 1:
            from msa.memstore.index import parallel  # starts processes: only for Memory Parallel

            index = parallel.start(store, world, model.device, model.dtype, shard_timeout_s)
            for space in store.all_namespaces():  # every rank holds its shards before the engine serves
                index.snapshot(space.name)
        else:
            if index_budget_bytes is None:
                index_budget_bytes = default_budget(model.device)
                logger.info("routing keys on %s: up to %.1f GiB before a namespace streams", model.device,
                            index_budget_bytes / 2**30)
            index = RoutingIndex(store, device=model.device, dtype=model.dtype, budget_bytes=index_budget_bytes,
                                 host_budget_bytes=host_budget_bytes)
        return cls(model, store, index, ContentCache(store, cache_budget_bytes), write_batch_s,
                   write_batch_documents, reap_every_s)

    def close(self) -> None:
        self._stopping.set()
        if self._reaping is not None:
            self._reaping.join()
        self.write_batcher.close()
        self.index.close()
        self.store.close()

    def index_failure(self) -> str | None:
        """None while the routing index serves; else why it stopped (a sharded index that lost a rank)."""
        return None if self.index.check() else self.index.failure

    @property
    def model_name(self) -> str:
        """The name of the model the store is bound to."""
        return self.store.binding.name

    # -- namespaces and reads ----------------------------------------------------------------------
    def create_namespace(self, name: str, description: str = "", history: int = HISTORY_VERSIONS) -> Namespace:
        return self.store.create_namespace(name, description, history)

    def namespace(self, name: str) -> Namespace:
        return self.store.namespace(name)

    def existing(self, ns: str, ids: list[str]) -> set[str]:
        """Which of these document ids the namespace holds (a bulk load skips them: resumable, no duplicates)."""
        return set(self.store.ordinals(ns, ids))

    def list_namespaces(self, page_size: int = 100, page_token: str = "", grant: Grant | None = None
                        ) -> tuple[list[Namespace], str]:
        """A page of the namespaces the caller may read (`grant` None: all) and the next page's token."""
        return self.store.list_namespaces(page_size, page_token, lambda name: visible(grant, name))

    def get(self, ns: str, doc_id: str, version: int = 0) -> Document:
        """The current version, or an earlier one the history keeps."""
        return self.store.version(ns, doc_id, version) if version else self.store.get(ns, doc_id)

    def list(self, ns: str, page_size: int = 100, page_token: str = "", where: dict[str, str] | None = None,
             flt: DocumentFilter = NO_FILTER) -> tuple[list[Document], str]:
        """A page of a namespace's documents (without text), optionally those whose metadata match `where`
        and that `flt` passes."""
        return self.store.list(ns, page_size, page_token, where, flt)

    def stats(self, ns: str | None = None, grant: Grant | None = None) -> StoreStats:
        """Sums over one namespace, or over every namespace the caller may read; reads every record."""
        stats = self.store.stats()
        spaces = stats["namespaces"]
        if ns:
            if ns not in spaces:
                self.store.namespace(ns)  # NotFound
            spaces = {ns: spaces.get(ns, {"documents": 0, "tokens": 0, "chunks": 0, "bytes": {}})}
        else:  # a caller scoped to some namespaces sees the sums over those alone
            spaces = {name: s for name, s in spaces.items() if visible(grant, name)}
        return summed(stats, spaces, grant is None or grant.whole_store, self.index.resident_bytes,
                      self.index.host_bytes, self.cache.bytes)

    # -- writes ------------------------------------------------------------------------------------
    def write(self, ns: str, items: list[WriteItem], mode: str = "create") -> list[WriteResult]:
        """Encode and write a batch all-or-nothing; then patch the index and drop stale cached K/V. Writes
        from other threads meanwhile are encoded together with it (`WriteBatcher`)."""
        outcome = self.write_batcher.write((ns, items, mode))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def write_many(self, requests: list[tuple[str, list[WriteItem], str]]) -> list[list[WriteResult] | StoreError]:
        """Several clients' writes (namespace, items, mode): encoded together in one batch for throughput,
        then committed one transaction each, in order, so one request's error (its outcome) leaves the others
        alone. (`write` runs the two stages overlapped with other batches: `WriteBatcher`.)"""
        return self._commit(self._prepare(requests))

    def _prepare(self, requests: list[tuple[str, list[WriteItem], str]]) -> list[_Planned | StoreError]:
        """Check, reserve ordinals (`InFlight`), and encode every request's documents in one batch."""
        checked: list[list[str] | StoreError] = []
        for _, items, _ in requests:
            try:
                checked.append(self._check_items(items))
            except StoreError as e:
                checked.append(e)
        reserved = iter(self.in_flight.plan([(ns, ids) for (ns, _, _), ids in zip(requests, checked, strict=True)
                                             if isinstance(ids, list)]))
        planned: list[_Planned | StoreError] = []
        for (ns, items, mode), ids in zip(requests, checked, strict=True):
            got = next(reserved) if isinstance(ids, list) else ids
            planned.append(_Planned(ns, items, mode, ids, got) if isinstance(got, list) else got)
        self._encode([p for p in planned if isinstance(p, _Planned)])
        return planned

    def _encode(self, planned: list[_Planned]) -> None:
        """Encode the planned writes' documents in one batch (on failure their reservations are released)."""
        try:
            encoded = iter(self.model.encode_documents([i.text for p in planned for i in p.items],
                                                       numbers=[o for p in planned for o in p.ordinals],
                                                       to_host=True))
        except BaseException:
            for p in planned:
                self.in_flight.release(p.ns, p.ids, p.reserved, failed=True)
            raise
        for p in planned:
            p.documents = [NewDocument(doc_id, item.text, dict(item.metadata), self._encoding(next(encoded)), o,
                                       item.origin, item.expires_at)
                           for doc_id, item, o in zip(p.ids, p.items, p.ordinals, strict=True)]

    def _commit(self, planned: list[_Planned | StoreError]) -> list[list[WriteResult] | StoreError]:
        """One transaction per prepared request, in order. A request that relied on an earlier one's ordinal
        which then failed (or on a document a delete removed first) is planned and encoded again, once."""
        outcomes: list[list[WriteResult] | StoreError] = []
        for i, p in enumerate(planned):
            try:
                outcome = self._commit_one(p) if isinstance(p, _Planned) else p
                if isinstance(outcome, StaleOrdinal):
                    fresh = self.in_flight.replan(p.ns, p.ids, p.reserved)
                    if isinstance(fresh, StoreError):
                        outcome = fresh
                    else:
                        again = _Planned(p.ns, p.items, p.mode, p.ids, fresh)
                        self._encode([again])
                        outcome = self._commit_one(again)
            except BaseException:  # unexpected: the writes not committed give their reservations back
                for rest in planned[i + 1:]:
                    if isinstance(rest, _Planned):
                        self.in_flight.release(rest.ns, rest.ids, rest.reserved, failed=True)
                raise
            outcomes.append(outcome)
        return outcomes

    def _commit_one(self, p: _Planned) -> list[WriteResult] | StoreError:
        """One request's transaction; the index patched and stale K/V dropped with it. Its reservations end,
        unless its ordinals went stale (the caller plans it again)."""
        try:
            with self._write_lock:
                results = self.store.write(p.ns, p.documents, p.mode)
                changed = {r.ordinal: d.encoding.routing_keys
                           for r, d in zip(results, p.documents, strict=True) if r.changed}
                self._follow(p.ns, changed)
        except StaleOrdinal as e:
            return e
        except BaseException as e:
            self.in_flight.release(p.ns, p.ids, p.reserved, failed=True)
            if isinstance(e, StoreError):
                return e
            raise
        self.in_flight.release(p.ns, p.ids, p.reserved)
        return results

    def update(self, ns: str, doc_id: str, text: str | None = None, metadata: dict[str, str] | None = None,
               expected_version: int = 0, expires_at: float | None = None) -> WriteResult:
        """Change text, metadata and/or expiry (`expires_at`: 0 = never, None = unchanged)."""
        with self._write_lock:
            encoding = None
            if text is not None:
                self._check_texts([text])
                current = self.store.get(ns, doc_id)
                if text != current.text:
                    encoding = self._encoding(self.model.encode_documents([text], numbers=[current.ordinal],
                                                                          to_host=True)[0])
                else:
                    text = None
            result = self.store.update(ns, doc_id, text, metadata, encoding, expected_version, expires_at)
            if result.changed:
                reencoded = {result.ordinal: encoding.routing_keys} if encoding is not None else {}
                self._follow(ns, reencoded, changed=[result.ordinal])
        return result

    def delete(self, ns: str, ids: list[str], expected_version: int = 0) -> list[Document]:
        if len(ids) > MAX_WRITE_DOCUMENTS:  # one transaction: bounded like a write
            raise InvalidArgument(f"a delete names {len(ids)} documents; at most {MAX_WRITE_DOCUMENTS}: split it")
        with self.in_flight.exclusive(ns), self._write_lock:
            gone = self.store.delete(ns, ids, expected_version)
            self._follow(ns, removed=[d.ordinal for d in gone])
        return gone

    def _follow(self, ns: str, reencoded: dict[int, dict] | None = None, removed: Sequence[int] = (),
                changed: Sequence[int] = ()) -> None:
        """After a commit (under the write lock): the routing index, the cached K/V and the attribute table
        follow the store. `reencoded`: ordinal -> new routing keys; `changed`: ordinals whose metadata or times
        changed; `removed`: ordinals gone."""
        reencoded = reencoded or {}
        try:
            if reencoded or removed:
                try:
                    self.index.patch(ns, reencoded, list(removed))
                finally:  # the commit stands: stale K/V go even if the index has to reload
                    self.cache.invalidate(ns, [*reencoded, *removed])
        finally:
            if reencoded or removed or changed:
                self.attributes.patch(ns, list({*reencoded, *changed}), list(removed))

    def reap(self) -> int:
        """Reclaim expired documents (already invisible) of every namespace that has any, in bounded
        transactions, each patched like a delete -> how many. The engine's reaper thread calls this."""
        reclaimed = 0
        for space in self.store.all_namespaces():
            while space.expiring:
                try:
                    ids = self.store.expired_ids(space.name, REAP_BATCH)  # scanned without holding writers
                    if not ids:
                        break
                    with self.in_flight.exclusive(space.name), self._write_lock:
                        gone = self.store.reap(space.name, ids)
                        self._follow(space.name, removed=[d.ordinal for d in gone])
                except NotFound:  # the namespace was deleted meanwhile
                    break
                reclaimed += len(gone)
                if len(ids) < REAP_BATCH:
                    break
        return reclaimed

    def _reaper(self, every_s: float) -> None:
        while not self._stopping.wait(every_s):
            try:
                if n := self.reap():
                    logger.info("reclaimed %d expired memories", n)
            except Exception:  # the next pass tries again; a store that fails here fails loudly elsewhere
                logger.exception("reclaiming expired memories failed")

    def expiry(self, expires_at: float = 0.0, ttl_seconds: float = 0.0) -> float:
        """An absolute expiry from either form a request may give (0 and 0: never)."""
        if expires_at and ttl_seconds:
            raise InvalidArgument("give expires_at or ttl_seconds, not both")
        if ttl_seconds:
            if not (math.isfinite(ttl_seconds) and ttl_seconds > 0):
                raise InvalidArgument(f"ttl_seconds must be a positive number, not {ttl_seconds}")
            return self.store.clock() + ttl_seconds
        return check_expiry(expires_at)

    def keep_versions(self, ns: str, versions: list[Document]) -> None:
        """Earlier versions into a namespace's history as they are (`msa import`), each given the ordinal of its
        current document here (0 for one that is gone); checked first."""
        for d in versions:
            Origin(d.version, d.created_at, d.updated_at).checked(d.id)
            check_metadata(d.metadata)
        self._check_texts([d.text for d in versions])
        with self._write_lock:
            ordinals = self.store.ordinals(ns, list({d.id for d in versions}))
            self.store.keep_versions(ns, [replace(d, ordinal=ordinals.get(d.id, 0)) for d in versions])

    def history(self, ns: str, doc_id: str) -> list[Document]:
        """Every version kept of a document, newest first (the namespace keeps `history` earlier ones)."""
        return self.store.history(ns, doc_id)

    def delete_namespace(self, ns: str) -> int:
        """Gone for every reader at once; its documents are then purged in bounded transactions, between
        which other writes go on."""
        with self.in_flight.exclusive(ns), self._write_lock:
            count = self.store.drop_namespace(ns)
            self.index.drop(ns)
            self.cache.drop(ns)
            self.attributes.drop(ns)
        self.store.purge(ns)
        return count

    # -- queries -----------------------------------------------------------------------------------
    def memory(self, ns: str, flt: DocumentFilter = NO_FILTER) -> StoreMemory:
        """One consistent state of the namespace for one question; with a filter, only the documents it
        passes (the others are never scored, read or cited)."""
        space = self.store.namespace(ns)  # NotFound for an unknown namespace
        if space.expiring:  # expired documents are invisible from the moment they expire
            flt = replace(flt, alive_at=self.store.clock())
        snapshot = self.index.snapshot(ns)
        allowed = None if flt.empty else self.attributes.matching(ns, flt)
        return StoreMemory(ns, snapshot, self.cache, self.store, self.route_batcher, flt, allowed)

    def retrieve(self, ns: str, question: str, top_k: int = RETRIEVE_TOP_K, cancelled: IsCancelled | None = None,
                 with_text: bool = False, flt: DocumentFilter = NO_FILTER, read_mode: str | None = None
                 ) -> list[Citation]:
        """The documents a `Query` in this reading mode (the model's own unless given) would read, at most
        top_k, best first as it would cite them: text reading ranks over router layers (mean of layer
        scores); KV reading takes each layer's top_k and ranks them by their mean score over the layers that
        chose them. With their text and metadata if `with_text` (for an LLM's own prompt); `flt` narrows the
        documents; `cancelled` stops the routing prefill between chunks (`msa.model.prefill.Cancelled`)."""
        check_top_k(top_k)
        read_mode = QueryOptions(read_mode=read_mode).read_mode or self.model.config.msa.read_mode
        self.check_question(question)
        memory = self.memory(ns, flt)
        if not len(memory):
            return []
        routing = self.model.route(question, memory, top_k=top_k, read_mode=read_mode, cancelled=cancelled)
        if read_mode == "text":
            ranking = routing.ranking()
        else:
            ranking = sorted(routing.read_scores().items(), key=lambda item: (-item[1], item[0]))
        return self._cite(memory, ranking[:top_k], round=0, with_text=with_text)  # round 0: a ranking

    def query(self, ns: str, question: str, cancelled: IsCancelled | None = None, flt: DocumentFilter = NO_FILTER,
              **options) -> Iterator[Retrieval | Token | Answer]:
        """Stream the `Retrieval`, `Token`s, then the `Answer` with citations and timings; `options` are those
        of `QueryOptions`, checked before any work; `flt` narrows the documents read. A cancelled request
        stops: `cancelled` is checked between prefill chunks, and closing the iterator stops decoding."""
        checked = QueryOptions(**options)
        self.check_question(question, checked.max_new_tokens)
        return self._answer(ns, question, checked, cancelled, flt)

    def _answer(self, ns: str, question: str, options: QueryOptions, cancelled: IsCancelled | None,
                flt: DocumentFilter) -> Iterator[Retrieval | Token | Answer]:
        start = time.perf_counter()
        memory = self.memory(ns, flt)
        snapshot = time.perf_counter()
        retrieved, ranked, spent = snapshot, [], dict(memory.spent)
        for item in self.model.stream(question, memory, cancelled=cancelled, **options.generation()):
            if isinstance(item, Retrieved):  # once per round
                retrieved = time.perf_counter()
                spent = dict(memory.spent)  # before this round's citations read their records (a fetch)
                scores = dict(item.routing.ranking()) if item.read_mode == "text" else item.routing.read_scores()
                read = sorted(item.documents, key=lambda n: (-scores.get(n, float("-inf")), n))
                cited = self._cite(memory, [(n, scores.get(n, float("-inf"))) for n in read], item.round)
                ranked += cited
                yield Retrieval(cited, item.round, 1e3 * item.seconds)
            elif isinstance(item, GenerationResult):
                timings = answer_timings(start, snapshot, retrieved, time.perf_counter(), spent, memory.spent)
                yield Answer(item.answer, ranked, item.read_mode, item.stop_reason, item.prompt_tokens,
                             len(item.token_ids), len(memory), timings)
            else:
                yield item

    # -- helpers -----------------------------------------------------------------------------------
    def _cite(self, memory: StoreMemory, ranked: list[tuple[int, float]], round: int = 1, with_text: bool = False
              ) -> list[Citation]:
        docs = memory.documents([n for n, _ in ranked])
        return [Citation(docs[n].id, docs[n].version, n, s, round,
                         *((docs[n].text, dict(docs[n].metadata)) if with_text else ()))
                for n, s in ranked if n in docs]

    def _check_items(self, items: list[WriteItem]) -> list[str]:
        """Validate a write's documents -> their ids (made for those without one)."""
        if not items:
            raise InvalidArgument("a write needs at least one document")
        if len(items) > MAX_WRITE_DOCUMENTS:
            raise InvalidArgument(f"a write holds {len(items)} documents; at most {MAX_WRITE_DOCUMENTS}: split it")
        size = sum(len(i.text.encode()) for i in items if isinstance(i.text, str))
        if size > MAX_WRITE_BYTES:
            raise InvalidArgument(f"a write holds {size} bytes of text; at most {MAX_WRITE_BYTES}: split it")
        self._check_texts([item.text for item in items])
        for item in items:
            check_metadata(item.metadata)
        ids = [check_id(i.id) if i.id is not None else uuid.uuid4().hex for i in items]
        if len(set(ids)) != len(ids):
            raise InvalidArgument("a write holds the same document id twice")
        for doc_id, item in zip(ids, items, strict=True):  # before any encoding
            check_expiry(item.expires_at)
            if item.origin is not None:
                item.origin.checked(doc_id)
        return ids

    def _check_texts(self, texts: list[str]) -> None:
        if any(not isinstance(text, str) or not text.strip() for text in texts):
            raise InvalidArgument("document text is empty")
        limit = self.model.max_document_tokens
        for text, n in zip(texts, self.model.count_tokens(texts, limit), strict=True):
            if n is None:
                raise InvalidArgument(f"document is {len(text.encode())} bytes, over the {limit} tokens this model "
                                      "takes. Split it.")

    def check_question(self, question: str, max_new_tokens: int = 0) -> None:
        """A question is bounded before any work: MAX_QUESTION_TOKENS, and room left in the context for it, the
        prompt around it and the answer. `retrieve` and `query` check it; a server checks before queueing."""
        if not question.strip():
            raise InvalidArgument("the question is empty")
        n = self.model.count_tokens([question], MAX_QUESTION_TOKENS)[0]
        if n is None:
            raise InvalidArgument(f"the question is over {MAX_QUESTION_TOKENS} tokens; ask a shorter one")
        context = self.model.context_length
        if n + QUESTION_PROMPT_TOKENS + max_new_tokens > context:
            raise InvalidArgument(f"the question ({n} tokens) and max_new_tokens ({max_new_tokens}) do not fit this "
                                  f"model's context of {context} tokens; lower max_new_tokens")

    @staticmethod
    def _encoding(e: EncodedDocument) -> Encoding:
        return Encoding(e.token_ids, e.keys, e.values, e.routing_keys)

"""`MSAModel`: load a checkpoint, encode memories, route questions to them and generate answers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from msa.model.call_batcher import MAX_BATCH, CallBatcher
from msa.model.checkpoints.fingerprint import fingerprint
from msa.model.checkpoints.loader import load_transformer
from msa.model.config import READ_MODES, ModelConfig
from msa.model.decoder import CachedMixer, KVCache, Transformer
from msa.model.encode import encode_documents, encode_template, pass_tokens
from msa.model.generate import GenerationResult, Retrieved, RoundRead, Sampling, TextStream, Token, decode, next_token
from msa.model.int8 import Int8Weight, OneTokenInt8
from msa.model.interleave import MAX_INJECTED_TOKENS, BothWaysMixer, CallEnd, CallModel, interleave_call
from msa.model.lora import READER_FILE, ROUTING_FILE, LoRAAdapter
from msa.model.memory import EncodedDocument, ReadableMemory
from msa.model.prefill import GPU_PREFILL_CHUNK, PREFILL_CHUNK, IsCancelled, prefill
from msa.model.prefill_batch import Outcome, Prefilled, PrefillRequest, prefill_each, prefill_together
from msa.model.prompts import (
    REGENERATE,
    QuestionTokens,
    context_document,
    question_tokens,
    regenerate_tokens,
    response_text,
    routed_response,
    text_mode_prompt,
)
from msa.model.routing import MODES, RoutedPrefillMixer, Routing, route_spec
from msa.model.tokenizer import Tokenizer

DOCUMENT_TEMPLATE_TOKENS = 16  # at most, around a document's text


@dataclass(frozen=True)
class ModelIdentity:
    """What stored encodings belong to: the fingerprint (config, MSA parameters, weights, routing adapter),
    the router layers, the MSA parameters and the checkpoint's name."""

    fingerprint: str
    router_layers: tuple[int, ...]
    msa: dict
    name: str


def stop_token_ids(path: Path, cfg: ModelConfig, tok: Tokenizer) -> set[int]:
    """Stop tokens: generation_config.json's eos_token_id (int or list), else config.json's, else the tokenizer's."""
    gen_file = path / "generation_config.json"
    eos = json.loads(gen_file.read_text()).get("eos_token_id") if gen_file.exists() else None
    if eos is None:
        eos = cfg.eos_token_id
    if eos is None and tok.eos_token:
        eos = tok.token_id(tok.eos_token)
    if eos is None:
        return set()
    return {eos} if isinstance(eos, int) else set(eos)


class MSAModel:
    """An MSA checkpoint ready for use. `mode`: "compat" reproduces the reference's numerics, "clean"
    uses cosine fp32 routing (MSA_SPEC.md, "How the project uses this"). Default: compat for
    `model_type: "msa"` checkpoints, clean otherwise."""

    def __init__(self, transformer: Transformer, tokenizer: Tokenizer, stop_ids: set[int],
                 path: Path | None = None, reader: LoRAAdapter | None = None,
                 router_adapter: LoRAAdapter | None = None) -> None:
        self.transformer, self.tokenizer, self.stop_ids, self.path = transformer, tokenizer, stop_ids, path
        self.reader, self.router_adapter = reader, router_adapter
        self.config = transformer.config
        self.default_mode = "compat" if self.config.raw.get("model_type") == "msa" else "clean"
        self.prefill_batcher = CallBatcher()  # questions prefilled at the same time share a forward
        # a packed prefill's routing calls, made at the same time (threads start as they are first needed)
        self.route_pool = ThreadPoolExecutor(MAX_BATCH, thread_name_prefix="msa-route")
        self.encode_template()

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", dtype: str | torch.dtype = "float32",
                        reader: bool = True, int8_decoding: bool | None = None) -> MSAModel:
        """`reader`: use the checkpoint's reader adapter, if it has one. Its routing adapter, if it has one,
        is always used (the checkpoint's routers and stored encodings were made with it). Both are merged:
        encoding, routing, reading and decoding then run as fast as without them, for a copy of the adapted
        weights each (one matmul per linear layer instead of three; docs/benchmarks.md).

        `int8_decoding`: one-token forwards of the reader and the head use int8 copies of their weights
        (`model/int8.py`); by default on for bf16 weights on the CPU with a reader adapter, where it makes
        decoding steps faster (the int8 kernel is slow for fp32 activations).

        Importing `msa.model` tunes the whole process's glibc malloc to keep freed memory for the next CPU forward
        (`model/host_memory.py`; `MSA_RETURN_FREED_MEMORY=1` opts out)."""
        path = Path(path)
        transformer = load_transformer(path, dtype=dtype, device=device)
        file = path / ROUTING_FILE
        routing = LoRAAdapter.load(transformer, file, merge=True) if file.exists() else None
        tok = Tokenizer(path)
        file = path / READER_FILE
        adapter = LoRAAdapter.load(transformer, file, merge=True) if reader and file.exists() else None
        if int8_decoding is None:
            weights = transformer.embed_tokens.weight
            int8_decoding = adapter is not None and weights.device.type == "cpu" and weights.dtype == torch.bfloat16
        if int8_decoding:
            if adapter is None:
                raise ValueError(f"{path}: int8 decoding needs a reader adapter (its merged weights are decoded)")
            adapter.quantize_merged()
            copy = Int8Weight.of(transformer.lm_head.weight)
            if copy is not None:
                transformer.lm_head = OneTokenInt8(transformer.lm_head, copy)
        return cls(transformer, tok, stop_token_ids(path, transformer.config, tok), path, adapter, routing)

    def reading(self) -> AbstractContextManager:
        """Context for the forwards that read notes and answer: the reader adapter if there is one."""
        return self.reader.active() if self.reader else nullcontext()

    def routing(self) -> AbstractContextManager:
        """Context for the forwards that encode documents and route questions: the routing adapter if any."""
        return self.router_adapter.active() if self.router_adapter else nullcontext()

    @torch.no_grad()
    def encode_template(self) -> None:
        """The prompt template's K/V that questions attend to while routed (again after the routing adapter
        changes)."""
        with self.routing():
            self.template_ids, self.template = encode_template(self.transformer, self.tokenizer)

    @property
    def device(self) -> torch.device:
        return self.transformer.embed_tokens.weight.device

    # -- what a memory store needs of the model, so that nothing outside model/ reads its internals -----
    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype: routing keys are held in it."""
        return self.transformer.embed_tokens.weight.dtype

    @property
    def context_length(self) -> int:
        """Tokens the model attends over at most (prompt and answer together)."""
        return self.config.max_position_embeddings

    @property
    def max_document_tokens(self) -> int:
        """The longest document text it encodes, in tokens (the document template adds a few)."""
        return self.context_length - DOCUMENT_TEMPLATE_TOKENS

    def count_tokens(self, texts: list[str], limit: int) -> list[int | None]:
        """The tokens of each text if at most `limit`, else None, in work bounded by `limit`
        (`Tokenizer.count_within`)."""
        return self.tokenizer.count_within(texts, limit)

    def identity(self) -> ModelIdentity:
        """What a store written by this model is bound to."""
        return ModelIdentity(fingerprint(self.path), tuple(self.config.msa.router_layers), self.config.msa.to_dict(),
                             Path(self.path).name)

    @torch.no_grad()
    def encode_documents(self, texts: list[str], numbers: list[int] | None = None,
                         max_batch_tokens: int | None = None, to_host: bool = False) -> list[EncodedDocument]:
        """Encode documents (numbers default to 0..n-1); wrap them in `Memory` to ask questions. Tokens per
        forward: `max_batch_tokens`, else as many as the device runs best (`pass_tokens`). `to_host`: the
        pooled tensors on the CPU (for a store), copied in one transfer per forward."""
        numbers = list(range(len(texts))) if numbers is None else numbers
        budget = max_batch_tokens or pass_tokens(self.config, self.device, self.dtype)
        with self.routing():
            return encode_documents(self.transformer, self.tokenizer, texts, numbers, budget,
                                    torch.device("cpu") if to_host else None)

    def _options(self, mode: str | None, read_mode: str | None, top_k: int | None) -> tuple[str, str, int]:
        mode = mode or self.default_mode
        read_mode = read_mode or self.config.msa.read_mode
        top_k = self.config.msa.doc_top_k if top_k is None else top_k
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        if read_mode not in READ_MODES:
            raise ValueError(f"read_mode {read_mode!r} is not one of {READ_MODES}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        return mode, read_mode, top_k

    def _request(self, question: str) -> QuestionTokens:
        """The prompt tokens and routing span of a question, or of a reference `<regenerate>` prompt (the text
        of earlier rounds, continued as the reference builds it)."""
        if question.startswith(REGENERATE):
            return regenerate_tokens(self.tokenizer, question)
        return question_tokens(self.tokenizer, question)

    def _prefill(self, q: QuestionTokens, memory: ReadableMemory, mode: str, top_k: int, inject: bool,
                 cancelled: IsCancelled | None = None) -> Prefilled:
        """Prompt prefill with routing -> (cache, last logits [V] (None without injection), next position,
        routing, prompt length). Without injection a long question runs in chunks (`msa.model.prefill`)."""
        ids = torch.tensor(q.ids, device=self.device)
        start = len(self.template_ids) + top_k  # compat: question positions start at 3 + k (spec 3.1)
        positions = torch.arange(start, start + len(q.ids), device=self.device)
        cache = KVCache(self.config.num_hidden_layers)
        mixer = RoutedPrefillMixer(cache, self.config, self.template, memory,
                                   torch.tensor(q.routing, device=self.device),
                                   route_spec(self.config, mode, self.dtype), top_k, inject=inject)
        with self.routing():  # injecting: one forward of at most the question's bounded length
            logits = prefill(self.transformer, ids, positions, mixer, cancelled, logits=inject,
                             chunk=len(ids) if inject else None)
        return cache, logits, start + len(q.ids), mixer.finish(), len(q.ids)

    def _injected_prefill(self, q: QuestionTokens, memory: ReadableMemory, mode: str, top_k: int,
                          cancelled: IsCancelled | None = None) -> Prefilled:
        """`_prefill` with injection; questions arriving while one runs go together in the next forward
        (`model/prefill_batch.py`)."""
        return self.prefill_batcher.run((mode, top_k), PrefillRequest(q, memory, cancelled),
                                        lambda requests: self._prefill_requests(requests, mode, top_k),
                                        cancelled).get()

    def _prefill_requests(self, requests: list[PrefillRequest], mode: str, top_k: int) -> list[Outcome]:
        def alone(r: PrefillRequest) -> Prefilled:
            return self._prefill(r.tokens, r.memory, mode, top_k, inject=True, cancelled=r.cancelled)

        def together(rs: list[PrefillRequest]) -> list[Prefilled]:
            with self.routing():
                return prefill_together(self.transformer, self.template, len(self.template_ids) + top_k, rs,
                                        route_spec(self.config, mode, self.dtype), top_k, self.route_pool)

        budget = GPU_PREFILL_CHUNK if self.device.type == "cuda" else PREFILL_CHUNK
        return prefill_each(requests, alone, together, budget)

    @torch.no_grad()
    def route(self, question: str, memory: ReadableMemory, top_k: int | None = None, mode: str | None = None,
              read_mode: str | None = None, cancelled: IsCancelled | None = None) -> Routing:
        """Per-router-layer document scores and top-k, as the given reading mode would route. `cancelled`
        is checked between prefill chunks (`msa.model.prefill.Cancelled` once it holds)."""
        mode, read_mode, top_k = self._options(mode, read_mode, top_k)
        if read_mode == "kv":
            return self._injected_prefill(self._request(question), memory, mode, top_k, cancelled)[3]
        return self._prefill(self._request(question), memory, mode, top_k, inject=False, cancelled=cancelled)[3]

    @torch.no_grad()
    def stream(self, question: str, memory: ReadableMemory, max_new_tokens: int = 256, temperature: float = 0.0,
               top_p: float = 1.0, seed: int = 0, mode: str | None = None, read_mode: str | None = None,
               top_k: int | None = None, aggregate: str = "mean", cancelled: IsCancelled | None = None,
               rounds: int = 1) -> Iterator[Retrieved | Token | GenerationResult]:
        """Yield `Retrieved` after the prefill, `Token`s as they are generated, then the `GenerationResult`.
        The prefills check `cancelled` between chunks; closing the iterator stops decoding at the next token.

        kv: router layers read the selected documents' compressed K/V. text: documents are ranked once
        over router layers (`aggregate`, see `Routing.ranking`) and the top_k are read as plain text.
        `rounds` > 1, or a reference `<regenerate>` prompt: Memory Interleave (`_interleave`).
        """
        mode, read_mode, top_k = self._options(mode, read_mode, top_k)
        sampling = Sampling(max_new_tokens, temperature, top_p, seed)
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        if read_mode == "text":
            yield from self._read_text(question, memory, sampling, mode, top_k, rounds, aggregate, cancelled)
            return
        if rounds > 1 or question.startswith(REGENERATE):
            yield from self._interleave(self._request(question), memory, sampling, mode, top_k, rounds, cancelled)
            return
        cache, logits, position, routing, n_prompt = self._injected_prefill(
            self._request(question), memory, mode, top_k, cancelled)
        read = sorted({n for lr in routing.layers.values() for n in lr.selected})
        yield Retrieved(routing, read, read_mode)
        steps = decode(self.transformer, cache, logits, position, sampling, self.stop_ids, self.routing)
        yield from self._tokens(steps, lambda text, ids, reason: GenerationResult(
            text=text, token_ids=ids, routing=routing, read_mode=read_mode, documents=read, stop_reason=reason,
            prompt_tokens=n_prompt))

    def _read_text(self, question: str, memory: ReadableMemory, sampling: Sampling, mode: str, top_k: int,
                   rounds: int, aggregate: str, cancelled: IsCancelled | None
                   ) -> Iterator[Retrieved | Token | GenerationResult]:
        """Text reading over `rounds` retrievals. Round 1 ranks the documents for the question; each next round
        routes on the question and the notes the last round found (the reference's `<regenerate>` routing
        rule applied to text reading: `regenerate_tokens` of a response that injected them) and adds its
        top_k new notes. The answer reads every note (earlier rounds first, each round best last)."""
        if question.startswith(REGENERATE):
            raise ValueError("a <regenerate> prompt continues MSA-4B's kv reading: use read_mode='kv'")
        request, rounds_read, found = self._request(question), [], []
        for number in range(1, rounds + 1):
            start = time.perf_counter()
            routing = self._prefill(request, memory, mode, top_k, inject=False, cancelled=cancelled)[3]
            # a store-backed memory may have lost a document since its snapshot: skip it
            new = [n for n, _ in routing.ranking(aggregate) if n not in found and n in memory][:top_k]
            rounds_read.append(RoundRead(number, routing, new, [], time.perf_counter() - start))
            found += new
            if number < rounds and not new:
                break
            if number < rounds:
                notes = [(n, memory[n].text) for n in new]
                request = regenerate_tokens(self.tokenizer, REGENERATE + routed_response(question, notes))
        order = [n for r in rounds_read for n in r.read[::-1]]  # best last within a round, later rounds last
        kept = {n for n, _ in self.notes_within_context(
            question, [(n, memory[n].text) for r in rounds_read for n in r.read], sampling.max_new_tokens)}
        notes = [(n, memory[n].text) for n in order if n in kept]
        read = [n for n, _ in notes]
        cache, logits, position = self._read_prefill(question, notes, cancelled)
        for r in rounds_read:  # after the reading prefill: what follows is decoding (the engine times it so)
            yield Retrieved(r.routing, [n for n in r.read[::-1] if n in kept], "text", r.round, r.seconds)
        steps = decode(self.transformer, cache, logits, position, sampling, self.stop_ids, self.reading)
        yield from self._tokens(steps, lambda text, ids, reason: GenerationResult(
            text=text, token_ids=ids, routing=rounds_read[-1].routing, read_mode="text", documents=read,
            stop_reason=reason, prompt_tokens=position, rounds=rounds_read if rounds > 1 else []))

    def _interleave(self, request: QuestionTokens, memory: ReadableMemory, sampling: Sampling, mode: str,
                    top_k: int, rounds: int, cancelled: IsCancelled | None,
                    choose: Callable[[torch.Tensor], int] | None = None
                    ) -> Iterator[Retrieved | Token | GenerationResult]:
        """Memory Interleave (spec 6): each round is a routed prefill of the accumulated text and one call of
        `interleave.interleave_call`; a round that asks for documents is continued by a `<regenerate>` prompt
        of its response, until the model answers or `rounds` is reached (its last call answers from what
        it has read). `sampling.max_new_tokens` caps each call's steps; `choose` replaces sampling (tests force
        the tokens through every stage)."""
        generator = torch.Generator().manual_seed(sampling.seed)
        choose = choose or (lambda logits: next_token(logits, sampling, generator))
        reads: list[RoundRead] = []

        def steps() -> Iterator[int | str | Retrieved]:
            nonlocal request
            for number in range(1, rounds + 1):
                start = time.perf_counter()
                cache, logits, position, routing, _ = self._injected_prefill(request, memory, mode, top_k,
                                                                             cancelled)
                read = sorted({n for lr in routing.layers.values() for n in lr.selected})
                seconds = time.perf_counter() - start
                yield Retrieved(routing, read, "kv", number, seconds)
                end = None
                last = number == rounds or not self._room_for_a_round(request, top_k, sampling)
                for item in interleave_call(self._call_model(cache, position, choose, memory), logits,
                                            self.tokenizer.decode(request.ids), sampling.max_new_tokens, last):
                    if isinstance(item, CallEnd):
                        end = item
                    else:
                        yield item
                reads.append(RoundRead(number, routing, read, end.documents, seconds))
                if end.reason != "round":
                    yield end.reason
                    return
                request = regenerate_tokens(self.tokenizer, REGENERATE + response_text(
                    self.tokenizer.decode(request.ids + end.generated + end.injected)))

        yield from self._tokens(steps(), lambda text, ids, reason: GenerationResult(
            text=text, token_ids=ids, routing=reads[-1].routing, read_mode="kv",
            documents=sorted({n for r in reads for n in [*r.read, *r.requested]}), stop_reason=reason,
            prompt_tokens=len(request.ids), rounds=reads))

    def _room_for_a_round(self, request: QuestionTokens, top_k: int, sampling: Sampling) -> bool:
        """Whether the next round's prompt (this one, what this call writes and injects) still fits the context."""
        grown = len(self.template_ids) + top_k + len(request.ids) + 2 * sampling.max_new_tokens + MAX_INJECTED_TOKENS
        return grown <= self.context_length

    def _call_model(self, cache: KVCache, position: int, choose: Callable[[torch.Tensor], int],
                    memory: ReadableMemory) -> CallModel:
        """The model as one interleave call uses it: forwards continue `cache` from `position`."""
        at = [position]

        def forward(ids: list[int], both_ways: bool) -> torch.Tensor:
            mixer = BothWaysMixer(cache) if both_ways else CachedMixer(cache)
            with self.routing():  # kv: the weights that encoded the memories read their K/V
                logits = self.transformer(torch.tensor(ids, device=self.device),
                                          torch.arange(at[0], at[0] + len(ids), device=self.device), mixer)[-1]
            at[0] += len(ids)
            return logits

        return CallModel(forward=forward, choose=choose,
                         decode=self.tokenizer.decode, encode=self.tokenizer.encode,
                         documents=lambda numbers: {n: memory[n].text for n in numbers if n in memory},
                         stop_ids=self.stop_ids)

    def notes_within_context(self, question: str, notes: list[tuple[int, str]], max_new_tokens: int
                             ) -> list[tuple[int, str]]:
        """The leading notes (best first) whose text prompt leaves room for `max_new_tokens` in the context: a
        prompt never outgrows the model, whatever top_k and the documents' lengths."""
        room = (self.config.max_position_embeddings - max_new_tokens
                - len(self.tokenizer.encode(text_mode_prompt(self.tokenizer, question, []))))
        kept = []
        for n, text in notes:
            room -= len(self.tokenizer.encode(context_document(n, text))) + 1  # + a token merged at the seams
            if room < 0:
                break
            kept.append((n, text))
        return kept

    def _read_prefill(self, question: str, notes: list[tuple[int, str]], cancelled: IsCancelled | None = None
                      ) -> tuple[KVCache, torch.Tensor, int]:
        """Text reading: the notes and the question as one prompt (in chunks when long) -> (cache, last logits
        [V], length)."""
        ids = self.tokenizer.encode(text_mode_prompt(self.tokenizer, question, notes))
        cache = KVCache(self.config.num_hidden_layers)
        with self.reading():
            logits = prefill(self.transformer, torch.tensor(ids, device=self.device),
                             torch.arange(len(ids), device=self.device), CachedMixer(cache), cancelled)
        return cache, logits, len(ids)

    def _tokens(self, steps: Iterator[int | str | Any], finish: Callable[[str, list[int], str], Any]) -> Iterator[Any]:
        """Stream decoded ids as `Token`s, then `finish(text, ids, stop_reason)`."""
        text, out_ids, reason, pending = TextStream(self.tokenizer), [], "length", None
        for item in steps:
            if isinstance(item, str):
                reason = item
                break
            if not isinstance(item, int):  # another event (a round's `Retrieved`): after the tokens before it
                if pending is not None:
                    yield pending
                    pending = None
                yield item
                continue
            out_ids.append(item)
            piece = text.push(item)
            if pending is not None:  # held one step so the last token can carry any held-back bytes
                yield pending
            pending = Token(item, piece)
        if pending is not None:
            yield Token(pending.id, pending.text + text.flush())
        yield finish(text.emitted, out_ids, reason)

    @torch.no_grad()
    def read(self, question: str, notes: list[tuple[int, str]], max_new_tokens: int = 64) -> str:
        """Greedy answer from the given notes (number, text), best last, without routing (reader evaluation);
        the worst are left out when they do not fit the context."""
        notes = self.notes_within_context(question, notes[::-1], max_new_tokens)[::-1]
        cache, logits, position = self._read_prefill(question, notes)
        steps = decode(self.transformer, cache, logits, position, Sampling(max_new_tokens), self.stop_ids,
                       self.reading)
        *_, text = self._tokens(steps, lambda text, ids, reason: text)
        return text

    def generate(self, question: str, memory: ReadableMemory, **kwargs) -> GenerationResult:
        """Non-streaming `stream`: returns text, token ids, per-layer routing and the stop reason."""
        *_, result = self.stream(question, memory, **kwargs)
        return result

"""Tokenizer from a checkpoint's tokenizer.json + tokenizer_config.json (special tokens, chat template)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer as HFTokenizer


class TokenizerError(ValueError):
    """The tokenizer files are missing, or lack a token or template the caller needs."""


def _token_content(value: Any) -> str | None:
    """tokenizer_config.json stores special tokens as strings or as AddedToken dicts."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def _raise(message: str) -> None:
    raise TokenizerError(f"chat template: {message}")


class Tokenizer:
    """Text <-> token ids. Encoding never adds special tokens; decoding keeps them (as the reference does)."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        file = path / "tokenizer.json"
        if not file.exists():
            raise TokenizerError(f"{file} not found: the checkpoint needs a tokenizer.json")
        self._tok = HFTokenizer.from_file(str(file))
        cfg_file = path / "tokenizer_config.json"
        self.config: dict[str, Any] = json.loads(cfg_file.read_text()) if cfg_file.exists() else {}
        self.chat_template: str | None = self.config.get("chat_template")
        self.eos_token = _token_content(self.config.get("eos_token"))
        self.pad_token = _token_content(self.config.get("pad_token"))
        self.bos_token = _token_content(self.config.get("bos_token"))

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        """`encode` of each text, on all cores (the tokenizer's own threads): a bulk write tokenizes at the
        encoder's pace only so."""
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    @functools.cached_property
    def max_token_bytes(self) -> int:
        """The UTF-8 length of the longest vocabulary entry: no token stands for more bytes of text."""
        return max(len(t.encode()) for t in self._tok.get_vocab(with_added_tokens=True))

    def count_within(self, texts: list[str], limit: int) -> list[int | None]:
        """len(encode(text)) of each text if at most `limit`, else None; text too long to fit is refused from its
        size alone, so the work is bounded by `limit` whatever the texts' length."""
        fits = [len(t.encode()) <= limit * self.max_token_bytes for t in texts]
        counts = iter(len(ids) for ids in self.encode_many([t for t, ok in zip(texts, fits, strict=True) if ok]))
        found = [next(counts) if ok else None for ok in fits]
        return [n if n is not None and n <= limit else None for n in found]

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    def token_id(self, token: str) -> int:
        tid = self._tok.token_to_id(token)
        if tid is None:
            raise TokenizerError(f"token {token!r} is not in the vocabulary")
        return tid

    def apply_chat_template(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """Render messages with the checkpoint's Jinja chat template (as tokenizer_config.json declares)."""
        if not self.chat_template:
            raise TokenizerError("the tokenizer has no chat_template in tokenizer_config.json")
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise
        template = env.from_string(self.chat_template)
        return template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                               bos_token=self.bos_token or "", eos_token=self.eos_token or "")

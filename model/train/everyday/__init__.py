"""Everyday agent memories and questions, for router and reader training that generalizes.

`synthetic.py` writes profiles of invented people with syllable names and ~30 relations, one template style;
routers trained on it fail on the notes a real agent keeps. This module writes those notes instead: facts
about the user (first person), their contacts, pets, home, health, work, software, money, travel, hobbies,
shopping, vehicles, courses, events and places, in many styles (first person, agent notes, terse key/value
lines, chat excerpts, diary lines, meeting minutes, commit messages), with filler sentences that bury the
answer. Questions paraphrase the fact (they ask the need behind it), so a router cannot match on words alone.

Hard negatives come by construction: names share first names and surnames, a subject's facts are spread over
several memories, values repeat across subjects, and the user has many memories that differ only by relation.
Everything is seeded and deterministic (no set iteration, string seeds).

Template markup: `{s}` names the subject, `{p}` is its possessive, `{v}` the value, and `[a|b]` picks `a` in
the user's own voice (first person) and `b` in an agent's note (third person).
"""

from __future__ import annotations

from msa.model.train.everyday.absent import abstain_questions
from msa.model.train.everyday.generator import EverydayDataset, make_everyday_dataset

__all__ = ["EverydayDataset", "abstain_questions", "make_everyday_dataset"]

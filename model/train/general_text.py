"""General text for router training: Debian's package descriptions as (summary, passage) pairs.

Templates teach routers our generators' phrasings; real prose teaches them that a question and the text that
answers it share meaning more than words. Every Debian package has a one-line summary and a paragraph about
it, written by thousands of people: the summary routes to its paragraph the way a paraphrased question routes
to a memory (title -> body, as in unsupervised retrieval pre-training), and an inverse-cloze query (one
sentence taken out of the paragraph) routes to the rest. The descriptions come from the machine's apt lists:
`apt-get -o Acquire::Languages=en update` downloads them; $MSA_DESCRIPTIONS may name other files in that
format instead (a glob; `.gz` files are read as gzip), e.g. a copy taken to a machine without apt.
"""

from __future__ import annotations

import glob
import gzip
import os
import random
import re
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from msa.model.train.synthetic import Dataset, Example

LISTS = "/var/lib/apt/lists/*_i18n_Translation-en*"
APT_HELPER = "/usr/lib/apt/apt-helper"  # decompresses whatever codec apt stored its lists with
# Variants of one program repeat its paragraph; a pair per paragraph keeps the task about meaning.
SKIP = re.compile(r"(^lib|-dev$|-doc$|-dbg|-data$|-common$|-l10n|-locale|^fonts-|^texlive|^golang-|^node-|"
                  r"^r-cran|^python3?-|^ruby-|^php-|^lua-|^ocaml|^haskell|^librust|^firmware)")
WRAPPERS = ("{s}", "{s}", "{s}?", "Which one is the {s}?", "Remind me about the {s}.", "What did I note about the {s}?",
            "I need a {s}.", "Anything on {s}?")


class GeneralTextError(RuntimeError):
    """No package descriptions on this machine."""


@dataclass(frozen=True)
class Description:
    package: str
    summary: str
    paragraph: str  # the first paragraph of the long description, on one line


def read_descriptions(pattern: str | None = None) -> list[Description]:
    """Every English package description in the apt lists, one per distinct first paragraph."""
    pattern = pattern or os.environ.get("MSA_DESCRIPTIONS") or LISTS
    files = sorted(glob.glob(pattern))
    if not files:
        raise GeneralTextError(f"no apt Translation-en lists match {pattern}: run "
                               "`apt-get -o Acquire::Languages=en update` (Debian or Ubuntu) or train without them")
    seen, out = set(), []
    for path in files:
        for block in _read(path).split("\n\n"):
            d = _parse(block)
            if d and d.paragraph not in seen and not SKIP.search(d.package):
                seen.add(d.paragraph)
                out.append(d)
    return out


def _read(path: str) -> str:
    if path.endswith(".gz"):
        return gzip.decompress(Path(path).read_bytes()).decode()
    return subprocess.run([APT_HELPER, "cat-file", path], capture_output=True, text=True, check=True).stdout


def _parse(block: str) -> Description | None:
    package = summary = None
    body: list[str] = []
    for line in block.splitlines():
        if line.startswith("Package: "):
            package = line[9:].strip()
        elif line.startswith("Description-en: "):
            summary = line[16:].strip()
        elif line.startswith(" ") and summary is not None:
            if line.strip() == "." and body:
                break  # the first paragraph only
            body.append(line.strip())
    paragraph = " ".join(body)
    if not package or not summary or len(paragraph.split()) < 20:
        return None
    return Description(package, summary.rstrip("."), " ".join(paragraph.split()[:120]))


def split_descriptions(descriptions: list[Description], held_out: int = 10
                       ) -> tuple[list[Description], list[Description]]:
    """(training, validation): one package in `held_out` goes to validation, chosen by a stable hash of its name."""
    def held(d: Description) -> bool:
        return zlib.crc32(d.package.encode()) % held_out == 0

    return [d for d in descriptions if not held(d)], [d for d in descriptions if held(d)]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", text) if len(s.split()) >= 5]


def description_dataset(descriptions: list[Description], n_memories: int, seed: int,
                        cloze: float = 0.3) -> Dataset:
    """A store of paragraphs, one question per paragraph: its summary (wrapped in a question or note form)
    or, for a `cloze` share, one of its sentences removed from the memory (inverse cloze)."""
    rng = random.Random(seed)
    chosen = rng.sample(descriptions, min(n_memories, len(descriptions)))
    memories, examples = [], []
    for i, d in enumerate(chosen):
        parts = sentences(d.paragraph)
        if len(parts) >= 3 and rng.random() < cloze:
            taken = rng.randrange(len(parts))
            question, memory = parts[taken], " ".join(p for j, p in enumerate(parts) if j != taken)
        else:
            question, memory = rng.choice(WRAPPERS).format(s=d.summary[0].lower() + d.summary[1:]), d.paragraph
        memories.append(memory)
        examples.append(Example(question, d.summary, (i,), relation="description", subject=d.package))
    return Dataset(memories, examples)

"""The README's two commands are what CI and users run."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    test_cmd = readme[readme.index("# the tests (CPU; GPU-only tests skip)") + 1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci


def test_the_first_command_runs_the_demo():
    readme = (ROOT / "README.md").read_text().splitlines()
    first = readme[readme.index("```bash") + 2]
    assert first.endswith("&& msa demo")

"""The README is a recipe: two set-up commands (the second is CI's), links that resolve, ≤ 12 kB."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_opens_with_the_two_set_up_commands_and_ci_runs_the_second():
    block = re.search(r"```bash\n(.*?)\n```", README, re.S).group(1).splitlines()
    assert len(block) == 2 and all(line.startswith("python -m venv .venv && ") for line in block)
    assert "benchmarks.run" in block[0] and block[1].endswith("python -m pytest")
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == block[1]


def test_the_readme_stays_short_and_its_links_resolve():
    assert len(README.encode()) <= 12 * 1024
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_the_docs_links_resolve():
    for doc in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)\)", doc.read_text()):
            if not target.startswith("http"):
                assert (doc.parent / target).exists(), f"{doc.name}: {target}"

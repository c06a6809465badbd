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


def documented_commands() -> list[tuple[str, list[str]]]:
    """Every ``python -m benchmarks|dfplan|dfplan.video ...`` line in a bash block of the README
    and docs: (where, argv after the module); comments, line continuations and ``[optional]`` parts removed."""
    import shlex

    found = []
    for path in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for block in re.findall(r"```bash\n(.*?)\n```", path.read_text(), re.S):
            for command in block.replace("\\\n", " ").splitlines():
                command = re.sub(r"\[[^\]]*\]", "", command.split("  #")[0].split(" # ")[0]).strip()
                match = re.match(r"python -m (benchmarks|dfplan\.video|dfplan)(?:\.run)? (.*)", command)
                if match and "..." not in command and "{" not in command:
                    module = "benchmarks.run" if command.startswith("python -m benchmarks.run ") else match.group(1)
                    found.append((f"{path.name}: {command}", module, shlex.split(match.group(2))))
    return found


def test_every_documented_command_parses():
    from benchmarks import cli as suite
    from benchmarks import run
    from dfplan import cli as library
    from dfplan.video import cli as video

    parsers = {"benchmarks": suite.build_parser(), "dfplan": library.build_parser(), "dfplan.video": video.build_parser(),
               "benchmarks.run": run.build_parser()}
    commands = documented_commands()
    assert len(commands) >= 15
    for where, module, argv in commands:
        if module == "benchmarks" and argv[0] in suite.FORWARDED:
            module, argv = ("benchmarks.run", argv[1:]) if argv[0] == "run" else (module, None)
        if argv is not None:
            try:
                parsers[module].parse_args(argv)
            except SystemExit as exit_:
                raise AssertionError(f"{where} does not parse") from exit_

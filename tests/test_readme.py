"""The README's first two lines are the set-up commands, and CI runs the second one verbatim."""

import re
from pathlib import Path

from agent.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    lines = [line.strip() for line in (ROOT / "README.md").read_text().splitlines()]
    return [line for line in lines[:6] if line.startswith("bash scripts/setup.sh")]


def test_readme_starts_with_the_two_setup_commands() -> None:
    main_job, tests = _commands()
    assert main_job.endswith("antiphon demo")
    assert "--dev" in tests and "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    _, tests = _commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def test_readme_documents_every_subcommand() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    for name in commands:
        assert f"antiphon {name}" in readme, name


def _setup_apt_packages() -> list[str]:
    text = (ROOT / "scripts" / "setup.sh").read_text()
    match = re.search(r"^APT_PACKAGES=\(([^)]*)\)", text, flags=re.MULTILINE)
    assert match, "scripts/setup.sh has no APT_PACKAGES=(...) line"
    return match.group(1).split()


def test_setup_installs_what_it_uses_and_the_readme_lists_the_same() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    packages = _setup_apt_packages()
    assert '-m venv' in setup and "python3-venv" in packages  # Debian's python3 has no venv without it
    assert {"gcc", "libc6-dev"} <= set(packages)  # the C audio callback is compiled on first use
    row = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| apt: "))
    listed = [p.strip() for p in row.split("|")[1].removeprefix(" apt: ").split(",")]
    assert sorted(listed) == sorted(packages), (listed, packages)


def test_readme_says_how_to_get_the_cpu_build_of_the_pinned_torch() -> None:
    pin = re.search(r'"(torch==[^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    commands = [line.strip() for line in (ROOT / "README.md").read_text().splitlines()]
    cpu = [c for c in commands if f"pip install {pin} --index-url https://download.pytorch.org/whl/cpu" in c]
    assert cpu and cpu[0].startswith("python3 -m venv .venv && .venv/bin/python -m pip install"), cpu
    assert commands[commands.index(cpu[0]) + 1] == "bash scripts/setup.sh"  # then the setup, which keeps it

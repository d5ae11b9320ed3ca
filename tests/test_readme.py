"""The README's first two lines are the set-up commands, and CI runs the second one verbatim."""

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

"""Documentation stays true: every CLI command is in the README, linked docs exist."""
from __future__ import annotations

import re
from pathlib import Path

import click

from engine.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "formflow"):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from commands(cmd, f"{prefix} {name}")
        else:
            yield f"{prefix} {name}"


def test_every_cli_command_is_listed_in_the_readme():
    missing = [c for c in commands(main) if c not in README]
    assert missing == []


def test_the_quick_start_is_two_commands():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", quick, re.S)
    assert [b.strip() for b in blocks] == ["make run", "make test"]


def test_ci_runs_the_readmes_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_linked_document_exists():
    for link in re.findall(r"\]\((docs/[^)]+)\)", README):
        assert (ROOT / link).exists(), link

"""`vigil … --help` shows every help text as written: the bracketed parts ("[default: today]",
"[x]") that Rich markup would take for style tags and drop are there, for every command."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from services.cli import app
from services.cli_help import literal, literal_help

BRACKETED = re.compile(r"(?<!\\)\[[^\]\n]+\]")


def commands(group, path: tuple[str, ...] = ()):
    yield path, group
    if hasattr(group, "commands"):  # a group (typer carries its own click)
        for name, command in group.commands.items():
            yield from commands(command, (*path, name))


def written(text: str | None) -> str:
    """A help text as its author wrote it (the escaping undone)."""
    return (text or "").replace("\\[", "[")


def bracketed_parts(command) -> set[str]:
    texts = [command.help, *(getattr(p, "help", None) for p in command.params)]
    return {part for text in texts for part in BRACKETED.findall(written(text))}


def squeezed(text: str) -> str:
    """Without the layout: whitespace and Rich's box characters, so a wrapped line still matches."""
    return re.sub(r"[\s│╭╮╰╯─]", "", text)


ALL = list(commands(typer.main.get_command(app)))
# Rendering takes a fifth of a second a command: render those with bracketed help (every other one
# has nothing Rich could drop), which the walk finds however many there are.
WITH_BRACKETS = [(path, command) for path, command in ALL if bracketed_parts(command)]


def test_the_walk_finds_the_commands_with_bracketed_help():
    with_brackets = {" ".join(path) for path, _ in WITH_BRACKETS}
    assert {"report daily-check", "report weekly", "report monthly", "action-items add"} <= with_brackets


@pytest.mark.parametrize(("path", "command"), [pytest.param(p, c, id=" ".join(p)) for p, c in WITH_BRACKETS])
def test_help_shows_every_bracketed_part_of_its_texts(path, command):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    shown = squeezed(result.output)
    for part in bracketed_parts(command):
        assert squeezed(part) in shown, f"`vigil {' '.join(path)} --help` lost {part!r}:\n{result.output}"


def test_escaping_is_for_brackets_only_and_happens_once():
    assert literal("YYYY-MM-DD [default: today]") == "YYYY-MM-DD \\[default: today]"
    assert literal(literal("[x] done")) == "\\[x] done"
    assert literal("INC-<n>, (default: none)") == "INC-<n>, (default: none)"
    assert literal(None) is None


def test_a_new_group_is_escaped_too():
    extra = typer.Typer()

    @extra.command()
    def check(day: str = typer.Option(None, help="YYYY-MM-DD [default: today]"),
              zone: Annotated[str, typer.Option(help="IANA zone [default: UTC]")] = "UTC") -> None:
        """Tick the boxes: [x] done, [ ] open."""

    root = typer.Typer()
    root.add_typer(extra, name="extra")
    root.command("other")(lambda: None)
    literal_help(root)
    output = squeezed(CliRunner().invoke(root, ["extra", "check", "--help"], env={"COLUMNS": "120"}).output)
    assert squeezed("[default: today]") in output and squeezed("[x] done, [ ] open") in output
    assert squeezed("IANA zone [default: UTC]") in output

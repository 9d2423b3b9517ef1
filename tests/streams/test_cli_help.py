"""``vigil --help`` and ``vigil COMMAND --help`` explain every command and option.

The parser is introspected, so a new command or option without help text fails
here; each help screen is also rendered by the installed ``vigil`` script.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.cli import build_parser

VIGIL = str(Path(sys.executable).with_name("vigil"))
#: Commands that only group others (``vigil chain watch``): no example of their own.
GROUPS = {(), ("chain",), ("sanctions",)}


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Yield (command path, its parser, the help line its parent lists) for every command."""
    if not path:
        yield path, parser, None
    sub = _subparsers(parser)
    if sub is None:
        return
    listed = {a.dest: a.help for a in sub._choices_actions}
    for name, child in sub.choices.items():
        yield (*path, name), child, listed.get(name)
        yield from walk(child, (*path, name))


COMMANDS = [path for path, _, _ in walk(build_parser())]


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]


def test_the_commands_of_the_contract_are_there() -> None:
    assert {
        ("worker",),
        ("replay",),
        ("topics",),
        ("simulate",),
        ("chain", "watch"),
        ("sanctions", "load"),
    } <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "vigil")
def test_every_command_and_option_has_help(path: tuple[str, ...]) -> None:
    found = {p: (parser, line) for p, parser, line in walk(build_parser())}
    parser, line = found[path]
    if path:
        assert line and line.strip(), f"`vigil {' '.join(path)}` has no one-line help"
    assert parser.description and len(parser.description.split()) >= 5, (
        f"`vigil {' '.join(path)}` has no description"
    )
    for action in options(parser):
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip() and action.help != argparse.SUPPRESS, (
            f"`vigil {' '.join(path)}`: {name} has no help text"
        )
        default = action.default
        if default not in (None, False, argparse.SUPPRESS) and not action.required:
            text = action.help % {"default": default, "prog": parser.prog}
            assert str(default) in text, (
                f"`vigil {' '.join(path)}`: the help of {name} does not give its default "
                f"{default!r}"
            )
    if path not in GROUPS and _subparsers(parser) is None:
        assert parser.epilog and "vigil " + " ".join(path) in parser.epilog, (
            f"`vigil {' '.join(path)}` shows no example"
        )


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "vigil")
def test_help_screen_renders(path: tuple[str, ...]) -> None:
    out = subprocess.run(
        [VIGIL, *path, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: vigil {' '.join(path)}".rstrip()), out.stdout[:200]
    found = {p: (parser, line) for p, parser, line in walk(build_parser())}
    parser, _ = found[path]
    for action in options(parser):
        shown = (
            action.option_strings[0] if action.option_strings else (action.metavar or action.dest)
        )
        assert shown and str(shown) in out.stdout, (path, shown)
    # Every subcommand is listed with its one-line help.
    for child, (_, line) in found.items():
        if child[:-1] == path and len(child) == len(path) + 1:
            assert child[-1] in out.stdout and line is not None
            assert " ".join(line.split()[:3]) in " ".join(out.stdout.split()), (child, line)

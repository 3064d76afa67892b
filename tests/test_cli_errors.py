"""One CLI error path: usage mistakes exit 2 with a usage line, help exits 0, operator errors
exit 1 with one line naming the file, and only real bugs say "internal error" (exit 70).

Everything runs through ``mission.cli.run``, the function behind the ``waterpatrol`` script.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer

import geofences
from mission import cli

POND = next(p for p in geofences.sample_paths() if p.name == "gqc-pond.geojson")
LAKE = next(p for p in geofences.sample_paths() if p.name == "gqc-lake.yaml")


@dataclass
class Result:
    code: int
    out: str
    err: str


def invoke(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    code = cli.run(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def command_tree() -> typer.main.TyperGroup:
    cli._mount()
    return typer.main.get_command(cli.app)


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group of the tree with its argv path (the root is ``()``)."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def parse_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make ``run`` use a tree whose commands parse their arguments but do nothing, so even
    ``station serve`` or ``demo`` can be called with any argv in a test."""
    tree = command_tree()
    for _, command in walk(tree):
        if not hasattr(command, "commands") and command.callback is not None:
            command.callback = lambda **_: None
    monkeypatch.setattr(typer.main, "get_command", lambda _app: tree)
    return tree


def typed_options(command: Any) -> list[tuple[str, type]]:
    """(option flag, int or float) for each number-typed option of ``command``."""
    found = []
    for param in command.params:
        if not param.opts[0].startswith("--"):
            continue
        annotation = param.type_descriptor.annotation
        kinds = typing.get_args(annotation) or (annotation,)
        for kind in (int, float):
            if kind in kinds:
                found.append((param.opts[0], kind))
                break
    return found


TREE = [(" ".join(path), path) for path, _ in walk(command_tree())]


def assert_usage_error(res: Result) -> None:
    assert res.code == 2, res
    assert "internal error" not in res.err + res.out
    assert "Usage" in res.err + res.out, res


# -- the cases the issue names -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["plan"],
        ["alerts", "export"],
        ["--no-such-option"],
        ["plan", "--no-such-option", str(LAKE)],
        ["fly", str(POND), "--sortie", "abc"],
        ["fly", str(POND), "--ready-timeout", "-1"],
        ["plan", str(LAKE), "--pattern", "spiral"],
        ["no-such-command"],
    ],
    ids=lambda a: " ".join(a).replace(str(LAKE), "LAKE").replace(str(POND), "POND"),
)
def test_usage_mistakes_exit_2_with_a_usage_line(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    res = invoke(capsys, *argv)
    assert_usage_error(res)
    assert "Try 'waterpatrol" in res.err and "Error:" in res.err


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_exits_0_on_stdout(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    res = invoke(capsys, flag)
    assert res.code == 0 and "Usage:" in res.out and "plan" in res.out
    assert "internal error" not in res.err


def test_no_arguments_prints_help_and_exits_2_as_click_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in ([], ["alerts"]):
        res = invoke(capsys, *argv)
        assert res.code == 2
        assert "Usage:" in res.out + res.err and "export" in res.out + res.err
        assert "internal error" not in res.err + res.out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--version", "-V"):
        res = invoke(capsys, flag)
        assert res.code == 0 and res.out.strip() == f"waterpatrol {version('waterpatrol')}"


def test_operator_error_is_one_line_naming_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.yaml"
    res = invoke(capsys, "plan", str(missing), "--out", str(tmp_path / "out"))
    assert res.code == 1
    lines = res.err.strip().splitlines()
    assert lines[0].startswith(f"error: {missing}") and "check the path" in lines[0]
    assert "internal error" not in res.err


def test_only_a_real_bug_is_an_internal_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import mission.planner

    def broken(*_: Any, **__: Any) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(mission.planner, "plan", broken)
    res = invoke(capsys, "plan", str(LAKE), "--out", str(tmp_path))
    assert res.code == 70
    assert res.err.startswith("internal error: ZeroDivisionError: float division by zero")


def test_the_installed_script_uses_the_same_path() -> None:
    script = Path(sys.executable).with_name("waterpatrol")
    if not script.exists():
        pytest.skip("the waterpatrol script is not installed in this environment")
    for argv, code, stream in (([], 2, "stdout"), (["-h"], 0, "stdout"), (["plan"], 2, "stderr")):
        done = subprocess.run(
            [str(script), *argv], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == code, (argv, done.stderr)
        assert "Usage" in getattr(done, stream)
        assert "internal error" not in done.stderr


# -- every command and sub-command ---------------------------------------------------------


@pytest.mark.parametrize("name,path", TREE, ids=[name or "<root>" for name, _ in TREE])
def test_every_command_handles_usage_mistakes(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    path: tuple[str, ...],
) -> None:
    tree = parse_only(monkeypatch)
    command = tree
    for part in path:
        command = command.commands[part]

    res = invoke(capsys, *path, "-h")
    assert res.code == 0 and "Usage:" in res.out, (name, res)

    assert_usage_error(invoke(capsys, *path, "--no-such-option"))

    needs_args = hasattr(command, "commands") or any(p.required for p in command.params)
    if needs_args:  # with nothing to do: help or "Missing argument", exit 2
        assert_usage_error(invoke(capsys, *path))

    for flag, _kind in typed_options(command):
        res = invoke(capsys, *path, flag, "not-a-number")
        assert_usage_error(res)
        assert flag in res.err, (name, flag, res.err)

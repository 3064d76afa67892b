"""Fuzzing the command line and key-water files: never an internal error (exit 70)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geofences
from mission import cli
from tests.test_cli_errors import command_tree, parse_only, walk

TOKENS = sorted(
    {name for path, _ in walk(command_tree()) for name in path}
    | {opt for _, c in walk(command_tree()) for p in c.params for opt in p.opts if "-" in opt}
)
JUNK = ["", "-", "--", "x", "-1", "0", "1e999", "nan", "ü", "/nonexistent", "--=", "-hx"]
SAMPLE = geofences.sample_paths()[0].with_name("gqc-reservoir.yaml")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=st.lists(st.sampled_from(TOKENS + JUNK), max_size=6))
def test_random_argv_never_gives_an_internal_error(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with monkeypatch.context() as m:
        parse_only(m)
        code = cli.run(argv)
    captured = capsys.readouterr()
    assert code in (0, 1, 2), (argv, code, captured.err)
    assert "internal error" not in captured.err


MUTATIONS = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=80), st.integers()),
        "fence_margin_m": st.floats(-5, 600, allow_nan=False),
        "speed_m_s": st.one_of(st.floats(-1, 30, allow_nan=False), st.just(0.01)),
        "altitude_m": st.floats(0, 200, allow_nan=False),
        "endurance_min": st.floats(0.1, 200, allow_nan=False),
        "pattern": st.sampled_from(["survey", "shoreline", "corridor", "spiral"]),
        "duplicate": st.sampled_from(["patrol", "launch", "id"]),
        "stem": st.text(
            alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=["Cs"]),
            min_size=1,
            max_size=40,
        ).filter(lambda s: s not in (".", "..")),
    },
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mutation=MUTATIONS)
def test_mutated_key_water_files_plan_or_fail_in_one_line(
    mutation: dict, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    doc = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    if "id" in mutation:
        doc["id"] = mutation["id"]
    for key in ("fence_margin_m", "speed_m_s", "altitude_m", "pattern"):
        if key in mutation:
            doc["patrol"][key] = mutation[key]
    if "endurance_min" in mutation:
        doc.setdefault("vehicle", {})["endurance_min"] = mutation["endurance_min"]
    text = yaml.safe_dump(doc, allow_unicode=True)
    if "duplicate" in mutation:
        text += f"{mutation['duplicate']}: {{}}\n"
    stem = mutation.get("stem", "lake")
    try:
        path = folder / f"{stem}.yaml"
        path.write_text(text, encoding="utf-8")
    except OSError:
        return  # a name this file system refuses
    capsys.readouterr()
    code = cli.run(["plan", str(path), "--out", str(folder / "out")])
    err = capsys.readouterr().err
    assert code in (0, 1), (mutation, err)
    assert "internal error" not in err
    if code == 1:
        first = err.splitlines()[0]
        # The message is one line: whitespace in it (even a file name's) is collapsed.
        assert first.startswith(" ".join(f"error: {path}".split())), (mutation, err)

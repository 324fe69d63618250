"""docs/environment.md lists every setting of julia.settings.Settings, with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from julia.settings import Settings

DOC = Path(__file__).parents[2] / "docs" / "environment.md"
UNSET = "(unset)"


def _table() -> dict[str, str]:
    """Variable -> default cell of the "Every setting" table (rows whose first cell is a `NAME`)."""
    text = DOC.read_text(encoding="utf-8").split("## Every setting", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and re.fullmatch(r"`[A-Z0-9_]+`", cells[0]):
            name = cells[0].strip("`")
            assert name not in rows, f"{name} listed twice"
            rows[name] = cells[2].strip("`")
    return rows


def _default(name: str) -> str:
    default = Settings.model_fields[name.lower()].default
    return UNSET if default is None else str(default)


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = set(_table())
    fields = {name.upper() for name in Settings.model_fields}
    assert documented == fields, (
        f"missing from docs/environment.md: {sorted(fields - documented)}; "
        f"documented but not in Settings: {sorted(documented - fields)}"
    )


def test_documented_defaults_are_the_real_ones() -> None:
    wrong = {name: (cell, _default(name)) for name, cell in _table().items() if cell != _default(name)}
    assert not wrong, f"docs/environment.md default vs Settings default: {wrong}"


def test_required_settings_of_each_command_are_documented() -> None:
    """The "Who requires what" table names what each command's Settings.require asks for."""
    from julia.commands import pause, serve, worker

    section = DOC.read_text(encoding="utf-8").split("## Who requires what", 1)[1].split("\n## ", 1)[0]
    lines = {
        cmd: next(line for line in section.splitlines() if f"`julia {cmd}" in line)
        for cmd in ("serve", "worker", "pause-sending")
    }
    for name in worker.REQUIRED:
        assert f"`{name.upper()}`" in lines["worker"]
    assert "`EVOLUTION_API_KEY`" in lines["serve"]
    assert "`REDIS_URL`" in lines["pause-sending"]
    for module in (pause, serve, worker):
        for asked in re.findall(r"require\(([^)]*)\)", Path(module.__file__ or "").read_text()):
            for name in re.findall(r'"([a-z_]+)"', asked):
                assert f"`{name.upper()}`" in section, f"{module.__name__} requires {name}"

"""`./nox`, the README's first word, on a stock Debian/Ubuntu python3: its pip refuses to install
(PEP 668 "externally-managed-environment") and `python3 -m venv` fails (ensurepip ships apart, in
python3-venv). The stand-in is this machine's Python, laid out again with an EXTERNALLY-MANAGED marker in
its stdlib and without ensurepip: what pip and venv check, found where they look."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def debian_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A python3 whose stdlib says it is externally managed and which has no ensurepip."""
    prefix = tmp_path_factory.mktemp("debian-python")
    stdlib = Path(sysconfig.get_path("stdlib"))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (prefix / "bin").mkdir()
    shutil.copy2(os.path.realpath(sys.executable), prefix / "bin" / version)
    (prefix / "bin" / "python3").symlink_to(version)
    # A shared-library build finds libpython beside its prefix's lib/ when its rpath is relative.
    library = Path(str(sysconfig.get_config_var("LIBDIR"))) / str(sysconfig.get_config_var("LDLIBRARY"))
    if library.is_file():
        (prefix / "lib").mkdir()
        (prefix / "lib" / library.name).symlink_to(library)
    (prefix / "lib" / version).mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name not in ("ensurepip", "EXTERNALLY-MANAGED"):
            (prefix / "lib" / version / entry.name).symlink_to(entry)
    (prefix / "lib" / version / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=managed by the system (a test stand-in for Debian's python3)\n"
    )
    return prefix / "bin"


def run(args: list[str], cwd: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for name in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH"):
        env.pop(name, None)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_stand_in_refuses_as_debian_does(debian_python: Path, tmp_path: Path) -> None:
    pip = run(["python3", "-m", "pip", "install", "nox"], tmp_path, debian_python)
    assert pip.returncode != 0
    assert "externally-managed-environment" in pip.stderr
    venv = run(["python3", "-m", "venv", str(tmp_path / "v")], tmp_path, debian_python)
    assert venv.returncode != 0
    assert "ensurepip" in venv.stderr + venv.stdout


def test_dot_slash_nox_works_there(debian_python: Path, tmp_path: Path) -> None:
    shutil.copy2(ROOT / "nox", tmp_path / "nox")
    (tmp_path / "noxfile.py").write_text(
        'import nox\n\n\n@nox.session\ndef hello(session: nox.Session) -> None:\n    """says hello"""\n'
    )
    first = run(["./nox", "--list"], tmp_path, debian_python)
    assert first.returncode == 0, first.stderr
    assert "hello" in first.stdout
    assert (tmp_path / ".venv" / "bin" / "nox").exists()
    again = run(["./nox", "--list"], tmp_path, debian_python)  # nox is there now: no second install
    assert again.returncode == 0, again.stderr
    assert "pip" not in again.stderr

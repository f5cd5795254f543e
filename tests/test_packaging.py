"""`make demo` installs the project without a packaging warning: the causes, as they were found
(``rm -rf .venv; make demo 2>&1 | grep -i warn``), stay fixed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_is_an_spdx_expression_for_a_setuptools_that_reads_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert isinstance(project["project"]["license"], str)  # the table form is deprecated (setuptools 77)
    (setuptools,) = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert re.fullmatch(r"setuptools>=(\d+)", setuptools) and int(setuptools.split(">=")[1]) >= 77


def test_make_demo_installs_the_project_without_an_editable_install_and_without_pips_notice() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("$(VENV)/.installed:", 1)[1].split("\n\n", 1)[0]
    assert "install --quiet ." in recipe and " -e " not in recipe  # setuptools warns on editable installs
    assert "PIP    := $(BIN)/python -m pip --disable-pip-version-check" in makefile
    assert "$(BIN)/python -m pip install" not in makefile  # every pip call goes through $(PIP)

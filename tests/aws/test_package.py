"""The Lambda package that ``infra/aws/lambda/Makefile`` builds for ``sam build``: it carries bytecode
for the runtime's Python, since Lambda's file system is read-only and a module without it is
compiled from source at every cold start (bench/lambda_package.py: about 1 s instead of 0.4 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.interpreters import python

ROOT = Path(__file__).resolve().parents[2]
#: template.yaml's Runtime.
RUNTIME = "3.12"
#: importlib's flags word of a hash-based pyc whose source is never checked (PEP 552).
UNCHECKED_HASH = 0b01


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    interpreter = python(RUNTIME)
    if interpreter is None:
        pytest.skip(f"no Python {RUNTIME} on this machine to compile the package with")
    folder = tmp_path_factory.mktemp("package")
    subprocess.run(["make", "-s", "-f", "infra/aws/lambda/Makefile", "build-ResponderFunction",
                    f"ARTIFACTS_DIR={folder}", f"PYTHON={sys.executable}", f"LAMBDA_INTERPRETER={interpreter}"],
                   cwd=ROOT, check=True, capture_output=True)
    return folder


@pytest.mark.parametrize("top", ["functions", "shared", "pydantic", "boto3", "botocore", "aws_lambda_powertools"])
def test_every_module_has_bytecode_the_runtime_uses_whatever_the_timestamps(package: Path, top: str) -> None:
    sources = sorted((package / top).rglob("*.py"))
    assert sources
    tag = f"cpython-{RUNTIME.replace('.', '')}"
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert compiled.is_file(), f"{source.relative_to(package)} has no {tag} bytecode"
        assert int.from_bytes(compiled.read_bytes()[4:8], "little") == UNCHECKED_HASH, compiled


def test_no_bytecode_of_another_python_is_packaged(package: Path) -> None:
    tag = f"cpython-{RUNTIME.replace('.', '')}"
    assert not [p for p in package.rglob("*.pyc") if f".{tag}." not in p.name]


def test_the_package_holds_the_project_and_its_aws_dependencies_only(package: Path) -> None:
    assert (package / "functions" / "aws" / "handler.py").is_file()
    assert (package / "shared" / "catalog" / "compiled-aws.pickle").is_file()
    assert not (package / "tests").exists() and not (package / "node_modules").exists()
    assert not list(package.glob("azure*"))

"""The Lambda package that ``infra/aws/lambda/Makefile`` builds for ``sam build``: it carries bytecode
for the runtime's Python, since Lambda's file system is read-only and a module without it is
compiled from source at every cold start (bench/lambda_package.py: about 1 s instead of 0.4 s);
and, built for this machine's processor instead of the function's arm64, it handles a real failure
on the runtime's Python with the dependencies it resolved itself, which need not be the versions
the rest of the tests run with."""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.aws.conftest import HOME_ACCOUNT, TracedRun, Webhook
from tests.support.interpreters import python
from tests.support.xray import deliveries, documents

ROOT = Path(__file__).resolve().parents[2]
#: template.yaml's Runtime.
RUNTIME = "3.12"
#: importlib's flags word of a hash-based pyc whose source is never checked (PEP 552).
UNCHECKED_HASH = 0b01


def _runtime() -> str:
    interpreter = python(RUNTIME)
    if interpreter is None:
        pytest.skip(f"no Python {RUNTIME} on this machine to compile the package with")
    return interpreter


def _build(folder: Path, interpreter: str, *platform_setting: str) -> Path:
    subprocess.run(["make", "-s", "-f", "infra/aws/lambda/Makefile", "build-ResponderFunction",
                    f"ARTIFACTS_DIR={folder}", f"PYTHON={sys.executable}", f"LAMBDA_INTERPRETER={interpreter}",
                    *platform_setting], cwd=ROOT, check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as deployed (the Makefile's platform: Linux on arm64)."""
    return _build(tmp_path_factory.mktemp("package"), _runtime())


@pytest.fixture(scope="module")
def package_here(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The runtime's Python and the package built for this machine's processor, so that it runs here."""
    interpreter = _runtime()
    machine = platform.machine()
    return interpreter, _build(tmp_path_factory.mktemp("package-here"), interpreter,
                               f"LAMBDA_PLATFORM=manylinux2014_{machine}")


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


def test_the_package_handles_a_real_failure_on_the_runtimes_python_with_its_own_dependencies(
        package_here: tuple[str, Path], traced_failure: Callable[..., TracedRun], webhook: tuple[Webhook, str]) -> None:
    interpreter, folder = package_here
    hook, _ = webhook
    run = traced_failure(interpreter=interpreter, package=folder)

    assert len(hook.posts) == 1  # decoded through STS, read through Backup, posted to Slack
    posted = str(hook.posts[0]["body"])
    assert "iam:PassRole" in posted and f"arn:aws:iam::{HOME_ACCOUNT}:role/" in posted
    [delivery] = deliveries(documents(run.datagrams))  # the packaged X-Ray SDK traced it
    assert delivery["http"] == {"response": {"status": 200}}

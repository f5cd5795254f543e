"""The compiled catalog (``shared/catalog/compiled.pickle``): current, the same as the YAML, and
never used when stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared.catalog import COMPILED, compile_catalog, default_catalog, load_catalog, load_compiled, source_key
from shared.classify import Classifier
from shared.models import Failure

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "compile_catalog.py"


def test_the_committed_compiled_catalog_is_current() -> None:
    assert load_compiled() is not None, "stale: run .venv/bin/python tools/compile_catalog.py"


def test_the_compiled_catalog_holds_the_same_rules_and_knowledge_as_the_yaml() -> None:
    compiled, read = load_compiled(), load_catalog()
    assert compiled is not None
    assert compiled.rules == read.rules
    assert compiled.sources == read.sources
    assert {c: len(i.messages.patterns) for c, i in compiled.index.items()} == \
        {c: len(i.messages.patterns) for c, i in read.index.items()}
    assert compiled.knowledge.spell("azure", "usererrormsimissingpermissions") == "UserErrorMSIMissingPermissions"


def test_the_compiled_catalog_classifies_every_example_as_the_yaml_does() -> None:
    compiled, read = load_compiled(), load_catalog()
    assert compiled is not None
    by_compiled, by_yaml = Classifier(compiled), Classifier(read)
    for rule in read.rules:
        for example in rule.examples:
            failure = Failure(cloud=rule.cause.split(".")[0], job_type=example.job_type, message=example.message,
                              code=example.code, resource_type=example.resource_type)
            assert by_compiled.classify(failure) == by_yaml.classify(failure), rule.id


def test_default_catalog_is_the_compiled_one_when_current() -> None:
    assert default_catalog().rules == load_catalog().rules


def test_a_compiled_catalog_of_other_sources_is_not_used(tmp_path: Path) -> None:
    stale = tmp_path / "compiled.pickle"
    stale.write_bytes(compile_catalog(load_catalog(), "a key of other YAML files"))
    assert load_compiled(stale) is None
    stale.write_bytes(b"not a pickle")
    assert load_compiled(stale) is None
    assert load_compiled(tmp_path / "missing.pickle") is None


def test_the_key_changes_with_any_catalog_file(tmp_path: Path) -> None:
    for path in sorted(COMPILED.parent.glob("*.yaml")) + sorted(COMPILED.parent.glob("*.json")):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert source_key(tmp_path) == source_key()
    first = sorted(tmp_path.glob("*.yaml"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    assert source_key(tmp_path) != source_key()


def test_check_mode_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path: Path) -> None:
    output = tmp_path / "compiled.pickle"
    subprocess.run([sys.executable, str(TOOL), "--output", str(output)], check=True, capture_output=True)
    fresh = subprocess.run([sys.executable, str(TOOL), "--check", "--output", str(output)], capture_output=True)
    assert fresh.returncode == 0, fresh.stderr
    output.write_bytes(compile_catalog(load_catalog(), "stale"))
    stale = subprocess.run([sys.executable, str(TOOL), "--check", "--output", str(output)],
                           capture_output=True, text=True)
    assert stale.returncode == 1 and "compile_catalog.py" in stale.stderr

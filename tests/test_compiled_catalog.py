"""The compiled catalogs (``shared/catalog/compiled*.pickle``, both clouds and each alone): current,
the same as the YAML, and never used when stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.catalog import (
    CLOUDS,
    COMPILED,
    COMPILED_CLOUDS,
    Catalog,
    CatalogError,
    compile_catalog,
    compiled_path,
    default_catalog,
    load_catalog,
    load_compiled,
    source_key,
)
from shared.classify import Classifier
from shared.models import Failure
from shared.parse import EventError
from shared.pipeline import Pipeline
from tests.conftest import load_event

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "compile_catalog.py"


def _examples(catalog: Catalog) -> list[tuple[str, Failure]]:
    return [(rule.id, Failure(cloud=rule.cause.split(".")[0], job_type=example.job_type, message=example.message,
                              code=example.code, resource_type=example.resource_type))
            for rule in catalog.rules for example in rule.examples]


@pytest.mark.parametrize("clouds", COMPILED_CLOUDS, ids="+".join)
def test_the_committed_compiled_catalogs_are_current(clouds: tuple[str, ...]) -> None:
    assert load_compiled(compiled_path(clouds)) is not None, "stale: run .venv/bin/python tools/compile_catalog.py"


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
    for rule_id, failure in _examples(read):
        assert by_compiled.classify(failure) == by_yaml.classify(failure), rule_id


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_catalog_of_one_cloud_holds_its_rules_and_knowledge_and_classifies_as_both_do(cloud: str) -> None:
    both, alone = default_catalog(), default_catalog((cloud,))
    assert alone.clouds == (cloud,) and set(alone.index) == {cloud}
    assert alone.rules == tuple(r for r in both.rules if r.cause.startswith(cloud + "."))
    documented = {"aws": "AccessDeniedException", "azure": "UserErrorMSIMissingPermissions"}
    other = next(c for c in CLOUDS if c != cloud)
    assert documented[cloud] in alone.knowledge.codebooks[cloud]
    assert documented[other] in both.knowledge.codebooks[other]
    assert documented[other] not in alone.knowledge.codebooks[other]
    assert alone.knowledge.entries(other, documented[other]) == []
    by_both, by_alone = Classifier(both), Classifier(alone)
    for rule_id, failure in _examples(both):
        if failure.cloud == cloud:
            assert by_alone.classify(failure) == by_both.classify(failure), rule_id
            assert by_alone.explain(failure) == by_both.explain(failure), rule_id


@pytest.mark.parametrize(("cloud", "event"), [("aws", "azure/blob-backup-usererrormissingrequiredpermissions.json"),
                                              ("azure", "aws/seed004-restore-ec2-not-authorized-encoded.json")])
def test_an_event_of_the_other_cloud_is_refused_by_a_one_cloud_pipeline(cloud: str, event: str) -> None:
    raw = load_event(event)
    Pipeline().parse(raw)  # both clouds: parsed
    with pytest.raises(EventError, match=f"handles {cloud} failures only"):
        Pipeline(Classifier(default_catalog((cloud,)))).parse(raw)


def test_a_catalog_of_an_unknown_cloud_is_refused() -> None:
    with pytest.raises(CatalogError, match="unknown cloud 'gcp'"):
        load_catalog(clouds=("aws", "gcp"))


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


def test_check_mode_fails_on_a_stale_file_and_passes_on_fresh_ones(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(TOOL), "--into", str(tmp_path)], check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(compiled_path(c, tmp_path).name for c in COMPILED_CLOUDS)
    fresh = subprocess.run([sys.executable, str(TOOL), "--check", "--into", str(tmp_path)], capture_output=True)
    assert fresh.returncode == 0, fresh.stderr
    one = compiled_path(("aws",), tmp_path)
    one.write_bytes(compile_catalog(load_catalog(clouds=("aws",)), "stale"))
    stale = subprocess.run([sys.executable, str(TOOL), "--check", "--into", str(tmp_path)],
                           capture_output=True, text=True)
    assert stale.returncode == 1 and f"{one} is stale" in stale.stderr and "compiled.pickle " not in stale.stderr

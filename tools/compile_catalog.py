"""Compile the error catalog: read, validate and index the YAML once, and write the result beside
it (``shared/catalog/compiled.pickle`` for both clouds, ``compiled-aws.pickle`` and
``compiled-azure.pickle`` for each alone), which ``default_catalog`` then loads in a few
milliseconds on every cold start instead of a few hundred. Run it after changing the catalog or its code.

    .venv/bin/python tools/compile_catalog.py            # write them into shared/catalog/
    .venv/bin/python tools/compile_catalog.py --check    # exit 1 when a committed file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.catalog import (
    CATALOG_DIR,
    COMPILED_CLOUDS,
    compile_catalog,
    compiled_path,
    load_catalog,
    load_compiled,
    source_key,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when a compiled catalog is stale")
    parser.add_argument("--into", type=Path, default=CATALOG_DIR, help="the folder of the compiled files")
    args = parser.parse_args(argv)
    key = source_key()
    paths = {clouds: compiled_path(clouds, args.into) for clouds in COMPILED_CLOUDS}
    if args.check:
        stale = [path for clouds, path in paths.items() if load_compiled(path, key) is None]
        for path in stale:
            print(f"{path} is stale: run .venv/bin/python tools/compile_catalog.py", file=sys.stderr)
        return 1 if stale else 0
    for clouds, path in paths.items():
        path.write_bytes(compile_catalog(load_catalog(clouds=clouds), key))
        print(f"wrote {path} ({path.stat().st_size} bytes, key {key[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

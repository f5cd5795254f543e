"""Compile the error catalog: read, validate and index the YAML once, and write the result beside
it (``shared/catalog/compiled.pickle``), which ``default_catalog`` then loads in a few milliseconds
on every cold start instead of a few hundred. Run it after changing the catalog or its code.

    .venv/bin/python tools/compile_catalog.py            # write shared/catalog/compiled.pickle
    .venv/bin/python tools/compile_catalog.py --check    # exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.catalog import COMPILED, compile_catalog, load_catalog, load_compiled, source_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when the compiled catalog is stale")
    parser.add_argument("--output", type=Path, default=COMPILED)
    args = parser.parse_args(argv)
    key = source_key()
    if args.check:
        if load_compiled(args.output, key) is None:
            print(f"{args.output} is stale: run .venv/bin/python tools/compile_catalog.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_bytes(compile_catalog(load_catalog(), key))
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes, key {key[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

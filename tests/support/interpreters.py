"""Finding a Python of a given version on this machine (the Lambda runtime's, to build its package)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def python(version: str) -> str | None:
    """A ``python<version>`` that runs and is that version (a pyenv shim may exist and refuse to)."""
    candidates = [shutil.which(f"python{version}"),
                  *map(str, sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}")))]
    for candidate in filter(None, candidates):
        done = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None

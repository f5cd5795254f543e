"""The Lambda handler in a fresh interpreter, as a new container runs it.

``python -P -m tests.support.lambda_run EVENT.json`` hands the event to ``functions.aws.handler``
with a Lambda context and prints the handler's answer as JSON. Nothing here needs pytest or the
test environment: it also runs on the runtime's Python against the built package, whose own
modules come first on the path (tests/aws/test_package.py). ``run_handler`` starts it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOME_ACCOUNT = "111122223333"
REGION = "us-west-2"


class LambdaContext:
    """What Powertools reads from the Lambda context."""

    def __init__(self, account: str = HOME_ACCOUNT, name: str = "backup-responder") -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{account}:function:{name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "2026/11/23/[$LATEST]0"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def run_handler(event_file: Path, env: Mapping[str, str], interpreter: str = sys.executable,
                package: Path | None = None) -> Any:
    """The handler's answer to the event in ``event_file``, from a fresh ``interpreter`` with only
    ``env`` (and the path): the repository's modules, or ``package``'s before them (the tests'
    own modules are not in a package)."""
    path = [str(package), str(ROOT)] if package is not None else [str(ROOT)]
    done = subprocess.run([interpreter, "-P", "-m", "tests.support.lambda_run", str(event_file)], cwd=ROOT,
                          env={**env, "PYTHONPATH": ":".join(path)}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"the handler failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    import functions.aws.handler as handler

    event = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(handler.lambda_handler(event, LambdaContext())))


if __name__ == "__main__":
    main()

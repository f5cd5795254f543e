"""Fake Slack, Teams, Jira, ServiceNow, PagerDuty and GitHub services on the one fake HTTP server
(tests/support/http_server.py): they accept the documented request shapes, answer as the services
do, can be told to fail (429 with Retry-After, 5xx, answers held back) and record what they received."""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import load_event
from tests.support.clock import FakeClock
from tests.support.http_server import Answer, FakeHttpServer, Gate, Reply, Request

Received = Request


def _json(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(status, data, headers)


class FakeServices:
    """One HTTP server; the first path segment picks the service (/slack, /slackapi, /teams, /jira,
    /sn, /pd, /gh)."""

    # The services' documented limits, enforced here so that tests prove we stay within them.
    SLACK_MAX_BLOCKS = 50
    SLACK_MAX_SECTION = 3000
    SLACK_MAX_HEADER = 150
    TEAMS_MAX_BYTES = 28 * 1024

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        #: Slack: at most one message per second per channel (on ``clock``), else 429.
        self.slack_rate_limit = False
        self._last_post: dict[str, float] = {}
        self._counter = 0
        self.issues: dict[str, dict[str, Any]] = {}
        self.server = FakeHttpServer(self._answer)
        self.url = self.server.url
        self.received = self.server.requests

    def close(self) -> None:
        self.server.close()

    # --- test controls -----------------------------------------------------------------------

    def fail(self, prefix: str, *answers: Answer) -> None:
        """The next requests whose path starts with ``prefix`` get these answers, in order."""
        self.server.script(prefix, *answers)

    def hold(self, prefix: str) -> Gate:
        """Answers to ``prefix`` wait until the gate is opened: a slow service, on no clock."""
        return self.server.hold(prefix)

    def to(self, prefix: str) -> list[Request]:
        return self.server.to(prefix)

    @property
    def rate_limited(self) -> int:
        """How many requests were answered 429 (scripted, or Slack's pacing)."""
        return sum(1 for r in self.received if r.status == 429)

    def next_id(self) -> int:
        with self.lock:
            self._counter += 1
            return self._counter

    # --- the services --------------------------------------------------------------------------

    def delivered(self, prefix: str) -> list[Request]:
        """The requests to ``prefix`` that the service accepted (2xx)."""
        return [r for r in self.to(prefix) if 200 <= r.status < 300 and r.method in ("POST", "PATCH")]

    def _answer(self, request: Request) -> Answer:
        service = request.path.split("/")[1]
        handler: Callable[[str, str, dict[str, str], bytes], Answer] = getattr(self, "_" + service, self._missing)
        return handler(request.method, request.path, request.headers, request.body)

    def _missing(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        return Reply(404, {}, b"not found")

    def _paced(self, channel: str) -> Answer | None:
        if not self.slack_rate_limit or self.clock is None:
            return None
        with self.lock:
            now = self.clock.monotonic()
            last = self._last_post.get(channel)
            if last is not None and now - last < 1.0:
                return 429, {"Retry-After": "1"}, b"rate_limited"
            self._last_post[channel] = now
        return None

    def _check_blocks(self, message: dict[str, Any]) -> str | None:
        blocks = message.get("blocks") or []
        if not message.get("text"):
            return "no_text"
        if len(blocks) > self.SLACK_MAX_BLOCKS:
            return "invalid_blocks"
        for block in blocks:
            if block["type"] == "header" and len(block["text"]["text"]) > self.SLACK_MAX_HEADER:
                return "invalid_blocks"
            if block["type"] == "section" and len(block.get("text", {}).get("text", "")) > self.SLACK_MAX_SECTION:
                return "invalid_blocks"
        return None

    def _slack(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """An incoming webhook: 200 ``ok``, or 400 ``invalid_payload`` / 404 ``channel_not_found``."""
        if path.endswith("/gone"):
            return 404, {"Content-Type": "text/plain"}, b"channel_not_found"
        if (limited := self._paced(path)) is not None:
            return limited
        try:
            message = json.loads(body)
        except ValueError:
            return 400, {}, b"invalid_payload"
        if self._check_blocks(message):
            return 400, {}, b"invalid_blocks"
        return 200, {"Content-Type": "text/plain"}, b"ok"

    def _slackapi(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """The Web API: chat.postMessage and chat.update with a bot token."""
        if headers.get("Authorization") != "Bearer xoxb-test-token":
            return _json(200, {"ok": False, "error": "invalid_auth"})
        args = json.loads(body or b"{}")
        api = path.rsplit("/", 1)[-1]
        channel = args.get("channel")
        if channel != "C0TEST":
            return _json(200, {"ok": False, "error": "channel_not_found"})
        if (limited := self._paced(channel)) is not None:
            status, hdrs, _ = limited
            return _json(status, {"ok": False, "error": "ratelimited"}, hdrs)
        if (error := self._check_blocks(args)) is not None:
            return _json(200, {"ok": False, "error": error})
        if api == "chat.postMessage":
            ts = f"1700000000.{self.next_id():06d}"
            return _json(200, {"ok": True, "channel": channel, "ts": ts, "message": {"text": args["text"]}})
        if api == "chat.update":
            if not args.get("ts"):
                return _json(200, {"ok": False, "error": "message_not_found"})
            return _json(200, {"ok": True, "channel": channel, "ts": args["ts"]})
        return _json(200, {"ok": False, "error": "unknown_method"})

    def _teams(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """A Workflows webhook: 202 Accepted; 413 over 28 KB; 400 for another shape."""
        if len(body) > self.TEAMS_MAX_BYTES:
            return _json(413, {"error": {"code": "RequestEntityTooLarge", "message": "too large"}})
        message = json.loads(body)
        attachments = message.get("attachments") or []
        if message.get("type") != "message" or not attachments or \
                attachments[0].get("contentType") != "application/vnd.microsoft.card.adaptive":
            return _json(400, {"error": {"code": "InvalidRequestContent"}})
        return 202, {}, b""

    def _jira(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Jira Cloud REST v3 with basic auth (email:api_token)."""
        expected = "Basic " + base64.b64encode(b"ops@example.com:jira-token").decode()
        if headers.get("Authorization") != expected:
            return _json(401, {"errorMessages": ["Unauthorized"]})
        api = path.removeprefix("/jira")
        if method == "POST" and api == "/rest/api/3/issue":
            fields = json.loads(body)["fields"]
            errors = {}
            if len(fields.get("summary", "")) > 255 or not fields.get("summary"):
                errors["summary"] = "Summary must be less than 255 characters."
            if fields.get("description", {}).get("type") != "doc":
                errors["description"] = "Operation value must be an Atlassian Document"
            if errors:
                return _json(400, {"errorMessages": [], "errors": errors})
            number = self.next_id()
            key = f"{fields['project']['key']}-{number}"
            self.issues[key] = {"fields": copy.deepcopy(fields), "comments": [], "status": "To Do"}
            return _json(201, {"id": str(10000 + number), "key": key, "self": f"{self.url}/jira/rest/api/3/issue/{key}"})
        parts = api.split("/")
        if len(parts) >= 7 and parts[5] in self.issues:
            key = parts[5]
            if api.endswith("/comment") and method == "POST":
                self.issues[key]["comments"].append(json.loads(body)["body"])
                return _json(201, {"id": str(self.next_id())})
            if api.endswith("/transitions") and method == "GET":
                return _json(200, {"transitions": [{"id": "21", "name": "In Progress", "to": {"name": "In Progress"}},
                                                   {"id": "31", "name": "Done", "to": {"name": "Done"}}]})
            if api.endswith("/transitions") and method == "POST":
                if json.loads(body).get("transition", {}).get("id") != "31":
                    return _json(400, {"errorMessages": ["bad transition"]})
                self.issues[key]["status"] = "Done"
                return 204, {}, b""
        return _json(404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]})

    def _sn(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """ServiceNow Table API (incident)."""
        expected = "Basic " + base64.b64encode(b"svc-backup:sn-password").decode()
        if headers.get("Authorization") != expected:
            return _json(401, {"error": {"message": "User Not Authenticated"}, "status": "failure"})
        api = path.removeprefix("/sn").split("?")[0]
        if method == "POST" and api == "/api/now/table/incident":
            record = json.loads(body)
            if len(record.get("short_description", "")) > 160:
                return _json(400, {"error": {"message": "short_description too long"}, "status": "failure"})
            number = self.next_id()
            sys_id = f"{number:032x}"
            self.issues[sys_id] = {**record, "number": f"INC{number:07d}", "state": "1", "work_notes_log": []}
            return _json(201, {"result": {"sys_id": sys_id, "number": f"INC{number:07d}"}})
        if method == "PATCH" and api.startswith("/api/now/table/incident/"):
            sys_id = api.rsplit("/", 1)[-1]
            if sys_id not in self.issues:
                return _json(404, {"error": {"message": "No Record found"}, "status": "failure"})
            update = json.loads(body)
            if "work_notes" in update:
                self.issues[sys_id]["work_notes_log"].append(update["work_notes"])
            self.issues[sys_id].update({k: v for k, v in update.items() if k != "work_notes"})
            return _json(200, {"result": {"sys_id": sys_id, "number": self.issues[sys_id]["number"]}})
        return _json(400, {"error": {"message": "Invalid table"}, "status": "failure"})

    def _pd(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """PagerDuty Events API v2: 202 with the dedup_key, 400 for an invalid event."""
        event = json.loads(body)
        problems = []
        if event.get("routing_key") != "R0UTINGKEY0000000000000000000000":
            problems.append("'routing_key' is invalid")
        if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            problems.append("'event_action' is invalid")
        if event.get("event_action") == "trigger":
            payload = event.get("payload") or {}
            for required in ("summary", "source", "severity"):
                if not payload.get(required):
                    problems.append(f"'payload.{required}' is missing")
            if len(payload.get("summary", "")) > 1024:
                problems.append("'payload.summary' is too long")
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                problems.append("'payload.severity' is invalid")
        elif not event.get("dedup_key"):
            problems.append("'dedup_key' is missing")
        if problems:
            return _json(400, {"status": "invalid event", "message": "Event object is invalid", "errors": problems})
        key = event.get("dedup_key") or f"generated-{self.next_id()}"
        state = self.issues.setdefault("pd:" + key, {"triggers": 0, "status": "triggered"})
        if event["event_action"] == "trigger":
            state["triggers"] += 1
            state["status"] = "triggered"
        else:
            state["status"] = "resolved"
        return _json(202, {"status": "success", "message": "Event processed", "dedup_key": key})

    def _gh(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """GitHub REST: issues, comments, close."""
        if headers.get("Authorization") != "Bearer ghp-test-token" or not headers.get("User-Agent"):
            return _json(401, {"message": "Bad credentials"})
        api = path.removeprefix("/gh")
        parts = api.split("/")
        if method == "POST" and api == "/repos/acme/backup-ops/issues":
            issue = json.loads(body)
            if not issue.get("title") or len(issue.get("body", "")) > 65536:
                return _json(422, {"message": "Validation Failed"})
            number = self.next_id()
            self.issues[f"gh:{number}"] = {**issue, "comments": [], "state": "open"}
            return _json(201, {"number": number, "html_url": f"https://github.com/acme/backup-ops/issues/{number}"})
        if len(parts) >= 6 and f"gh:{parts[5]}" in self.issues:
            issue = self.issues[f"gh:{parts[5]}"]
            if method == "POST" and api.endswith("/comments"):
                issue["comments"].append(json.loads(body)["body"])
                return _json(201, {"id": self.next_id()})
            if method == "PATCH":
                issue.update(json.loads(body))
                return _json(200, {"number": int(parts[5]), "state": issue["state"]})
        return _json(404, {"message": "Not Found"})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(clock: FakeClock) -> Iterator[FakeServices]:
    fake = FakeServices(clock)
    yield fake
    fake.close()


def config_for(services: FakeServices, **extra: Any) -> dict[str, Any]:
    """A configuration with one sink of each kind, all pointing at the fake services."""
    url = services.url
    config: dict[str, Any] = {
        "sinks": {
            "slack": {"type": "slack", "webhook_url": f"{url}/slack/T000/B000/secret-hook"},
            "slack-api": {"type": "slack", "token": "xoxb-test-token", "channel": "C0TEST",
                          "api_url": f"{url}/slackapi/"},
            "teams": {"type": "teams", "webhook_url": f"{url}/teams/workflows/secret-sig"},
            "jira": {"type": "jira", "url": f"{url}/jira", "project": "OPS", "email": "ops@example.com",
                     "api_token": "jira-token"},
            "servicenow": {"type": "servicenow", "instance_url": f"{url}/sn", "username": "svc-backup",
                           "password": "sn-password"},
            "pagerduty": {"type": "pagerduty", "routing_key": "R0UTINGKEY0000000000000000000000",
                          "events_url": f"{url}/pd/v2/enqueue"},
            "github": {"type": "github", "repo": "acme/backup-ops", "token": "ghp-test-token",
                       "api_url": f"{url}/gh"},
        },
        "retry": {"max_attempts": 5, "budget": "60s", "timeout": "2s"},
    }
    config.update(extra)
    return config


BASE_FAILURE = "aws/seed003-copy-source-kms-key-access.json"
BASE_SUCCESS = "aws/copy-job-completed.json"


def failure_event(n: int = 0, resource: str | None = None, event_id: str | None = None,
                  message: str | None = None, account: str = "111122223333") -> dict[str, Any]:
    """The KMS key-access copy failure, for resource ``n`` (or ``resource``), a new event each call."""
    event = load_event(BASE_FAILURE)
    event["id"] = event_id or f"evt-{n}-{time.monotonic_ns()}"
    event["account"] = account
    detail = event["detail"]
    detail["copyJobId"] = f"COPY-{n:05d}-{time.monotonic_ns()}"
    detail["resourceArn"] = resource or f"arn:aws:rds:us-west-2:{account}:db:orders-{n:04d}"
    if message is not None:
        detail["statusMessage"] = message
    return event


def success_event(resource: str, account: str = "111122223333") -> dict[str, Any]:
    """A completed copy job of ``resource`` (the recovery of an earlier failure)."""
    event = load_event(BASE_SUCCESS)
    event["id"] = f"ok-{time.monotonic_ns()}"
    event["account"] = account
    event["detail"]["resourceArn"] = resource
    event["detail"]["copyJobId"] = f"OK-{time.monotonic_ns()}"
    return event


def outcome_of(event: dict[str, Any]) -> Any:
    from shared.pipeline import Pipeline

    return Pipeline().process(event)


HOSTILE = ("<!channel> <!here> @channel <https://evil.example/login|Click to fix> & "
           "[click](https://evil.example) **bold** <at>Everyone</at> ``` `code` @org/team #123 <img src=x>")


def hostile_outcome(steps: int = 0, message_size: int = 0) -> Any:
    """A classified failure whose untrusted fields try to mention everyone and disguise links;
    with ``steps`` extra fix steps and a message of ``message_size`` characters when asked."""
    event = failure_event(1, resource=f"arn:aws:rds:us-west-2:111122223333:db:{HOSTILE}",
                          message="The source snapshot KMS key does not exist, is not enabled or you do not have "
                                  "permissions to access it. " + HOSTILE + ("x" * message_size))
    outcome = outcome_of(event)
    if steps and outcome.plan is not None:
        plan = outcome.plan.model_copy(update={"steps": [f"Step {i} {HOSTILE} " + "y" * 1500 for i in range(steps)],
                                               "title": "T" * 400})
        outcome = outcome.model_copy(update={"plan": plan})
    return outcome


def make_responder(services: FakeServices, clock: FakeClock, sinks: list[str] | None = None,
                   outbox: Any = None, **extra: Any) -> Any:
    """A responder wired to the fake services through a configuration, on the manual clock."""
    from shared.notify.config import parse_config
    from shared.settings import Settings
    from shared.state import MemoryStore
    from shared.wiring import build_responder

    raw = config_for(services, **extra)
    if sinks is not None:
        raw["sinks"] = {name: raw["sinks"][name] for name in sinks}
    settings = Settings(outbox=outbox)
    return build_responder(settings, state=MemoryStore(clock.time), clock=clock, config=parse_config(raw))

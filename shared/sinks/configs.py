"""shared.sinks.configs"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.sinks.github.config import GitHubSink
from shared.sinks.jira.config import JiraSink
from shared.sinks.local.config import OutboxSinkConfig
from shared.sinks.pagerduty.config import PagerDutySink
from shared.sinks.servicenow.config import ServiceNowSink
from shared.sinks.slack.config import SlackSink
from shared.sinks.teams.config import TeamsSink

SinkConfig = Annotated[SlackSink | TeamsSink | JiraSink | ServiceNowSink | PagerDutySink | GitHubSink
                       | OutboxSinkConfig, Field(discriminator="type")]


CHAT_TYPES = ("slack", "teams")

"""Delivery to Slack, Teams, Jira, ServiceNow, PagerDuty and GitHub: one file per service, each
limit a documented class constant; ``http`` paces, retries and keeps to the caller's deadline."""

from shared.delivery.base import Destination, GroupInfo, Notice, NoticeKind, Receipt
from shared.delivery.http import Deadline, ManualClock, Pacer, RetryPolicy, Sender, SystemClock, deadline_scope

__all__ = ["Deadline", "Destination", "GroupInfo", "ManualClock", "Notice", "NoticeKind", "Pacer", "Receipt",
           "RetryPolicy", "Sender", "SystemClock", "deadline_scope"]

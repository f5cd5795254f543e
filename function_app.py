"""The Azure Functions entry point (Python v2 programming model): defines ``app`` and registers the
blueprints from ``functions/azure``: the backup alerts (``/api/backup-alert``) and the chat approval
of planned fixes (``/api/remediation/slack``, ``/api/remediation/approve``). See docs/azure.md."""

import azure.functions as func

from functions.azure.approval import bp as approval_bp
from functions.azure.blueprint import bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)
app.register_functions(approval_bp)

"""The Azure Functions entry point (Python v2 programming model): defines ``app`` and registers the
backup-alert blueprint from ``functions/azure``. See docs/azure.md for the deployment."""

import azure.functions as func

from functions.azure.blueprint import bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)

"""The front ends' files (`web/`): the admin console, the widget and their client.

The widget is loaded by shops' pages as a module script, which browsers fetch with CORS:
its files (and the client it imports) are public and answered to any origin. They are
cached for a day and revalidated by ETag, so a shop picks up a new engine version within
a day without changing its embed code.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PUBLIC_PREFIXES = ("widget/", "client/")
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"


class WebFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if path.startswith(PUBLIC_PREFIXES) and response.status_code in (200, 304):
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Cache-Control"] = CACHE_CONTROL
        elif response.status_code in (200, 304):
            # The console's own pages: always revalidated, so staff see a new version at once.
            response.headers["Cache-Control"] = "no-cache"
        return response

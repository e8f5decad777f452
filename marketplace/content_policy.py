"""The Content-Security-Policy header on every response (settings.CONTENT_SECURITY_POLICY,
through django-csp), with the page's own WebSocket origin added to connect-src.

CSP Level 3 lets 'self' match ws:/wss: on the page's own host, but older Safari
versions do not, and the work page is useless without its socket: so the origin the
scripts connect to (ws[s]:// plus the Host the browser asked for, as
static/tasks/work.js and static/marketplace/live.js build it) is named outright.
The host comes from request.get_host(), which ALLOWED_HOSTS has already vetted."""

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseBase


def socket_origin(request: HttpRequest) -> str | None:
    try:
        host = request.get_host()
    except DisallowedHost:
        return None  # the 400 page opens no socket
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


class ContentPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        origin = socket_origin(request)
        if origin and not report_only:
            # A view's own csp_update (if any) is kept and the origin added to it.
            update = dict(parts.update or {})
            connect = update.get("connect-src") or []
            update["connect-src"] = [*([connect] if isinstance(connect, str) else connect), origin]
            parts.update = update
        return parts

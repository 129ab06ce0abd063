"""Browser origins (`scheme://host[:port]`), compared as browsers send them."""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(value: str) -> str | None:
    """`value` as a browser sends it in `Origin` (lower-case, no default port), or None
    when it is not a plain http(s) origin: a path, query, credentials, `null`..."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def request_origin(scheme: str, host: str | None) -> str | None:
    """The origin a request was addressed to (its scheme and `Host` header)."""
    return parse_origin(f"{scheme}://{host}") if host else None

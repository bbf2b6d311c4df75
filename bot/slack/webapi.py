"""The Web API client: slack-sdk's WebClient, keeping its connection to Slack open.

slack-sdk's client opens a new connection (a new TLS handshake, against slack.com) for every
call. ``KeepAliveClient`` keeps one connection per thread and host instead (whichever client
instance the thread uses), as browsers and urllib3 do. A connection the server closed while
it sat idle is noticed before it is used (its socket reads as closed), and one idle longer
than ``IDLE_SECONDS`` is not reused, so no request is sent into a dead connection. Errors
reach slack-sdk's retry handlers as urllib's do (an ``OSError`` while sending wrapped in
``URLError``, one while reading the answer as it is), so retries behave as before.
"""

from __future__ import annotations

import http.client
import io
import select
import threading
import time
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient

#: A connection idle this long is closed rather than reused (load balancers in front of
#: Web APIs drop idle connections after about a minute).
IDLE_SECONDS = 30.0
#: Each thread's kept connection: conn, where (scheme, host) and when it was last used.
_kept = threading.local()


class KeepAliveClient(WebClient):
    """A WebClient that reuses one connection per thread (see the module's docstring)."""

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """One request on this thread's kept connection: {status, headers, body}, or
        HTTPError for a 4xx/5xx answer, as slack-sdk's own method returns them."""
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        conn = _connection(parts.scheme, parts.netloc, self.timeout, self.ssl)
        headers = {k: v for k, v in req.header_items() if k.lower() != "connection"}
        try:
            try:
                conn.request(req.get_method(), req.selector, body=req.data, headers=headers)
            except OSError as err:  # as urllib: a failure to send is a URLError
                raise URLError(err) from err
            resp = conn.getresponse()
            body = resp.read()
        except BaseException:
            _close()
            raise
        if resp.will_close:
            _close()
        else:
            _kept.used = time.monotonic()
        if resp.status >= 400:
            raise HTTPError(url, resp.status, resp.reason, resp.msg, io.BytesIO(body))
        if resp.msg.get_content_type() == "application/gzip":
            return {"status": resp.status, "headers": resp.msg, "body": body}
        charset = resp.msg.get_content_charset() or "utf-8"
        return {"status": resp.status, "headers": resp.msg, "body": body.decode(charset)}


def _connection(scheme: str, netloc: str, timeout: int, context: Any) -> http.client.HTTPConnection:
    """This thread's connection to ``netloc``, a new one unless the kept one is alive."""
    conn = getattr(_kept, "conn", None)
    if conn is not None:
        stale = time.monotonic() - _kept.used > IDLE_SECONDS
        if _kept.where != (scheme, netloc) or stale or _closed(conn):
            _close()
            conn = None
    if conn is None:
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(netloc, timeout=timeout)
        _kept.conn, _kept.where, _kept.used = conn, (scheme, netloc), time.monotonic()
    return conn


def _close() -> None:
    """Close this thread's kept connection, if any."""
    conn = getattr(_kept, "conn", None)
    _kept.conn = None
    if conn is not None:
        conn.close()


def _closed(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle kept connection was closed by the other end: an idle socket that
    reads as ready has either hit its end or holds bytes nobody asked for."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True

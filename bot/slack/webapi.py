"""The Web API and response_url clients: slack-sdk's, keeping their connection to Slack open.

slack-sdk's client opens a new connection (a new TLS handshake, against slack.com) for every
call, and Bolt's ``respond`` one for every post to a response_url. ``KeepAliveClient`` and
``Responder`` keep one connection per thread and host instead (slack.com and the
response_url's host each keep theirs, whichever client instance the thread uses), as
browsers and urllib3 do. A connection the server closed while it sat idle is noticed before
it is used (its socket reads as closed), and one idle longer than ``IDLE_SECONDS`` is not
reused, so no request is sent into a dead connection. Errors
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
from slack_sdk.webhook import WebhookClient, WebhookResponse

#: A connection idle this long is closed rather than reused (load balancers in front of
#: Web APIs drop idle connections after about a minute).
IDLE_SECONDS = 30.0
#: Each thread's kept connections, one per host (see ``_here``).
_kept = threading.local()


class KeepAliveClient(WebClient):
    """A WebClient that reuses one connection per thread (see the module's docstring)."""

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """One request on this thread's kept connection: {status, headers, body}, or
        HTTPError for a 4xx/5xx answer, as slack-sdk's own method returns them."""
        if self.proxy is not None or not url.lower().startswith(("http://", "https://")):
            return super()._perform_urllib_http_request_internal(url, req)
        status, headers, body = _exchange(url, req, self.timeout, self.ssl)
        if headers.get_content_type() == "application/gzip":
            return {"status": status, "headers": headers, "body": body}
        charset = headers.get_content_charset() or "utf-8"
        return {"status": status, "headers": headers, "body": body.decode(charset)}


class KeepAliveWebhook(WebhookClient):
    """A WebhookClient (a response_url) on this thread's kept connection."""

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        if self.proxy is not None or not url.lower().startswith(("http://", "https://")):
            return super()._perform_http_request_internal(url, req)
        status, headers, body = _exchange(url, req, self.timeout, self.ssl)
        charset = headers.get_content_charset() or "utf-8"
        return WebhookResponse(url=url, status_code=status, body=body.decode(charset),
                               headers=headers)  # fmt: skip


class Responder:
    """What Bolt's ``respond`` does for a response_url, on a kept connection and with the
    Web API client's retries (Bolt's own opens a connection each time and retries only a
    dropped one)."""

    def __init__(self, response_url: str, client: WebClient) -> None:
        self.webhook = KeepAliveWebhook(response_url, timeout=client.timeout, ssl=client.ssl,
                                        proxy=client.proxy,
                                        retry_handlers=list(client.retry_handlers))  # fmt: skip

    def __call__(self, text: str = "", **message: Any) -> WebhookResponse:
        """Post a message to the response_url (keywords as WebhookClient.send takes them)."""
        return self.webhook.send(text=text, **message)


def _exchange(url: str, req: Request, timeout: int, context: Any) -> tuple[int, Any, bytes]:
    """Send a request on this thread's kept connection to its host: (status, headers, body);
    an HTTPError for a 4xx/5xx answer, as urllib raises it."""
    parts = urlsplit(url)
    where = (parts.scheme.lower(), parts.netloc)
    conn = _connection(where, timeout, context)
    headers = {k: v for k, v in req.header_items() if k.lower() != "connection"}
    try:
        try:
            conn.request(req.get_method(), req.selector, body=req.data, headers=headers)
        except OSError as err:  # as urllib: a failure to send is a URLError
            raise URLError(err) from err
        resp = conn.getresponse()
        body = resp.read()
    except BaseException:
        _close(where)
        raise
    if resp.will_close:
        _close(where)
    else:
        _here()[where] = (conn, time.monotonic())
    if resp.status >= 400:
        raise HTTPError(url, resp.status, resp.reason, resp.msg, io.BytesIO(body))
    return resp.status, resp.msg, body


def _here() -> dict[tuple[str, str], tuple[http.client.HTTPConnection, float]]:
    """This thread's kept connections: (scheme, host) -> (connection, when last used)."""
    kept = getattr(_kept, "conns", None)
    if kept is None:
        kept = _kept.conns = {}
    return kept


def _connection(where: tuple[str, str], timeout: int, context: Any) -> http.client.HTTPConnection:
    """This thread's connection to a host, a new one unless the kept one is alive."""
    conn, used = _here().get(where, (None, 0.0))
    if conn is not None and (time.monotonic() - used > IDLE_SECONDS or _closed(conn)):
        _close(where)
        conn = None
    if conn is None:
        scheme, netloc = where
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=timeout, context=context)
        else:
            conn = http.client.HTTPConnection(netloc, timeout=timeout)
        _here()[where] = (conn, time.monotonic())
    return conn


def _close(where: tuple[str, str]) -> None:
    """Close this thread's kept connection to a host, if any."""
    conn, _ = _here().pop(where, (None, 0.0))
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

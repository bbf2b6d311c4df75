"""A local stand-in for Slack: the Web API, response_url and a page that plays a workspace.

One stand-in for the test suite and for `devops-role-bot demo`: it records every Web API
call, can answer 429/500/late on demand, checks Block Kit against Slack's limits (answering
``invalid_blocks`` as Slack does), keeps the messages of a small workspace (#general and a DM
with the bot), and sends the bot correctly signed events, slash commands and interactions.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import Request, urlopen

from slack_sdk.signature import SignatureVerifier

BOT_USER = "UBOT"
BOT_ID = "BBOT"
YOU = "UYOU"
GENERAL = "CGENERAL"
DM = "DBOT"
COMMAND = "/devops-role"
BOT_NAME = "devops-role-bot"
_BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "image", "rich_text",
                "input"}  # fmt: skip
#: Slack's documented limits (Block Kit reference, chat.postMessage, views.*).
MESSAGE_BLOCKS, VIEW_BLOCKS = 50, 100
TEXT_LIMIT = 40_000  # chat.postMessage `text`: msg_too_long beyond it
#: chat.postMessage/postEphemeral/update refuse blocks whose text adds up past roughly
#: 12,000-13,300 characters (msg_blocks_too_long; slackapi/bolt-js #2509, #2867, where
#: 11,341 were refused with the rest of the message). The stand-in refuses at the low end;
#: a response_url takes more and is not checked for it.
BLOCKS_TEXT_LIMIT = 12_000
ID_LIMIT = 255  # block_id, action_id, callback_id
VIEW_TITLE = 24  # a modal's title, submit and close labels
METADATA_LIMIT = 3000  # a view's private_metadata
REFUSED_RESPONSE = 400  # what a response_url answers to a reply Slack refuses
#: The bot scopes the app's manifest (manifest.yml) asks for: what the stand-in grants.
SCOPES = frozenset({"app_mentions:read", "chat:write", "commands", "im:history",
                    "channels:history", "groups:history", "mpim:history"})  # fmt: skip
#: The scope reading a conversation's messages needs, by the first letter of its id.
HISTORY_SCOPES = {"C": "channels:history", "G": "groups:history", "D": "im:history"}
#: Message metadata's event_type: letters, digits, underscores and hyphens; Slack drops
#: metadata with any other (a warning, invalid_metadata_schema), and refuses metadata that
#: is not a JSON object with an event_type and an event_payload (invalid_metadata_format).
EVENT_TYPE = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class Call:
    """One request the bot made to the stand-in."""

    method: str  # Web API method, or "response_url"
    params: dict
    path: str = ""
    at: float = field(default_factory=time.monotonic)


def _text_errors(obj: object, where: str, *, limit: int, plain_only: bool = False) -> list[str]:
    """What is wrong with a text object: its type, and 1..limit characters of text."""
    if not isinstance(obj, dict):
        return [f"{where}: must be a text object"]
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in kinds:
        return [f"{where}: must be {' or '.join(kinds)}"]
    text = obj.get("text")
    if not isinstance(text, str) or not 0 < len(text) <= limit:
        return [f"{where}: text must be 1-{limit} characters"]
    return []


def _element_errors(e: object, where: str) -> list[str]:
    """What is wrong with one interactive element (buttons and text inputs are what we use)."""
    if not isinstance(e, dict):
        return [f"{where}: must be an object"]
    errors: list[str] = []
    action_id = e.get("action_id")
    valid_id = isinstance(action_id, str) and 0 < len(action_id) <= ID_LIMIT
    if action_id is not None and not valid_id:
        errors.append(f"{where}: action_id must be 1-{ID_LIMIT} characters")
    if e.get("type") == "button":
        if "text" not in e:
            errors.append(f"{where}: button text must be 1-75 characters")
        else:
            errors += [
                m.replace("text must be", "button text must be")
                for m in _text_errors(e["text"], where, limit=75, plain_only=True)
            ]
        if len(str(e.get("value", ""))) > 2000:
            errors.append(f"{where}: button value over 2000 characters")
        if len(str(e.get("url", ""))) > 3000:
            errors.append(f"{where}: button url over 3000 characters")
        if e.get("style") not in (None, "primary", "danger"):
            errors.append(f"{where}: button style must be primary or danger")
    elif e.get("type") == "plain_text_input" and not 0 < int(e.get("max_length", 3000)) <= 3000:
        errors.append(f"{where}: max_length must be 1-3000")
    return errors


def block_errors(blocks: object, *, limit: int = MESSAGE_BLOCKS) -> list[str]:
    """What Slack would reject in a list of blocks (its documented limits), or [].

    Besides each block's own limits: an action_id must be unique among the action_ids of its
    block, and a block_id unique within the message or view (Slack answers invalid_blocks).
    """
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"more than {limit} blocks ({len(blocks)})")
    block_ids: set[str] = set()
    for n, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        where = f"block {n} ({kind})"
        if kind not in _BLOCK_TYPES:
            errors.append(f"{where}: unknown block type")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not (isinstance(block_id, str) and 0 < len(block_id) <= ID_LIMIT):
                errors.append(f"{where}: block_id must be 1-{ID_LIMIT} characters")
            elif block_id in block_ids:
                errors.append(f"{where}: block_id {block_id!r} is not unique in the message")
            block_ids.add(str(block_id))
        text = block.get("text")
        if kind == "header":
            if text is None or _text_errors(text, where, limit=150, plain_only=True):
                errors.append(f"{where}: header must be plain_text of 1-150 characters")
        elif kind == "section":
            fields = block.get("fields") or []
            if not text and not fields:
                errors.append(f"{where}: a section needs text or fields")
            if text:
                errors += _text_errors(text, where, limit=3000)
            if len(fields) > 10:
                errors.append(f"{where}: at most 10 fields of 2000 characters")
            for f in fields:
                if _text_errors(f, where, limit=2000):
                    errors.append(f"{where}: at most 10 fields of 2000 characters")
            if "accessory" in block:
                errors += _element_errors(block["accessory"], f"{where} accessory")
        elif kind == "context":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 10:
                errors.append(f"{where}: 1-10 elements")
            for k, e in enumerate(elements):
                if isinstance(e, dict) and e.get("type") != "image":
                    errors += _text_errors(e, f"{where} element {k}", limit=3000)
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 25:
                errors.append(f"{where}: 1-25 elements")
            seen: set[str] = set()
            for k, e in enumerate(elements):
                errors += _element_errors(e, where)
                action_id = e.get("action_id") if isinstance(e, dict) else None
                if action_id is not None:
                    if action_id in seen:
                        errors.append(
                            f"{where} element {k}: action_id {action_id!r} is not unique"
                            " in its block"
                        )
                    seen.add(str(action_id))
        elif kind == "input":
            errors += _text_errors(block.get("label"), f"{where} label", limit=2000,
                                   plain_only=True)  # fmt: skip
            if "hint" in block:
                errors += _text_errors(block["hint"], f"{where} hint", limit=2000,
                                       plain_only=True)  # fmt: skip
            if not isinstance(block.get("element"), dict):
                errors.append(f"{where}: an input needs an element")
            else:
                errors += _element_errors(block["element"], f"{where} element")
    return errors


def view_errors(view: object) -> list[str]:
    """What Slack would reject in a modal or Home tab view (views.open/push/update/publish)."""
    if not isinstance(view, dict):
        return ["view must be an object"]
    kind = view.get("type")
    if kind not in ("modal", "home"):
        return [f"view type must be modal or home, not {kind!r}"]
    errors = block_errors(view.get("blocks"), limit=VIEW_BLOCKS)
    if len(str(view.get("private_metadata", ""))) > METADATA_LIMIT:
        errors.append(f"private_metadata over {METADATA_LIMIT} characters")
    if len(str(view.get("callback_id", ""))) > ID_LIMIT:
        errors.append(f"callback_id over {ID_LIMIT} characters")
    if kind == "modal":
        if "title" not in view:
            errors.append("a modal needs a title")
        for key in ("title", "submit", "close"):
            if key in view:
                errors += _text_errors(view[key], key, limit=VIEW_TITLE, plain_only=True)
        has_input = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_input and "submit" not in view:
            errors.append("a modal with input blocks needs a submit button")
    return errors


def blocks_text_length(node: object) -> int:
    """How many characters of text a list of blocks holds, all text fields added up."""
    if isinstance(node, list):
        return sum(blocks_text_length(n) for n in node)
    if not isinstance(node, dict):
        return 0
    total = 0
    for key, value in node.items():
        if key == "text" and isinstance(value, str):
            total += len(value)
        else:
            total += blocks_text_length(value)
    return total


def metadata_of(value: object) -> tuple[dict | None, str | None]:
    """A message's metadata as Slack keeps it, and Slack's warning or error code about it:
    ``invalid_metadata_format`` (refused) for anything but a JSON object with a string
    ``event_type`` and an object ``event_payload``; ``invalid_metadata_schema`` (dropped,
    the message posted) for an event_type with characters Slack does not take."""
    if value is None:
        return None, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, "invalid_metadata_format"
    if (not isinstance(value, dict) or not isinstance(value.get("event_type"), str)
            or not isinstance(value.get("event_payload"), dict)):  # fmt: skip
        return None, "invalid_metadata_format"
    if not EVENT_TYPE.fullmatch(value["event_type"]):
        return None, "invalid_metadata_schema"
    return value, None


def message_errors(params: dict, *, web_api: bool = True) -> tuple[str, list[str]] | None:
    """Slack's error code and reasons for a message it would refuse, or None.

    ``web_api``: a chat.* call, which also refuses blocks past BLOCKS_TEXT_LIMIT characters
    of text in all (a response_url post does not)."""
    blocks = params.get("blocks")
    text = params.get("text")
    if blocks is not None:
        errors = block_errors(blocks)
        if errors:
            return "invalid_blocks", errors
        length = blocks_text_length(blocks)
        if web_api and length > BLOCKS_TEXT_LIMIT:
            why = f"blocks hold {length} characters of text, over about {BLOCKS_TEXT_LIMIT}"
            return "msg_blocks_too_long", [why]
    if not blocks and not text and not params.get("delete_original"):
        return "no_text", ["a message needs text or blocks"]
    if isinstance(text, str) and len(text) > TEXT_LIMIT:
        return "msg_too_long", [f"text is {len(text)} characters, over {TEXT_LIMIT}"]
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-answer (a bot killed on purpose) is not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeSlack:
    """Records Web API and response_url calls, keeps a small workspace, drives the bot."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, advertise: str = "",
                 scopes: frozenset[str] = SCOPES) -> None:  # fmt: skip
        """Listen on host:port; ``advertise`` is the host name the bot reaches us by (for a
        bot in a container, say), used in the Web API URL and response_urls. ``scopes``:
        what the bot's token is granted (reading conversations checks them)."""
        self.scopes = scopes
        self.connections: list[socket.socket] = []  # every connection a client opened
        self.calls: list[Call] = []
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self.forced: dict[str, list[str]] = {}  # method -> error codes to answer next
        self.refused: list[tuple[str, str, list[str]]] = []  # (method, error, reasons)
        self.ws_url = ""
        self.messages: list[dict] = []  # the workspace, oldest first
        self.home: dict | None = None
        self.modals: list[dict] = []  # the open modals, as Slack stacks them (views.push)
        self.debug: dict | None = None  # the last answer's decision, for the side panel
        self.bot_url: str | None = None
        self.secret = ""
        self.explain: Callable[[str], dict] | None = None
        self.explain_click: Callable[[str, str], dict | None] | None = None
        self._responses: dict[str, dict] = {}  # response_url key -> where it answers
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.server = _Server((host, port), self._handler())
        self.url = f"http://{advertise or host}:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # --- the HTTP side ----------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as Slack's Web API: a client may send many requests on one
            # connection (each answer has its Content-Length).
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes: without TCP_NODELAY (which real
                # servers set) the body waits for the client's delayed ACK, 40 ms a call.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with standin._lock:
                    standin.connections.append(self.connection)

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path in ("/", "/index.html"):
                    page = resources.files("bot.demo").joinpath("page.html").read_bytes()
                    return self.reply(200, page, "text/html; charset=utf-8")
                if self.path == "/demo/state":
                    return self.reply(200, json.dumps(standin.state()).encode(), "application/json")
                if self.path.startswith("/api/"):  # slack-sdk reads conversations with GET
                    url = urlsplit(self.path)
                    method, params = url.path.removeprefix("/api/"), dict(parse_qsl(url.query))
                    standin.record(method, params)
                    body = json.dumps(standin.answer(method, params)).encode()
                    return self.reply(200, body, "application/json")
                return self.reply(404, b"not found", "text/plain")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.path.startswith("/demo/"):
                    try:
                        out = standin.page_action(self.path, json.loads(raw or "{}"))
                    except (ValueError, KeyError) as err:
                        out = {"ok": False, "error": str(err)}
                    return self.reply(200, json.dumps(out).encode(), "application/json")
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = dict(parse_qsl(raw))
                    for key in ("blocks", "view", "attachments"):
                        if isinstance(params.get(key), str):
                            params[key] = json.loads(params[key])
                if self.path.startswith("/response/"):
                    failure = standin.next_failure("response_url")
                    standin.record("response_url", params, self.path)
                    if failure:  # Slack's hooks have bad moments too
                        return self.reply(failure[0], b"", "text/plain", failure[1])
                    refused = standin.on_response(self.path.removeprefix("/response/"), params)
                    if refused:
                        return self.reply(REFUSED_RESPONSE, refused.encode(), "text/plain")
                    return self.reply(200, b"ok", "text/plain")
                method = self.path.removeprefix("/api/")
                failure = standin.next_failure(method)
                standin.record(method, params)
                if failure and failure[0] == 0:  # a hang: answer late, after the timeout
                    time.sleep(float(failure[1]["delay"]))
                    failure = None
                if failure:
                    status, headers = failure
                    body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                    return self.reply(status, body, "application/json", headers)
                body = json.dumps(standin.answer(method, params)).encode()
                return self.reply(200, body, "application/json")

            def reply(
                self, status: int, body: bytes, ctype: str, headers: dict | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        self.hang_up()

    def hang_up(self) -> None:
        """Close every open connection, as a load balancer drops idle ones."""
        with self._lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):  # closed already
                    conn.shutdown(socket.SHUT_RDWR)

    # --- recording, for tests -----------------------------------------------------------

    def record(self, method: str, params: dict, path: str = "") -> None:
        with self._cond:
            self.calls.append(Call(method, params, path))
            self._cond.notify_all()

    def next_failure(self, method: str) -> tuple[int, dict] | None:
        with self._lock:
            pending = self.failures.get(method)
            return pending.pop(0) if pending else None

    def fail(self, method: str, *failures: tuple[int, dict]) -> None:
        """Answer the next calls of a method (or "response_url") with these (status,
        headers); for a method, status 0 with {"delay": seconds} answers normally but only
        after that delay."""
        with self._lock:
            self.failures.setdefault(method, []).extend(failures)

    def wait_for(self, method: str, count: int = 1, timeout: float = 10) -> list[Call]:
        """Wait until ``count`` calls of a method arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"expected {count} {method} call(s), saw {seen}")
                self._cond.wait(left)

    def wait_for_path(self, path: str, timeout: float = 10) -> Call:
        """Wait for the first call to a response_url path."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for c in self.calls:
                    if c.path == path:
                        return c
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing posted to {path}")
                self._cond.wait(left)

    def of(self, method: str) -> list[Call]:
        """The calls of a method so far."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    # --- the Web API -----------------------------------------------------------------

    def answer(self, method: str, params: dict) -> dict:
        """What Slack's Web API would answer (and what the workspace shows)."""
        forced = self.next_forced(method)
        if forced:
            self.refuse_shown(method, params, forced, ["refused on purpose by the test"])
            return {"ok": False, "error": forced}
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T1"}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.ws_url}
        if method in ("views.publish", "views.open", "views.push", "views.update"):
            errors = view_errors(params.get("view"))
            if errors:
                # Slack answers a view it refuses with invalid_arguments (views.publish) and
                # says why in response_metadata.messages.
                self.refuse_shown(method, params, "invalid_arguments", errors)
                return {"ok": False, "error": "invalid_arguments",
                        "response_metadata": {"messages": errors}}  # fmt: skip
            if method == "views.publish":
                self.home = params.get("view")
                return {"ok": True, "view": {"id": "VHOME", **(self.home or {})}}
            view = dict(params.get("view") or {})
            with self._lock:
                if method == "views.update":
                    at = next((n for n, v in enumerate(self.modals)
                               if v["id"] == params.get("view_id")), None)  # fmt: skip
                    if at is None:
                        return {"ok": False, "error": "not_found"}
                    self.modals[at] = view = {**view, "id": self.modals[at]["id"]}
                else:
                    if method == "views.open":
                        self.modals.clear()
                    view["id"] = f"VMODAL{next(self._ids)}"
                    self.modals.append(view)
            return {"ok": True, "view": view}
        if method in ("conversations.replies", "conversations.history"):
            return self.conversation(method, params)
        warning = None
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            refused = message_errors(params)
            if refused:
                self.refuse_shown(method, params, *refused)
                return {"ok": False, "error": refused[0], "errors": refused[1]}
            metadata, warning = metadata_of(params.get("metadata"))
            if warning == "invalid_metadata_format":
                self.refuse_shown(method, params, warning, ["metadata is not an event"])
                return {"ok": False, "error": warning}
        ts = self.new_ts()
        if method in ("chat.postMessage", "chat.postEphemeral"):
            self.add_message(
                channel=str(params.get("channel", "")),
                user=BOT_USER,
                text=str(params.get("text", "")),
                blocks=params.get("blocks"),
                thread_ts=params.get("thread_ts"),
                ephemeral=method == "chat.postEphemeral",
                ts=ts,
                metadata=metadata,
            )
        elif method == "chat.update":
            self.replace(str(params.get("ts")), params.get("text", ""), params.get("blocks"))
            ts = str(params.get("ts"))
        answer = {"ok": True, "ts": ts, "channel": params.get("channel")}
        return {**answer, "warning": warning} if warning else answer

    def conversation(self, method: str, params: dict) -> dict:
        """conversations.replies (a thread, oldest first, its parent first) and
        conversations.history (the conversation's top-level messages, newest first), as Slack
        answers them: the history scope of the conversation's kind, ``ts`` of an existing
        message, oldest/latest (exclusive unless ``inclusive``), ``limit`` and metadata only
        with ``include_all_metadata``."""
        channel = str(params.get("channel") or "")
        replies = method == "conversations.replies"
        if not channel or (replies and not params.get("ts")):
            return {"ok": False, "error": "invalid_arguments"}
        needed = HISTORY_SCOPES.get(channel[:1])
        if needed is None:
            return {"ok": False, "error": "channel_not_found"}
        if needed not in self.scopes:
            return {"ok": False, "error": "missing_scope", "needed": needed,
                    "provided": ",".join(sorted(self.scopes))}  # fmt: skip
        with self._lock:
            shown = [m for m in self.messages if m["channel"] == channel and not m.get("ephemeral")]
        if replies:
            first = next((m for m in shown if m["ts"] == params["ts"]), None)
            if first is None:
                return {"ok": False, "error": "thread_not_found"}
            root = first.get("thread_ts") or first["ts"]  # a reply's ts names its thread too
            found = sorted((m for m in shown if root in (m["ts"], m.get("thread_ts"))),
                           key=lambda m: float(m["ts"]))  # fmt: skip
        else:
            found = sorted((m for m in shown if m.get("thread_ts") in (None, m["ts"])),
                           key=lambda m: -float(m["ts"]))  # fmt: skip
        inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or 9e18)

        def within(m: dict) -> bool:
            at = float(m["ts"])
            if inclusive:
                return oldest <= at <= latest
            return oldest < at < latest

        found = [m for m in found if within(m) or (replies and m["ts"] == root)]
        limit = int(params.get("limit") or (1000 if replies else 100))
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        out = []
        for m in found[:limit]:
            shown_m = {"type": "message", "user": m.get("user"), "text": m.get("text", ""),
                       "ts": m["ts"]}  # fmt: skip
            if m.get("user") == BOT_USER:
                shown_m["bot_id"] = BOT_ID
            for name in ("thread_ts", "blocks"):
                if m.get(name):
                    shown_m[name] = m[name]
            if with_metadata and m.get("metadata"):
                shown_m["metadata"] = m["metadata"]
            out.append(shown_m)
        return {"ok": True, "messages": out, "has_more": len(found) > limit}

    @property
    def modal(self) -> dict | None:
        """The modal on top, the one the person sees."""
        with self._lock:
            return self.modals[-1] if self.modals else None

    def new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ids):06d}"

    def add_message(self, **message: object) -> dict:
        """Add a message to the workspace (channel ids for users mean the DM)."""
        channel = str(message["channel"])
        if channel in (YOU, "U1") or channel.startswith("D"):
            message["channel"] = DM if not channel.startswith("D") else channel
        message.setdefault("ts", self.new_ts())
        message["id"] = str(message["ts"])
        with self._lock:
            self.messages.append(dict(message))
        return dict(message)

    def replace(self, ts: str, text: str, blocks: object) -> None:
        with self._lock:
            for m in self.messages:
                if m["ts"] == ts:
                    m["text"], m["blocks"] = text, blocks

    def next_forced(self, method: str) -> str | None:
        with self._lock:
            pending = self.forced.get(method)
            return pending.pop(0) if pending else None

    def refuse(self, method: str, *errors: str) -> None:
        """Refuse the next calls of a method (or "response_url") with these error codes, as
        Slack refuses a reply it will not show, whatever the reply."""
        with self._lock:
            self.forced.setdefault(method, []).extend(errors)

    def refuse_shown(self, method: str, params: dict, error: str, reasons: list[str]) -> None:
        """Keep a refusal for the tests, and show it where the page shows it."""
        with self._lock:
            self.refused.append((method, error, list(reasons)))
        channel = str(params.get("channel") or (DM if method.startswith("views.") else ""))
        self.post_error(channel, reasons, error)

    def post_error(self, channel: str, errors: list[str], code: str = "invalid_blocks") -> None:
        """Show what Slack refused where the page shows it (the bot's log would say it too)."""
        self.add_message(
            channel=channel or GENERAL,
            user="USLACKBOT",
            text=f"Slack rejected the bot's message: {code}\n" + "\n".join(errors),
            blocks=None,
            thread_ts=None,
            ephemeral=True,
            error=True,
        )

    def on_response(self, key: str, params: dict) -> str | None:
        """A post to a response_url: an ephemeral or in-channel reply, or a replacement.

        Returns the error code Slack would answer (with HTTP 400) for a reply it refuses.
        """
        where = self._responses.get(key, {"channel": GENERAL, "ts": None})
        forced = self.next_forced("response_url")
        refused = (forced, ["refused on purpose by the test"]) if forced else None
        refused = refused or message_errors(params, web_api=False)
        if refused:
            self.refuse_shown("response_url", {**params, "channel": where["channel"]}, *refused)
            return refused[0]
        if key not in self._responses:
            return None
        with self._lock:
            original = next((m for m in self.messages if m["ts"] == where.get("ts")), None)
            if params.get("delete_original") and original is not None:
                self.messages.remove(original)
                return None
            if params.get("replace_original") and original is not None:
                original["text"] = params.get("text", "")
                original["blocks"] = params.get("blocks")
                return None
        in_channel = params.get("response_type") == "in_channel"
        message = self.add_message(
            channel=where["channel"],
            user=YOU if in_channel else BOT_USER,
            via_bot=True,
            text=str(params.get("text", "")),
            blocks=params.get("blocks"),
            thread_ts=None,
            ephemeral=not in_channel,
        )
        if not in_channel:
            where["ts"] = message["ts"]
        return None

    def response_url(self, channel: str, ts: str | None = None) -> str:
        key = f"r{next(self._ids)}"
        self._responses[key] = {"channel": channel, "ts": ts}
        return f"{self.url}/response/{key}"

    # --- the page ----------------------------------------------------------------------

    def connect(self, bot_url: str, secret: str) -> None:
        """Send what the page does to the bot at ``bot_url``, signed with ``secret``."""
        self.bot_url, self.secret = bot_url.rstrip("/"), secret

    def state(self) -> dict:
        """Everything the page shows."""
        with self._lock:
            return {
                "messages": list(self.messages),
                "home": self.home,
                "modal": self.modals[-1] if self.modals else None,
                "debug": self.debug,
                "bot_user": BOT_USER,
                "you": YOU,
                "command": COMMAND,
            }

    def page_action(self, path: str, data: dict) -> dict:
        """What the page asks for: send a message, click a button, open App Home."""
        if self.bot_url is None:
            return {"ok": False, "error": "no bot connected"}
        if path == "/demo/send":
            return self.send(str(data["surface"]), str(data["text"]))
        if path == "/demo/click":
            return self.click(data)
        if path == "/demo/close-modal":
            with self._lock:
                self.modals[-1:] = []
            return {"ok": True}
        if path == "/demo/submit":
            return self.submit(data.get("values") or {})
        if path == "/demo/home":
            self.event({"type": "app_home_opened", "user": YOU, "tab": "home", "channel": DM})
            return {"ok": True}
        return {"ok": False, "error": f"unknown page action {path}"}

    def send(self, surface: str, text: str) -> dict:
        """Type ``text`` in #general or the DM, as Slack would deliver it to the bot."""
        text = text.strip()
        channel = DM if surface == "dm" else GENERAL
        if not text:
            return {"ok": False, "error": "empty message"}
        if text.startswith(COMMAND):
            question = text[len(COMMAND) :].strip()
            self.explain_question(question)
            form = {
                "command": COMMAND,
                "text": question,
                "user_id": YOU,
                "user_name": "you",
                "channel_id": channel,
                "team_id": "T1",
                "response_url": self.response_url(channel),
                "trigger_id": f"trigger{next(self._ids)}",
            }
            status = self.post(urlencode(form), "application/x-www-form-urlencoded")
            return {"ok": status == 200, "status": status}
        mention = f"@{BOT_NAME}"
        slack_text = text.replace(mention, f"<@{BOT_USER}>")
        message = self.add_message(
            channel=channel, user=YOU, text=slack_text, blocks=None, thread_ts=None
        )
        event = {"user": YOU, "text": slack_text, "ts": message["ts"], "channel": channel}
        if channel == DM:
            self.explain_question(slack_text)
            self.event({"type": "message", "channel_type": "im", **event})
        elif f"<@{BOT_USER}>" in slack_text:
            self.explain_question(slack_text)
            self.event({"type": "app_mention", **event})
        return {"ok": True}

    def explain_question(self, question: str) -> None:
        if self.explain is not None:
            self.debug = self.explain(question)

    def click(self, data: dict) -> dict:
        """Click a button in a message, a modal or App Home."""
        if self.explain_click is not None:
            explained = self.explain_click(str(data["action_id"]), str(data.get("value", "")))
            self.debug = explained or self.debug
        payload: dict = {
            "type": "block_actions",
            "user": {"id": YOU, "name": "you"},
            "team": {"id": "T1"},
            "trigger_id": f"trigger{next(self._ids)}",
            "actions": [
                {
                    "action_id": data["action_id"],
                    "value": data.get("value", ""),
                    "type": "button",
                    "block_id": data.get("block_id", "b"),
                }
            ],
        }
        if data.get("home"):
            payload["container"] = {"type": "view", "view_id": "VHOME"}
            payload["view"] = {"id": "VHOME", "type": "home"}
        elif data.get("modal"):
            modal = self.modal
            if modal is None:
                return {"ok": False, "error": "no modal is open"}
            payload["container"] = {"type": "view", "view_id": modal["id"]}
            payload["view"] = modal
        else:
            with self._lock:
                message = next(m for m in self.messages if m["ts"] == data["ts"])
            channel = str(message["channel"])
            payload["channel"] = {"id": channel}
            payload["container"] = {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": bool(message.get("ephemeral")),
            }
            if message.get("thread_ts"):
                payload["container"]["thread_ts"] = message["thread_ts"]
            if not message.get("ephemeral"):  # Slack sends no `message` for an ephemeral one
                payload["message"] = {
                    "ts": message["ts"],
                    "thread_ts": message.get("thread_ts"),
                    "blocks": message.get("blocks") or [],
                    "text": message.get("text", ""),
                }
            payload["response_url"] = self.response_url(channel, message["ts"])
        form = urlencode({"payload": json.dumps(payload)})
        status = self.post(form, "application/x-www-form-urlencoded")
        return {"ok": status == 200, "status": status}

    def submit(self, values: dict) -> dict:
        """Submit the open modal with its input values, as Slack's view_submission."""
        if self.modal is None:
            return {"ok": False, "error": "no modal is open"}
        view = {**self.modal, "state": {"values": values}}
        with self._lock:  # acknowledged with no response_action: the modal closes
            self.modals[-1:] = []
        payload = {"type": "view_submission", "user": {"id": YOU, "name": "you"},
                   "team": {"id": "T1"}, "view": view}  # fmt: skip
        status = self.post(urlencode({"payload": json.dumps(payload)}),
                           "application/x-www-form-urlencoded")  # fmt: skip
        return {"ok": status == 200, "status": status}

    def event(self, event: dict) -> int:
        body = {
            "type": "event_callback",
            "team_id": "T1",
            "event_id": f"Ev{next(self._ids)}",
            "event_time": int(time.time()),
            "event": event,
        }
        return self.post(json.dumps(body), "application/json")

    def post(self, body: str, content_type: str) -> int:
        """POST a correctly signed request to the bot's /slack/events."""
        ts = str(int(time.time()))
        signature = SignatureVerifier(self.secret).generate_signature(timestamp=ts, body=body)
        req = Request(f"{self.bot_url}/slack/events", data=body.encode(), method="POST")
        req.add_header("Content-Type", content_type)
        req.add_header("X-Slack-Request-Timestamp", ts)
        req.add_header("X-Slack-Signature", signature)
        try:
            with urlopen(req, timeout=10) as resp:
                return resp.status
        except Exception as err:  # an HTTPError carries the status the bot answered
            return int(getattr(err, "code", 0) or 0)

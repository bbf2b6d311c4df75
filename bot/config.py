"""Settings from the environment, every variable parsed and checked at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

#: The shipped content folder (next to the package in a checkout).
SHIPPED_CONTENT = Path(__file__).resolve().parent.parent / "content"
DEFAULT_API_URL = "https://slack.com/api/"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
T = TypeVar("T")
_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


#: What `serve` reads from the environment, with a line each (shown by `serve --help`).
SERVE_VARIABLES = (
    ("SLACK_BOT_TOKEN", "required: the bot token, xoxb-..."),
    ("SLACK_APP_TOKEN", "xapp-...: Socket Mode; leave empty for HTTP mode"),
    ("SLACK_SIGNING_SECRET", "required in HTTP mode"),
    ("SLACK_API_URL", "Web API base URL (default https://slack.com/api/)"),
    ("SLACK_API_TIMEOUT", "seconds before a Web API call is retried (default 10)"),
    ("CONTENT_DIR", "the docs folder (default: the shipped content/)"),
    ("INCLUDE_DRAFTS", "true to read documents marked draft: true"),
    ("DOCS_BASE_URL", "adds a link to each section, e.g. https://docs.example.com/docs"),
    ("DOCS_NAME", "what replies call the docs (default: 'the <title> docs' or 'the docs')"),
    ("EMBEDDING_MODEL", "default (all-MiniLM-L6-v2), off, or a folder: model.onnx, tokenizer.json"),
    ("HOST, PORT", "HTTP listener for /slack/events, /healthz, /metrics (0.0.0.0:3000)"),
    ("LOG_LEVEL, LOG_FORMAT", "INFO (default), DEBUG, ...; text (default) or json"),
    ("DATA_DIR", "history, vector and docs caches (default ~/.local/share/devops-role-bot)"),
    ("DATABASE_URL", "postgresql://...: a history shared by replicas instead"),
    ("RETENTION_DAYS", "days to keep question records (default 90)"),
    ("ADMIN_USER_IDS", "Slack user ids allowed to run /devops-role report"),
)


class ConfigError(Exception):
    """One or more settings are missing or malformed; the message names every one."""


@dataclass(frozen=True, slots=True)
class ContentSettings:
    """Where the role documents are and how to read them."""

    content_dir: Path = SHIPPED_CONTENT
    include_drafts: bool = False
    docs_base_url: str | None = None
    docs_name: str | None = None
    # "default", "off" or a folder. From the environment the default is "default"; built in
    # code (tests, benchmarks) it is "off": the lexical engine alone, no model loaded.
    embedding_model: str = "off"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ContentSettings:
        """Read CONTENT_DIR, INCLUDE_DRAFTS, DOCS_BASE_URL, DOCS_NAME and EMBEDDING_MODEL;
        raise ConfigError naming bad ones."""
        return _checked(_content_from_env, environ)


#: DOCS_NAME goes into sentences, buttons' neighbours and the Home tab's header.
DOCS_NAME_LIMIT = 60


def _content_from_env(environ: Mapping[str, str], errors: list[str]) -> ContentSettings:
    content_dir = Path(environ.get("CONTENT_DIR") or SHIPPED_CONTENT)
    include_drafts = _bool(environ, "INCLUDE_DRAFTS", errors)
    base = environ.get("DOCS_BASE_URL") or None
    if base is not None and not re.match(r"^https?://[^\s/]+", base):
        errors.append("DOCS_BASE_URL must be an http(s) URL, like https://docs.example.com/docs")
    name = " ".join((environ.get("DOCS_NAME") or "").split()) or None
    if name is not None and len(name) > DOCS_NAME_LIMIT:
        errors.append(
            f"DOCS_NAME must be at most {DOCS_NAME_LIMIT} characters, like 'the platform"
            f" handbook' (it is {len(name)})"
        )
        name = None
    model = (environ.get("EMBEDDING_MODEL") or "").strip() or "default"
    if model.lower() in ("default", "off"):
        model = model.lower()
    elif not Path(model).is_dir():
        errors.append(
            f"EMBEDDING_MODEL must be default, off, or a folder holding model.onnx and"
            f" tokenizer.json; {model!r} is not a folder"
        )
        model = "off"
    return ContentSettings(content_dir, include_drafts, base, name, model)


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Where the history lives without DATA_DIR: $XDG_DATA_HOME/devops-role-bot."""
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "devops-role-bot"


@dataclass(frozen=True, slots=True)
class HistorySettings:
    """Where questions, votes and handled events are kept, and for how long."""

    data_dir: Path
    database_url: str | None = field(default=None, repr=False)
    retention_days: int = 90

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HistorySettings:
        """Read DATA_DIR, DATABASE_URL and RETENTION_DAYS; raise ConfigError naming bad ones."""
        return _checked(_history_from_env, environ)


def _history_from_env(environ: Mapping[str, str], errors: list[str]) -> HistorySettings:
    data_dir = Path(environ.get("DATA_DIR") or default_data_dir(environ))
    url = environ.get("DATABASE_URL", "").strip() or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        errors.append("DATABASE_URL must be a postgresql:// URL (or empty for SQLite)")
    text = environ.get("RETENTION_DAYS", "").strip() or "90"
    if not text.isdigit() or int(text) < 1:
        errors.append(f"RETENTION_DAYS must be a whole number of days >= 1, not {text!r}")
        text = "90"
    return HistorySettings(data_dir, url, int(text))


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `serve` needs; token values are kept out of repr and logs."""

    bot_token: str = field(repr=False)
    signing_secret: str | None = field(repr=False)
    app_token: str | None = field(repr=False)
    api_url: str
    host: str
    port: int
    log_level: str
    content: ContentSettings
    api_timeout: float = 10.0
    history: HistorySettings = field(default_factory=lambda: HistorySettings(Path("data")))
    admin_user_ids: frozenset[str] = frozenset()
    log_format: str = "text"

    @property
    def socket_mode(self) -> bool:
        """Socket Mode when an app-level token is set, HTTP mode otherwise."""
        return self.app_token is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse every variable; raise one ConfigError naming every missing or bad variable."""
        errors: list[str] = []
        bot_token = environ.get("SLACK_BOT_TOKEN", "").strip()
        if not bot_token:
            errors.append("SLACK_BOT_TOKEN is required (a bot token, xoxb-...)")
        elif not bot_token.startswith("xoxb-"):
            errors.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        app_token = environ.get("SLACK_APP_TOKEN", "").strip() or None
        if app_token is not None and not app_token.startswith("xapp-"):
            errors.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        secret = environ.get("SLACK_SIGNING_SECRET", "").strip() or None
        if secret is None and app_token is None:
            errors.append("SLACK_SIGNING_SECRET is required in HTTP mode (no SLACK_APP_TOKEN)")
        api_url = environ.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
        if not re.match(r"^https?://[^\s/]+", api_url):
            errors.append("SLACK_API_URL must be an http(s) URL, like https://slack.com/api/")
        elif not api_url.endswith("/"):
            api_url += "/"
        host = environ.get("HOST", "").strip() or "0.0.0.0"
        port_text = environ.get("PORT", "").strip() or "3000"
        port = 0
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            errors.append(f"PORT must be a number from 0 to 65535, not {port_text!r}")
        else:
            port = int(port_text)
        level = (environ.get("LOG_LEVEL", "").strip() or "INFO").upper()
        if level not in _LEVELS:
            errors.append(f"LOG_LEVEL must be one of {', '.join(sorted(_LEVELS))}")
        timeout_text = environ.get("SLACK_API_TIMEOUT", "").strip() or "10"
        try:
            api_timeout = float(timeout_text)
            if not 0 < api_timeout <= 120:
                raise ValueError
        except ValueError:
            errors.append(f"SLACK_API_TIMEOUT must be seconds from 0 to 120, not {timeout_text!r}")
            api_timeout = 10.0
        content = _content_from_env(environ, errors)
        history = _history_from_env(environ, errors)
        admins = frozenset(
            a.strip() for a in environ.get("ADMIN_USER_IDS", "").split(",") if a.strip()
        )
        if any(not re.fullmatch(r"[UW][A-Z0-9]+", a) for a in admins):
            errors.append("ADMIN_USER_IDS must be Slack user ids (U0123ABC), comma-separated")
        log_format = environ.get("LOG_FORMAT", "").strip().lower() or "text"
        if log_format not in ("text", "json"):
            errors.append(f"LOG_FORMAT must be text or json, not {log_format!r}")
        if errors:
            raise ConfigError("; ".join(errors))
        return cls(
            bot_token, secret, app_token, api_url, host, port, level, content, api_timeout,
            history, admins, log_format,
        )  # fmt: skip


def _checked(parse: Callable[[Mapping[str, str], list[str]], T], environ: Mapping[str, str]) -> T:
    """Run a parser that collects errors; raise one ConfigError naming them all."""
    errors: list[str] = []
    settings = parse(environ, errors)
    if errors:
        raise ConfigError("; ".join(errors))
    return settings


def _bool(environ: Mapping[str, str], name: str, errors: list[str]) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value not in _FALSE:
        errors.append(f"{name} must be true or false, not {value!r}")
    return False

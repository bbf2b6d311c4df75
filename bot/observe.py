"""Logs (plain or JSON lines) and Prometheus metrics for the running bot."""

from __future__ import annotations

import json
import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Fields a log record may carry for the one-line-per-question log.
QUESTION_FIELDS = ("entry", "decision", "section", "score", "latency_ms")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, question fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in QUESTION_FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str, fmt: str) -> None:
    """Log to stderr at ``level``, as text or as JSON lines (LOG_FORMAT=json)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # waitress warns on every request that waits for a thread ("Task queue depth is 3"): one
    # line per request under load, which itself slows the server. Its errors still show.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


class Metrics:
    """The bot's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.questions = Counter(
            "devops_role_bot_questions", "Questions by entry point and decision",
            ["entry", "decision"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "devops_role_bot_answer_seconds", "Time to find an answer",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )  # fmt: skip
        self.votes = Counter(
            "devops_role_bot_votes", "Helpful / not helpful votes", ["vote"],
            registry=self.registry,
        )  # fmt: skip
        self.reloads = Counter(
            "devops_role_bot_reloads", "Content reloads", ["result"], registry=self.registry
        )
        self.slack_errors = Counter(
            "devops_role_bot_slack_api_errors", "Slack Web API errors after retries",
            registry=self.registry,
        )  # fmt: skip

        self.store_up = Gauge(
            "devops_role_bot_store_up",
            "1 while the history store answers (claims, records), 0 while it does not",
            registry=self.registry,
        )
        self.embedded = Gauge(
            "devops_role_bot_sections_embedded_ratio",
            "Share of the docs' texts embedded by the sentence model (1 once ready; 0 when off)",
            registry=self.registry,
        )
        self.recovered = Counter(
            "devops_role_bot_recovered",
            "Questions answered after their lease ran out (the process that took them died,"
            " or was too far behind)",
            registry=self.registry,
        )
        self.taken_over_while_waiting = Counter(
            "devops_role_bot_taken_over_while_waiting",
            "Questions this process held past their lease (behind on its work) that another"
            " holder took over and answered; not answered here",
            registry=self.registry,
        )
        self.answered_before = Counter(
            "devops_role_bot_answered_before_takeover",
            "Questions taken over from a process that died and found answered in Slack already"
            " (read back; not answered again)",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)

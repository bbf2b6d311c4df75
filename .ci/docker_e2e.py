"""CI: `docker compose up` the bot in HTTP mode against the Slack stand-in on the host, wait
until healthy, send one signed slash command, check the answer, `docker stop` it (exit 0
within 5 s), `docker compose down`."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.demo.standin import FakeSlack  # noqa: E402

COMPOSE = ["docker", "compose", "-f", "docker-compose.yml", "-f", ".ci/compose.ci.yml"]


def compose(*args: str) -> str:
    return subprocess.run(
        [*COMPOSE, *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    fake = FakeSlack(host="0.0.0.0", advertise="host.docker.internal")
    secret = secrets.token_hex(16)
    port = free_port()
    env_file = ROOT / ".env"
    env_file.write_text(
        "SLACK_BOT_TOKEN=xoxb-ci-not-a-real-token\n"
        f"SLACK_SIGNING_SECRET={secret}\n"
        f"SLACK_API_URL={fake.api_url}\n"
        f"BOT_PORT={port}\n"
        f"BASE_IMAGE={os.environ['BASE_IMAGE']}\n"
    )
    t0 = time.monotonic()
    try:
        subprocess.run([*COMPOSE, "build", "-q"], cwd=ROOT, check=True)
        built = time.monotonic()
        compose("up", "-d")
        container = compose("ps", "-q", "bot").strip()
        status = ""
        deadline = time.monotonic() + 120
        while status != "healthy" and time.monotonic() < deadline:
            status = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            time.sleep(1)
        if status != "healthy":
            print(subprocess.run(["docker", "logs", container], capture_output=True,
                                 text=True).stderr[-3000:])  # fmt: skip
            raise SystemExit(f"container not healthy after 120 s: {status}")
        healthy = time.monotonic()
        form = urlencode({
            "command": "/devops-role", "text": "what does the DevOps coach do?",
            "user_id": "U1", "channel_id": "C1", "team_id": "T1", "trigger_id": "t",
            "response_url": f"{fake.url}/response/ci",
        })  # fmt: skip
        ts = str(int(time.time()))
        req = Request(f"http://127.0.0.1:{port}/slack/events", data=form.encode(), method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        req.add_header("X-Slack-Request-Timestamp", ts)
        req.add_header(
            "X-Slack-Signature",
            SignatureVerifier(secret).generate_signature(timestamp=ts, body=form),
        )
        with urlopen(req, timeout=10) as resp:
            assert resp.status == 200, resp.status
        answer = fake.wait_for_path("/response/ci", timeout=30).params
        blocks = json.dumps(answer.get("blocks"))
        assert "The Coach" in blocks, blocks[:500]
        user = subprocess.run(
            ["docker", "exec", container, "id", "-u"], capture_output=True, text=True, check=True
        ).stdout.strip()
        assert user != "0", "the container runs as root"
        # `docker stop` sends SIGTERM, and SIGKILL 10 s later: a bot that is the container's
        # first process and has no SIGTERM handler ignores it and is killed (exit 137).
        before_stop = time.monotonic()
        subprocess.run(["docker", "stop", container], check=True, capture_output=True)
        stop_s = time.monotonic() - before_stop
        code = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", container],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
        if code != "0" or stop_s > 5:
            print(logs.stderr[-3000:])
            raise SystemExit(f"`docker stop` took {stop_s:.1f} s; the bot exited {code}")
        assert "stopped" in logs.stderr, logs.stderr[-3000:]
        print(
            f"docker: image built in {built - t0:.0f} s, healthy {healthy - built:.0f} s after"
            f" `up`; the slash command was answered with The Coach by uid {user}; `docker"
            f" stop` took {stop_s:.1f} s (exit {code})"
        )
        return 0
    finally:
        subprocess.run([*COMPOSE, "down", "-v"], cwd=ROOT, capture_output=True)
        env_file.unlink(missing_ok=True)
        fake.close()


if __name__ == "__main__":
    sys.exit(main())

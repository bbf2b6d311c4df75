"""What an unsigned request costs the bot: server CPU per request, small body against large.

Starts `devops-role-bot serve` in HTTP mode (no Slack needed) as a child process, sends it
unsigned POSTs of malformed JSON to /slack/events (a 100-byte body, then a 929 KB one, as
issue #23 measured; its log at INFO, written to /dev/null),
and reads the server's CPU time from /proc before and after each batch. With ``--rev REV``
the same runs on that git revision's bot, side by side in one run (a baseline):

    python bench/front_door.py --rev ad566e9

Prints, per tree, the CPU per request for each size, the large/small ratio, and what the
server answered. Linux only (/proc); loopback only.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import cpu_seconds, free_port, tree_at  # noqa: E402

SIZES = {"small": 100, "large": 929_000}


def post(port: int, body: bytes) -> int:
    """One unsigned POST to /slack/events; the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/slack/events", body=body, headers={"Content-Type": "application/json"})
    status = conn.getresponse().status
    conn.close()
    return status


def measure(tree: Path, requests: int) -> dict[str, tuple[float, set[int]]]:
    """CPU seconds per request and the statuses seen, per body size, for one tree's bot."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="front-door-")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tree), "HOME": data,
           "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench-secret",
           "SLACK_API_URL": "http://127.0.0.1:9/api/", "HOST": "127.0.0.1",
           "PORT": str(port), "DATA_DIR": data, "LOG_LEVEL": "INFO"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=tree, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{tree}: the bot did not become healthy")
            time.sleep(0.2)
        out = {}
        for name, size in SIZES.items():
            # Malformed JSON, as the issue sent: what a careless or hostile client posts.
            body = b'{"type": "event_callback", "x": "' + b"x" * max(0, size - 34)
            post(port, body)  # warm
            before = cpu_seconds(proc.pid)
            statuses = {post(port, body) for _ in range(requests)}
            out[name] = ((cpu_seconds(proc.pid) - before) / requests, statuses)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    """Measure the working tree (and a baseline revision) and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rev", help="a git revision to measure beside the working tree")
    parser.add_argument("--requests", type=int, default=200, help="per size (default 200)")
    args = parser.parse_args()
    trees = [("working tree", ROOT)] + ([(args.rev, tree_at(args.rev))] if args.rev else [])
    print(f"{'tree':<14} {'small ms':>9} {'large ms':>9} {'large/small':>12}  statuses")
    for label, tree in trees:
        got = measure(tree, args.requests)
        small, large = got["small"][0] * 1000, got["large"][0] * 1000
        statuses = ", ".join(f"{k} {sorted(v)}" for k, (_, v) in got.items())
        print(f"{label:<14} {small:9.2f} {large:9.2f} {large / small:12.1f}  {statuses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

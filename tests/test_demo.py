"""`devops-role-bot demo` as a user runs it: prints the page URL, serves it, stops on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from urllib.request import Request, urlopen


def test_demo_command_serves_page_and_stops_on_ctrl_c():
    """The demo prints a 127.0.0.1 URL, the page and a DM answer work, Ctrl-C exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "."},
        # As a shell's background job starts it: SIGINT ignored. Ctrl-C must still stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        line = proc.stdout.readline()
        assert "open http://127.0.0.1:" in line, line
        url = line.split("open ", 1)[1].split()[0]
        with urlopen(url, timeout=5) as resp:
            assert b"Local workspace" in resp.read()
        body = json.dumps({"surface": "dm", "text": "coach"}).encode()
        req = Request(url + "demo/send", data=body, method="POST")
        with urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["ok"] is True
        deadline = time.monotonic() + 10
        texts = ""
        while "The Coach" not in texts and time.monotonic() < deadline:
            with urlopen(url + "demo/state", timeout=5) as resp:
                texts = json.dumps(json.loads(resp.read())["messages"])
            time.sleep(0.1)
        assert "The Coach" in texts
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    assert "stopped" in proc.stdout.read()


def test_demo_on_a_port_already_taken_says_so_in_one_line():
    """The README's first command, with its port taken by another program (or past 65535):
    exit 2 and one line naming the port and how to choose another, not a traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "bot", "demo", "--port", str(port)],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", "EMBEDDING_MODEL": "off"},
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"devops-role-bot: error: --port {port}: cannot listen on 127.0.0.1:{port}: Address"
        " already in use (choose another port with --port; 0 takes any free one)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--port", "70000"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ".", "EMBEDDING_MODEL": "off"},
    )  # fmt: skip
    assert done.returncode == 2 and "--port 70000: cannot listen" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

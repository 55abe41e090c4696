"""A random-weight Whisper model in CTranslate2 format that decodes a known, fixed text.

:func:`build_whisper_model` writes a directory (``model.bin``, ``config.json``,
``vocabulary.json``, ``tokenizer.json``, ``preprocessor_config.json``) that
``faster_whisper.WhisperModel`` loads like a converted checkpoint and runs through its real
code: mel front end, CTranslate2 encoder/decoder, timestamp rules, token suppression, language
detection, beam search, the batched pipeline. Nothing is downloaded.

The vocabulary has Whisper's layout and ids (50257 byte-level BPE tokens, ``<|endoftext|>`` =
50257, languages in Whisper's order, task tokens, 1501 timestamps). Encoder and cross-attention
are random and small; the audio does not change the output. The decoder is wired so that every
window decodes confidently (log prob ~0, no-speech prob ~0, no temperature fallback):

* ``<|startoftranscript|>`` -> ``<|en|>``; ``<|transcribe|>``/``<|translate|>`` -> ``<|0.00|>``;
  ``<|0.00|>`` or ``<|notimestamps|>`` -> word 1 -> ... -> word N (:func:`chain_words`);
* then ``<|1.00|>`` (:data:`END_TIMESTAMP`) and ``<|endoftext|>``, or directly ``<|endoftext|>``
  when ``<|notimestamps|>`` is in the context (an attention head of decoder layer 0 looks).

How: chain tokens embed as one-hot (two-hot when dims run out) markers, all others as a shared
"default" marker; sublayer outputs are tiny, so the output projection maps marker -> successor.
16 "decoy" tokens are the runner-up after every chain token and are followed by
``<|endoftext|>``: beam search keeps them as its other beams, so no junk hypothesis that ends
early can stop a beam search before the chain is complete.

Limits: ``prefix=`` is not supported (prefix text, then junk); word timings are arbitrary.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ctranslate2.specs import WhisperSpec
from numpy.typing import NDArray
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

N_TEXT_TOKENS = 50257  # regular BPE tokens
EOT, SOT = N_TEXT_TOKENS, N_TEXT_TOKENS + 1  # <|endoftext|>, <|startoftranscript|>
N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>
END_TIMESTAMP = 1.0  # closing timestamp of every window, in seconds from the window start
MAX_TOKENS_PER_WINDOW = 200  # CTranslate2 decodes at most 224 tokens after the prompt

# Whisper's language order (<|en|> = 50259, ...); "yue" exists only in large-v3 vocabularies.
WHISPER_LANGUAGES: tuple[str, ...] = tuple(
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su yue".split()
)

# The words the model says, in order; " " + word is one token of the vocabulary.
WORDS: tuple[str, ...] = tuple(
    """alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november
    oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber azure
    black blue bronze coral crimson cyan green grey indigo ivory jade lemon lilac magenta maroon
    mauve navy olive orange peach pink plum purple red ruby scarlet silver teal violet white
    yellow badger beaver bison camel cheetah cobra condor coyote crane dingo dolphin donkey eagle
    falcon ferret gazelle gecko giraffe goose gopher heron hippo hyena ibis iguana jackal jaguar
    koala lemur leopard lion llama lynx macaw marmot moose narwhal ocelot otter owl panda parrot
    pelican penguin puma quail rabbit raven rhino seal shark sloth swan tapir tiger toucan turtle
    walrus weasel whale wolf wombat zebra apple apricot banana cherry coconut fig grape guava
    lime mango melon nectarine papaya pear pineapple quince raspberry tangerine monday tuesday
    wednesday thursday friday saturday sunday january february march april june july august
    september october december one two three four five six seven eight nine ten eleven twelve
    twenty thirty forty fifty hundred thousand million anchor bridge candle desert engine forest
    garden harbor island jungle kettle ladder meadow needle ocean pocket quarry river saddle
    tunnel valley window yard acorn basket cabin dragon ember feather glacier hammer igloo
    jacket kernel lantern mirror nugget orchard pepper quiver ribbon summit thunder umbrella
    velvet wagon""".split()
)

# Decoder logits (see the module docstring).
_TARGET_LOGIT = 40.0  # next chain token; unrelated tokens stay near 0
_DECOY_LOGIT = 25.0  # runner-up after every chain token (two-hot look-alikes get 20)
_N_DECOYS = 16  # enough for beam_size <= 16
_DEFAULT_EOT_LOGIT = _DECOY_LOGIT + 1.5  # <|endoftext|> after any token outside the chain
_LAST_EOT_LOGIT = 30.0  # <|endoftext|> after the last word, timestamps on (close gets 40)
_NO_TS_EOT_LOGIT = 55.0  # <|endoftext|> after the last word, without timestamps
_FLAG = 0.5  # "<|notimestamps|> seen" feature, relative to a token marker
_FLAG_SCORE = 30.0  # attention score of <|notimestamps|> for the last word's query
_DEFAULT_DIM, _FLAG_DIM = 0, 2  # markers use even dims only, see _plan_chain
_POOL_SIZE = 1_048_573  # a prime, so tiled random rows do not repeat
_SPACE = chr(256 + 32)  # "Ġ", the byte-level form of " "


@dataclass(frozen=True)
class WhisperShape:
    """Architecture of a Whisper model (``n_heads`` is used by encoder and decoder)."""

    n_mels: int
    d_model: int
    n_heads: int
    encoder_layers: int
    decoder_layers: int
    vocab_size: int = 51865
    n_audio_ctx: int = 1500
    n_text_ctx: int = 448
    float16: bool = True  # store weights as float16 (halves memory and model.bin size)

    @property
    def num_languages(self) -> int:
        """99, or 100 for the large-v3 vocabulary (which adds ``<|yue|>``)."""
        return self.vocab_size - N_TEXT_TOKENS - N_TIMESTAMPS - 8


SHAPES: dict[str, WhisperShape] = {
    "test": WhisperShape(80, 64, 2, 1, 1, float16=False),
    # large-v3 vocabulary and 128 mel bins at "test" cost, float16 storage
    "test-v3": WhisperShape(128, 64, 2, 1, 1, vocab_size=51866),
    "tiny": WhisperShape(80, 384, 6, 4, 4),
    "base": WhisperShape(80, 512, 8, 6, 6),
    "small": WhisperShape(80, 768, 12, 12, 12),
    "medium": WhisperShape(80, 1024, 16, 24, 24),
    "large-v3": WhisperShape(128, 1280, 20, 32, 32, vocab_size=51866),
    "large-v3-turbo": WhisperShape(128, 1280, 20, 32, 4, vocab_size=51866),
}


@dataclass(frozen=True)
class VocabLayout:
    """Special tokens and their ids for a vocabulary with ``num_languages`` (99 or 100)."""

    num_languages: int = 99

    def special_tokens(self) -> list[str]:
        """Tokens from ``<|endoftext|>`` (50257) to ``<|30.00|>``, in id order."""
        names = ["endoftext", "startoftranscript", *WHISPER_LANGUAGES[: self.num_languages]]
        names += ["translate", "transcribe", "startoflm", "startofprev", "nocaptions"]
        names += ["notimestamps", *(f"{i * 0.02:.2f}" for i in range(N_TIMESTAMPS))]
        return [f"<|{name}|>" for name in names]

    def id(self, token: str) -> int:
        """Id of a special token, e.g. ``id("<|en|>") == 50259``."""
        return N_TEXT_TOKENS + self.special_tokens().index(token)

    def timestamp(self, seconds: float) -> int:
        """Id of the timestamp token for ``seconds`` (a multiple of 0.02, 0 to 30)."""
        return SOT + self.num_languages + 7 + round(seconds / 0.02)

    @property
    def size(self) -> int:
        """Total vocabulary size (51865, or 51866 with 100 languages)."""
        return self.timestamp(0.0) + N_TIMESTAMPS


def chain_words(tokens_per_window: int = 8) -> list[str]:
    """The words (no spaces) a model built with ``tokens_per_window`` says in every window."""
    if not 1 <= tokens_per_window <= MAX_TOKENS_PER_WINDOW:
        raise ValueError(f"tokens_per_window must be in 1..{MAX_TOKENS_PER_WINDOW}")
    return list(WORDS[:tokens_per_window])


def expected_text(tokens_per_window: int = 8) -> str:
    """``Segment.text`` of every window, e.g. ``" alpha bravo charlie"`` (leading space)."""
    return "".join(" " + word for word in chain_words(tokens_per_window))


# ------------------------------------------------------------------------------ tokenizer


def _regular_vocab(words: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """The 50257 regular tokens and BPE merges: bytes, " -", " '", every word, padding."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    n_other = 256 - len(printable)
    # GPT-2's byte alphabet in id order, so id 220 is "Ġ" (" ") as in Whisper.
    vocab = [chr(b) for b in printable] + [chr(256 + i) for i in range(n_other)]
    known = set(vocab)
    merges: list[tuple[str, str]] = []
    for piece in ["-", "'", *words]:
        prefix = _SPACE
        for char in piece:
            if prefix + char not in known:
                merges.append((prefix, char))
                vocab.append(prefix + char)
                known.add(prefix + char)
            prefix += char
    vocab += [f"pad{i:05d}" for i in range(N_TEXT_TOKENS - 1 - len(vocab))]
    # CTranslate2 4.8 sets is_multilingual from whether "" is a token of the vocabulary.
    return [*vocab, ""], merges


def build_tokenizer(layout: VocabLayout, words: tuple[str, ...] = WORDS) -> Tokenizer:
    """A byte-level BPE ``tokenizers.Tokenizer`` with Whisper's special-token layout."""
    regular, merges = _regular_vocab(words)
    tokens = regular + layout.special_tokens()
    bpe = models.BPE(vocab={tok: i for i, tok in enumerate(tokens)}, merges=merges)
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = [AddedToken(tok, special=True, normalized=False) for tok in tokens[EOT:]]
    tokenizer.add_special_tokens(specials)
    return tokenizer


def _suppress_ids(tokenizer: Tokenizer) -> list[int]:
    """faster-whisper's non-speech tokens for this tokenizer (the converter's suppress_ids)."""
    from faster_whisper.tokenizer import Tokenizer as WhisperTokenizer

    wrapped = WhisperTokenizer(tokenizer, multilingual=True, task="transcribe", language="en")
    return list(wrapped.non_speech_tokens)


# ------------------------------------------------------------------------------ weights


@dataclass
class _Init:
    """Arrays in the storage dtype; big ones tile a pool of normals (3x faster for large-v3)."""

    rng: np.random.Generator
    dtype: type
    pools: dict[float, NDArray[np.generic]] = field(default_factory=dict)

    def normal(self, *shape: int, std: float) -> NDArray[np.generic]:
        if math.prod(shape) <= _POOL_SIZE:
            values = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)
            return values.astype(self.dtype)
        if std not in self.pools:
            self.pools[std] = self.normal(_POOL_SIZE, std=std)
        start = int(self.rng.integers(_POOL_SIZE))
        return np.resize(np.roll(self.pools[std], -start), shape)

    def full(self, *shape: int, value: float = 0.0) -> NDArray[np.generic]:
        return np.full(shape, value, dtype=self.dtype)


@dataclass
class _Chain:
    """Marker dims of the chain's tokens and the token each one leads to."""

    last_word: int
    decoys: list[int]
    codes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    edges: list[tuple[int, int]] = field(default_factory=list)


def _plan_chain(
    layout: VocabLayout, word_ids: list[int], decoys: list[int], d_model: int
) -> _Chain:
    """Assign marker dims: specials and the last word one-hot, other words one- or two-hot.

    Only even dims carry markers: int8 GEMMs on AVX2 sum products of adjacent dims in int16
    and saturate when a row has two large weights side by side.
    """
    ts0, close = layout.timestamp(0.0), layout.timestamp(END_TIMESTAMP)
    transcribe, translate = layout.id("<|transcribe|>"), layout.id("<|translate|>")
    no_ts = layout.id("<|notimestamps|>")
    chain = _Chain(last_word=word_ids[-1], decoys=decoys)
    chain.edges = [(SOT, layout.id("<|en|>")), (transcribe, ts0), (translate, ts0)]
    chain.edges += [(no_ts, word_ids[0]), (ts0, word_ids[0]), *itertools.pairwise(word_ids)]
    chain.edges += [(word_ids[-1], close), (close, EOT)]
    free = [d for d in range(0, d_model, 2) if d not in (_DEFAULT_DIM, _FLAG_DIM)]
    special = [SOT, transcribe, translate, no_ts, ts0, close, word_ids[-1]]
    chain.codes.update((token, (free.pop(0),)) for token in special)
    middle = word_ids[:-1]
    codes: list[tuple[int, ...]] = [(d,) for d in free]
    if len(middle) > len(codes):
        codes = list(itertools.combinations(free, 2))
    if len(middle) > len(codes):
        raise ValueError(f"d_model={d_model} is too small for {len(word_ids)} words")
    chain.codes.update(zip(middle, codes, strict=False))
    return chain


def _layer_normed(d_model: int, dims: list[int]) -> NDArray[np.float64]:
    """LayerNorm output (gamma 1, beta 0) of the vector with ones at ``dims``, zeros elsewhere."""
    x = np.zeros(d_model)
    x[dims] = 1.0
    x -= x.mean()
    return x / math.sqrt(float((x * x).mean()) + 1e-5)


def _embeddings(chain: _Chain, vocab_size: int, d_model: int, init: _Init) -> NDArray:
    """Token embeddings: a unit marker per chain token, the default marker for all others."""
    weight = init.normal(vocab_size, d_model, std=0.002)
    weight[:, _DEFAULT_DIM] = 1.0
    for token, dims in chain.codes.items():
        weight[token, _DEFAULT_DIM] = 0.0
        weight[token, list(dims)] = 1.0
    return weight


def _projection(chain: _Chain, layout: VocabLayout, d_model: int) -> tuple[NDArray, NDArray]:
    """Output projection (weight, bias): marker of a chain token -> logit of its successor."""
    weight = np.zeros((layout.size, d_model), dtype=np.float32)
    bias = np.zeros(layout.size, dtype=np.float32)
    bias[chain.decoys] = _DECOY_LOGIT
    for source, target in chain.edges:
        dims = list(chain.codes[source])
        weight[target, dims] += _TARGET_LOGIT / _layer_normed(d_model, dims)[dims].sum()
    # Last word: <|endoftext|> below the closing timestamp unless <|notimestamps|> was seen.
    one = float(_layer_normed(d_model, [0])[0])
    weight[EOT, chain.codes[chain.last_word]] += _LAST_EOT_LOGIT / one
    boost = (_NO_TS_EOT_LOGIT * math.hypot(1.0, _FLAG) - _LAST_EOT_LOGIT) / _FLAG
    weight[EOT, _FLAG_DIM] += boost / one
    # The default-marker weight makes the whole row give _DEFAULT_EOT_LOGIT after a decoy.
    default = _layer_normed(d_model, [_DEFAULT_DIM])
    missing = _DEFAULT_EOT_LOGIT - float(weight[EOT] @ default)
    weight[EOT, _DEFAULT_DIM] += missing / default[_DEFAULT_DIM]
    return weight, bias


def _flag_head(attention: Any, chain: _Chain, no_ts: int, n_heads: int) -> None:
    """Head 0 writes "<|notimestamps|> is in the context" into the flag dim, at the last word.

    Row 0 of the q block is +score for the last word and -score for other tokens (which then
    never attend to ``<|notimestamps|>``); row 0 of the k and v blocks is non-zero only for
    ``<|notimestamps|>``; the output projection writes value x _FLAG into the flag dim.
    """
    qkv, qkv_bias = attention.linear[0].weight, attention.linear[0].bias
    out = attention.linear[1].weight
    d_model = out.shape[0]
    one = float(_layer_normed(d_model, [0])[0])
    qk = math.sqrt(_FLAG_SCORE * math.sqrt(d_model // n_heads))
    (last_dim,), (nt_dim,) = chain.codes[chain.last_word], chain.codes[no_ts]
    for row in (0, d_model, 2 * d_model):
        qkv[row, :] = 0.0
    qkv[0, last_dim], qkv_bias[0] = 2.0 * qk / one, -qk
    qkv[d_model, nt_dim] = qk / one
    qkv[2 * d_model, nt_dim] = 1.0 / one
    out[:, 0] = 0.0
    out[_FLAG_DIM, 0] = _FLAG


def _layer_norm(spec: Any, d_model: int, init: _Init) -> None:
    spec.gamma, spec.beta = init.full(d_model, value=1.0), init.full(d_model)


def _linear(spec: Any, rows: int, cols: int, std: float, init: _Init) -> None:
    spec.weight, spec.bias = init.normal(rows, cols, std=std), init.full(rows)


def _sinusoids(length: int, channels: int) -> NDArray[np.float32]:
    """Whisper's sinusoidal position embedding of the encoder."""
    scales = np.exp(-math.log(10000) / (channels // 2 - 1) * np.arange(channels // 2))
    times = np.arange(length)[:, None] * scales[None, :]
    return np.concatenate([np.sin(times), np.cos(times)], axis=1).astype(np.float32)


def _fill_encoder(spec: WhisperSpec, shape: WhisperShape, init: _Init) -> None:
    """Random encoder: two convolutions, sinusoidal positions, pre-norm layers."""
    d, enc = shape.d_model, spec.encoder
    enc.conv1.weight = init.normal(d, shape.n_mels, 3, std=1.0 / math.sqrt(3 * shape.n_mels))
    enc.conv2.weight = init.normal(d, d, 3, std=1.0 / math.sqrt(3 * d))
    enc.conv1.bias, enc.conv2.bias = init.full(d), init.full(d)
    enc.position_encodings.encodings = _sinusoids(shape.n_audio_ctx, d).astype(init.dtype)
    _layer_norm(enc.layer_norm, d, init)
    for layer in enc.layer:
        _layer_norm(layer.self_attention.layer_norm, d, init)
        _linear(layer.self_attention.linear[0], 3 * d, d, 0.02, init)
        _linear(layer.self_attention.linear[1], d, d, 0.02, init)
        _layer_norm(layer.ffn.layer_norm, d, init)
        _linear(layer.ffn.linear_0, 4 * d, d, 0.02, init)
        _linear(layer.ffn.linear_1, d, 4 * d, 0.02, init)


def _fill_decoder(spec: WhisperSpec, shape: WhisperShape, chain: _Chain, init: _Init) -> None:
    """Decoder: chain embeddings and projection, near-silent random layers, the flag head."""
    d, dec = shape.d_model, spec.decoder
    layout = VocabLayout(shape.num_languages)
    small = 1e-3 / math.sqrt(d)  # output weights of every sublayer: markers stay dominant
    dec.embeddings.weight = _embeddings(chain, shape.vocab_size, d, init)
    dec.position_encodings.encodings = init.normal(shape.n_text_ctx, d, std=0.002)
    _layer_norm(dec.layer_norm, d, init)
    weight, bias = _projection(chain, layout, d)
    dec.projection.weight, dec.projection.bias = weight.astype(init.dtype), bias.astype(init.dtype)
    for layer in dec.layer:
        for norm in (layer.self_attention, layer.attention, layer.ffn):
            _layer_norm(norm.layer_norm, d, init)
        _linear(layer.self_attention.linear[0], 3 * d, d, 0.02, init)
        _linear(layer.self_attention.linear[1], d, d, small, init)
        _linear(layer.attention.linear[0], d, d, 0.02, init)
        _linear(layer.attention.linear[1], 2 * d, d, 0.02, init)
        _linear(layer.attention.linear[2], d, d, small, init)
        _linear(layer.ffn.linear_0, 4 * d, d, 0.02, init)
        _linear(layer.ffn.linear_1, d, 4 * d, small, init)
    _flag_head(dec.layer[0].self_attention, chain, layout.id("<|notimestamps|>"), shape.n_heads)


# ------------------------------------------------------------------------------ builder


def _make_spec(dims: WhisperShape, tokenizer: Tokenizer, words: list[str], seed: int) -> Any:
    """The filled and validated ``WhisperSpec`` with the config the Whisper converter writes."""
    layout = VocabLayout(dims.num_languages)
    vocab = tokenizer.get_vocab()
    word_ids = [vocab[_SPACE + word] for word in words]
    decoys = [vocab[f"pad{i:05d}"] for i in range(_N_DECOYS)]
    chain = _plan_chain(layout, word_ids, decoys, dims.d_model)
    init = _Init(np.random.default_rng(seed), np.float16 if dims.float16 else np.float32)
    spec = WhisperSpec(dims.encoder_layers, dims.n_heads, dims.decoder_layers, dims.n_heads)
    _fill_encoder(spec, dims, init)
    _fill_decoder(spec, dims, chain, init)
    spec.register_vocabulary([tokenizer.id_to_token(i) for i in range(layout.size)])
    spec.config.suppress_ids = _suppress_ids(tokenizer)
    spec.config.suppress_ids_begin = [220, EOT]
    spec.config.lang_ids = [SOT + 1 + i for i in range(dims.num_languages)]
    layers = range(dims.decoder_layers // 2, dims.decoder_layers)
    spec.config.alignment_heads = [[i, h] for i in layers for h in range(dims.n_heads)]
    spec.validate()
    return spec


def build_whisper_model(
    out_dir: str | Path,
    *,
    shape: str = "test",
    tokens_per_window: int = 8,
    seed: int = 0,
    quantization: str | None = None,
) -> Path:
    """Write a random-weight CTranslate2 Whisper model into ``out_dir``; return its path.

    Every 30-s window (and every batched chunk) decodes to :func:`expected_text`: with
    timestamps one segment from the window start to :data:`END_TIMESTAMP` s after it, without
    them one segment spanning the window. Language detection says "en" with probability ~1.

    Args:
      out_dir: directory to create (or overwrite the files in).
      shape: a key of :data:`SHAPES`; "test" is small and fast on CPU.
      tokens_per_window: words per window, 1 to :data:`MAX_TOKENS_PER_WINDOW`.
      seed: seed of the random weights.
      quantization: weight type to store ("int8", "float16", ...); None keeps float32 for
        "test" and float16 for the others.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    dims = SHAPES[shape]
    words = chain_words(tokens_per_window)
    tokenizer = build_tokenizer(VocabLayout(dims.num_languages))
    spec = _make_spec(dims, tokenizer, words, seed)
    spec.optimize(quantization=quantization)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec.save(str(out))
    tokenizer.save(str(out / "tokenizer.json"))
    preprocessor = {"chunk_length": 30, "feature_size": dims.n_mels, "hop_length": 160}
    preprocessor |= {"n_fft": 400, "n_samples": 480000, "sampling_rate": 16000}
    text = json.dumps(preprocessor, indent=2) + "\n"
    (out / "preprocessor_config.json").write_text(text, encoding="utf-8")
    return out

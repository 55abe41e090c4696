"""A random-weight Whisper model in CTranslate2 format that decodes a known, fixed text.

:func:`build_whisper_model` writes a directory that ``faster_whisper.WhisperModel`` loads like
a converted OpenAI checkpoint (``model.bin``, ``config.json``, ``vocabulary.json``,
``tokenizer.json``, ``preprocessor_config.json``) and runs through its real code: the mel
front end, the CTranslate2 encoder and decoder, the timestamp rules, token suppression,
language detection, beam search and the batched pipeline. Nothing is downloaded.

The vocabulary has Whisper's exact layout (50257 byte-level BPE tokens, ``<|endoftext|>`` =
50257, the language tokens in Whisper's order, the task tokens, then 1501 timestamps), so the
model is multilingual for CTranslate2 and every special-token id is the real one.

The encoder and the cross-attention are random (small) and the audio does not influence the
output. The decoder is shaped so greedy and beam decoding are short and confident (log
probability of the whole chain ~0, no-speech probability ~0, so no temperature fallback):

* each token the chain passes through gets a one-hot (or two-hot) marker embedding, every other
  token a shared "default" marker, and the output projection maps marker -> next token;
* ``<|startoftranscript|>`` -> ``<|en|>``; ``<|transcribe|>``/``<|translate|>`` -> ``<|0.00|>``;
  ``<|0.00|>`` and ``<|notimestamps|>`` -> first word; word i -> word i+1 (see :data:`WORDS`);
* after the last word: ``<|{END_TIMESTAMP}|>`` then ``<|endoftext|>`` when timestamps are on,
  ``<|endoftext|>`` directly in ``without_timestamps`` mode: one attention head of the first
  decoder layer looks for ``<|notimestamps|>`` in the context and, at the last word only,
  raises ``<|endoftext|>`` above the closing timestamp;
* any other token (prompt text, other timestamps, ...) -> ``<|endoftext|>``.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ctranslate2.specs import WhisperSpec
from numpy.typing import NDArray
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

__all__ = [
    "END_TIMESTAMP",
    "MAX_TOKENS_PER_WINDOW",
    "SHAPES",
    "WHISPER_LANGUAGES",
    "WORDS",
    "VocabLayout",
    "WhisperShape",
    "build_tokenizer",
    "build_whisper_model",
    "chain_words",
    "expected_text",
]

N_TEXT_TOKENS = 50257  # regular BPE tokens; <|endoftext|> follows
N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>
TIME_PRECISION = 0.02
END_TIMESTAMP = 1.0  # the closing timestamp of every window, in seconds from the window start
MAX_TOKENS_PER_WINDOW = 200  # CTranslate2 decodes at most 224 tokens after the prompt

# Whisper's language order (token <|en|> = 50259, ...); "yue" exists only in large-v3 vocabs.
WHISPER_LANGUAGES: tuple[str, ...] = tuple(
    "en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no "
    "th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw "
    "gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl "
    "mg as tt haw ln ha ba jw su yue".split()
)

# The words the model says, in order; each is one token (" " + word) of the vocabulary.
WORDS: tuple[str, ...] = tuple(
    """
    alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november
    oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu
    amber azure black blue bronze coral crimson cyan green grey indigo ivory jade lemon lilac
    magenta maroon mauve navy olive orange peach pink plum purple red ruby scarlet silver teal
    violet white yellow badger beaver bison camel cheetah cobra condor coyote crane dingo
    dolphin donkey eagle falcon ferret gazelle gecko giraffe goose gopher heron hippo hyena
    ibis iguana jackal jaguar koala lemur leopard lion llama lynx macaw marmot moose narwhal
    ocelot otter owl panda parrot pelican penguin puma quail rabbit raven rhino seal shark
    sloth swan tapir tiger toucan turtle walrus weasel whale wolf wombat zebra apple apricot
    banana cherry coconut fig grape guava lime mango melon nectarine papaya pear pineapple
    quince raspberry tangerine monday tuesday wednesday thursday friday saturday sunday
    january february march april june july august september october december one two three
    four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred
    thousand million anchor bridge candle desert engine forest garden harbor island jungle
    kettle ladder meadow needle ocean pocket quarry river saddle tunnel valley window yard
    """.split()
)

# Decoder logit design (see the module docstring).
_TARGET_LOGIT = 40.0  # logit of the next chain token; everything unrelated stays near 0
_LAST_EOT_LOGIT = 30.0  # <|endoftext|> after the last word when timestamps are on
_NO_TS_EOT_LOGIT = 55.0  # <|endoftext|> after the last word in without_timestamps mode
_DECOY_LOGIT = 15.0  # runner-up tokens of every chain step, see _projection
_N_DECOYS = 16
_DEFAULT_EOT_LOGIT = _DECOY_LOGIT + 1.0  # <|endoftext|> after a token outside the chain
_FLAG = 0.5  # size of the "<|notimestamps|> seen" feature relative to a token marker
_FLAG_SCORE = 30.0  # attention score of <|notimestamps|> for the last word's query
_DEFAULT_DIM, _FLAG_DIM = 0, 2
_POOL_SIZE = 1_048_573  # a prime, so tiled rows do not repeat
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
    def ffn_dim(self) -> int:
        """Hidden size of the feed-forward blocks."""
        return 4 * self.d_model

    @property
    def num_languages(self) -> int:
        """99, or 100 for the large-v3 vocabulary (which adds ``<|yue|>``)."""
        return self.vocab_size - N_TEXT_TOKENS - N_TIMESTAMPS - 8


SHAPES: dict[str, WhisperShape] = {
    "test": WhisperShape(80, 64, 2, 1, 1, float16=False),
    "tiny": WhisperShape(80, 384, 6, 4, 4),
    "base": WhisperShape(80, 512, 8, 6, 6),
    "small": WhisperShape(80, 768, 12, 12, 12),
    "medium": WhisperShape(80, 1024, 16, 24, 24),
    "large-v3": WhisperShape(128, 1280, 20, 32, 32, vocab_size=51866),
    "large-v3-turbo": WhisperShape(128, 1280, 20, 32, 4, vocab_size=51866),
}


@dataclass(frozen=True)
class VocabLayout:
    """Token ids of Whisper's special tokens for a vocabulary with ``num_languages``."""

    num_languages: int = 99
    eot: int = N_TEXT_TOKENS
    sot: int = N_TEXT_TOKENS + 1

    def language(self, code: str) -> int:
        """Id of ``<|code|>``."""
        return self.sot + 1 + WHISPER_LANGUAGES[: self.num_languages].index(code)

    @property
    def translate(self) -> int:
        """Id of ``<|translate|>`` (then transcribe, startoflm, startofprev, ...)."""
        return self.sot + 1 + self.num_languages

    @property
    def transcribe(self) -> int:
        """Id of ``<|transcribe|>``."""
        return self.translate + 1

    @property
    def no_timestamps(self) -> int:
        """Id of ``<|notimestamps|>``; the timestamps follow it."""
        return self.translate + 5

    @property
    def size(self) -> int:
        """Total vocabulary size."""
        return self.no_timestamps + 1 + N_TIMESTAMPS

    def timestamp(self, seconds: float) -> int:
        """Id of the timestamp token for ``seconds`` (multiple of 0.02, 0 to 30)."""
        return self.no_timestamps + 1 + round(seconds / TIME_PRECISION)

    def special_tokens(self) -> list[str]:
        """Tokens from ``<|endoftext|>`` to ``<|30.00|>``, in id order."""
        langs = [f"<|{code}|>" for code in WHISPER_LANGUAGES[: self.num_languages]]
        tasks = ["translate", "transcribe", "startoflm", "startofprev", "nocaptions"]
        stamps = [f"<|{i * TIME_PRECISION:.2f}|>" for i in range(N_TIMESTAMPS)]
        return [
            "<|endoftext|>",
            "<|startoftranscript|>",
            *langs,
            *(f"<|{task}|>" for task in tasks),
            "<|notimestamps|>",
            *stamps,
        ]


def chain_words(tokens_per_window: int = 8) -> list[str]:
    """The words (without spaces) a model built with ``tokens_per_window`` says per window."""
    if not 1 <= tokens_per_window <= MAX_TOKENS_PER_WINDOW:
        raise ValueError(f"tokens_per_window must be in 1..{MAX_TOKENS_PER_WINDOW}")
    return list(WORDS[:tokens_per_window])


def expected_text(tokens_per_window: int = 8) -> str:
    """``Segment.text`` of every window, e.g. ``" alpha bravo charlie"`` (leading space)."""
    return "".join(" " + word for word in chain_words(tokens_per_window))


# ------------------------------------------------------------------------------ tokenizer


def _byte_alphabet() -> list[str]:
    """GPT-2's byte-to-unicode characters in token-id order (so id 220 is " ", i.e. "Ġ")."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def _regular_vocab(words: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """The 50257 regular tokens and BPE merges: bytes, " -", " '", every word, padding."""
    space = _SPACE
    vocab = _byte_alphabet()
    known = set(vocab)
    merges: list[tuple[str, str]] = []
    for piece in ["-", "'", *words]:
        prefix = space
        for char in piece:
            if prefix + char not in known:
                merges.append((prefix, char))
                vocab.append(prefix + char)
                known.add(prefix + char)
            prefix += char
    vocab += [f"pad{i:05d}" for i in range(N_TEXT_TOKENS - 1 - len(vocab))]
    # CTranslate2 4.8 decides is_multilingual by whether "" is a token of the vocabulary.
    vocab.append("")
    return vocab, merges


def build_tokenizer(layout: VocabLayout, words: tuple[str, ...] = WORDS) -> Tokenizer:
    """A byte-level BPE ``tokenizers.Tokenizer`` with Whisper's special-token layout."""
    regular, merges = _regular_vocab(words)
    tokens = regular + layout.special_tokens()
    bpe = models.BPE(vocab={tok: i for i, tok in enumerate(tokens)}, merges=merges)
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(tok, special=True, normalized=False) for tok in tokens[N_TEXT_TOKENS:]]
    )
    return tokenizer


def _suppress_ids(tokenizer: Tokenizer) -> list[int]:
    """faster-whisper's non-speech tokens for this tokenizer (the converter's suppress_ids)."""
    from faster_whisper.tokenizer import Tokenizer as WhisperTokenizer

    wrapped = WhisperTokenizer(tokenizer, multilingual=True, task="transcribe", language="en")
    return list(wrapped.non_speech_tokens)


# ------------------------------------------------------------------------------ weights


@dataclass
class _Init:
    """Random/constant array factory in the model's storage dtype.

    Big tensors are tiled from a pool of normals per std (at a random offset): generating and
    converting 1.5e9 fresh float16 values would triple the build time of large-v3.
    """

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
    """Marker dimensions of the chain's source tokens and the token each one leads to."""

    last_word: int
    close: int
    decoys: list[int]
    codes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    edges: list[tuple[int, int]] = field(default_factory=list)


def _plan_chain(
    layout: VocabLayout, word_ids: list[int], decoys: list[int], d_model: int
) -> _Chain:
    """Assign marker dims: specials and the last word one-hot, other words one- or two-hot.

    Only even dims carry markers: int8 GEMMs on AVX2 add products of adjacent dims in int16
    and saturate when a row has two large weights side by side.
    """
    ts0, close = layout.timestamp(0.0), layout.timestamp(END_TIMESTAMP)
    chain = _Chain(last_word=word_ids[-1], close=close, decoys=decoys)
    chain.edges = [
        (layout.sot, layout.language("en")),
        (layout.transcribe, ts0),
        (layout.translate, ts0),
        (layout.no_timestamps, word_ids[0]),
        (ts0, word_ids[0]),
        *zip(word_ids, word_ids[1:], strict=False),
        (word_ids[-1], close),
        (close, layout.eot),
    ]
    special = [layout.sot, layout.transcribe, layout.translate, layout.no_timestamps, ts0]
    special += [close, word_ids[-1]]
    free = [d for d in range(0, d_model, 2) if d not in (_DEFAULT_DIM, _FLAG_DIM)]
    chain.codes.update((token, (free.pop(0),)) for token in special)
    middle = word_ids[:-1]
    codes: list[tuple[int, ...]] = [(d,) for d in free]
    if len(middle) > len(codes):
        codes = list(itertools.combinations(free, 2))
    if len(middle) > len(codes):
        raise ValueError(f"d_model={d_model} is too small for {len(word_ids)} words")
    chain.codes.update(zip(middle, codes, strict=False))
    return chain


def _marker(d_model: int, hot: int) -> float:
    """Value of a hot component after LayerNorm of a vector with ``hot`` ones, rest zeros."""
    mean = hot / d_model
    return (1.0 - mean) / math.sqrt(mean - mean * mean)


def _embeddings(chain: _Chain, vocab_size: int, d_model: int, init: _Init) -> NDArray:
    """Token embeddings: a unit marker per chain source, the default marker elsewhere."""
    weight = init.normal(vocab_size, d_model, std=0.005)
    weight[:, _DEFAULT_DIM] = 1.0
    for token, dims in chain.codes.items():
        weight[token, _DEFAULT_DIM] = 0.0
        weight[token, list(dims)] = 1.0
    return weight


def _projection(
    chain: _Chain, layout: VocabLayout, d_model: int, init: _Init
) -> tuple[NDArray, NDArray]:
    """Output projection (weight, bias): a source token's marker -> logit of its next token.

    The decoys get a constant bias: the clear runner-up after every chain token. Beam search
    (CTranslate2 stops once beam_size hypotheses have ended) keeps them as the other beams,
    and they end one step after the best beam, so no junk hypothesis ends the search early.
    """
    weight = np.zeros((layout.size, d_model), dtype=np.float32)
    bias = np.zeros(layout.size, dtype=np.float32)
    bias[chain.decoys] = _DECOY_LOGIT
    one = _marker(d_model, 1)
    for source, target in chain.edges:
        dims = list(chain.codes[source])
        weight[target, dims] += _TARGET_LOGIT / (len(dims) * _marker(d_model, len(dims)))
    # After a decoy (or any other token), <|endoftext|> is likeliest (p ~ 0.15).
    weight[layout.eot, _DEFAULT_DIM] = _DEFAULT_EOT_LOGIT / one
    # Last word: <|endoftext|> trails the closing timestamp unless <|notimestamps|> was seen.
    weight[layout.eot, chain.codes[chain.last_word]] += _LAST_EOT_LOGIT / one
    boost = (_NO_TS_EOT_LOGIT * math.hypot(1.0, _FLAG) - _LAST_EOT_LOGIT) / _FLAG
    weight[layout.eot, _FLAG_DIM] += boost / one
    return weight.astype(init.dtype), bias.astype(init.dtype)


def _flag_head(attention: object, chain: _Chain, no_ts: int, n_heads: int) -> None:
    """Make head 0 copy "<|notimestamps|> is in the context" into the flag dim at the last word.

    Row 0 of the q block is +score for the last word and -score for any other token (so
    those never attend to ``<|notimestamps|>``); row 0 of the k and v blocks is non-zero only
    for ``<|notimestamps|>``; the output projection writes value x _FLAG into the flag dim.
    """
    qkv, qkv_bias = attention.linear[0].weight, attention.linear[0].bias  # type: ignore[attr-defined]
    out = attention.linear[1].weight  # type: ignore[attr-defined]
    d_model = out.shape[0]
    one = _marker(d_model, 1)
    qk = math.sqrt(_FLAG_SCORE * math.sqrt(d_model // n_heads))
    (last_dim,), (nt_dim,) = chain.codes[chain.last_word], chain.codes[no_ts]
    for row in (0, d_model, 2 * d_model):
        qkv[row, :] = 0.0
    qkv[0, last_dim] = 2.0 * qk / one
    qkv_bias[0] = -qk
    qkv[d_model, nt_dim] = qk / one
    qkv[2 * d_model, nt_dim] = 1.0 / one
    out[:, 0] = 0.0
    out[_FLAG_DIM, 0] = _FLAG


def _layer_norm(spec: object, d_model: int, init: _Init) -> None:
    spec.gamma = init.full(d_model, value=1.0)  # type: ignore[attr-defined]
    spec.beta = init.full(d_model)  # type: ignore[attr-defined]


def _linear(spec: object, rows: int, cols: int, std: float, init: _Init) -> None:
    spec.weight = init.normal(rows, cols, std=std)  # type: ignore[attr-defined]
    spec.bias = init.full(rows)  # type: ignore[attr-defined]


def _sinusoids(length: int, channels: int) -> NDArray[np.float32]:
    """Whisper's sinusoidal position embedding for the encoder."""
    scales = np.exp(-math.log(10000) / (channels // 2 - 1) * np.arange(channels // 2))
    times = np.arange(length)[:, None] * scales[None, :]
    return np.concatenate([np.sin(times), np.cos(times)], axis=1).astype(np.float32)


def _fill_encoder(spec: WhisperSpec, shape: WhisperShape, init: _Init) -> None:
    """Random encoder: two convolutions, sinusoidal positions, pre-norm layers."""
    d, enc = shape.d_model, spec.encoder
    enc.conv1.weight = init.normal(d, shape.n_mels, 3, std=1.0 / math.sqrt(3 * shape.n_mels))
    enc.conv1.bias = init.full(d)
    enc.conv2.weight = init.normal(d, d, 3, std=1.0 / math.sqrt(3 * d))
    enc.conv2.bias = init.full(d)
    enc.position_encodings.encodings = _sinusoids(shape.n_audio_ctx, d).astype(init.dtype)
    _layer_norm(enc.layer_norm, d, init)
    for layer in enc.layer:
        _layer_norm(layer.self_attention.layer_norm, d, init)
        _linear(layer.self_attention.linear[0], 3 * d, d, 0.02, init)
        _linear(layer.self_attention.linear[1], d, d, 0.02, init)
        _layer_norm(layer.ffn.layer_norm, d, init)
        _linear(layer.ffn.linear_0, shape.ffn_dim, d, 0.02, init)
        _linear(layer.ffn.linear_1, d, shape.ffn_dim, 0.02, init)


def _fill_decoder(spec: WhisperSpec, shape: WhisperShape, chain: _Chain, init: _Init) -> None:
    """Decoder: chain embeddings/projection, small random layers, the flag head in layer 0."""
    d, dec = shape.d_model, spec.decoder
    layout = VocabLayout(shape.num_languages)
    small = 1e-3 / math.sqrt(d)  # output weights of every sublayer: keep markers dominant
    dec.embeddings.weight = _embeddings(chain, shape.vocab_size, d, init)
    dec.position_encodings.encodings = init.normal(shape.n_text_ctx, d, std=0.01)
    _layer_norm(dec.layer_norm, d, init)
    dec.projection.weight, dec.projection.bias = _projection(chain, layout, d, init)
    for layer in dec.layer:
        _layer_norm(layer.self_attention.layer_norm, d, init)
        _linear(layer.self_attention.linear[0], 3 * d, d, 0.02, init)
        _linear(layer.self_attention.linear[1], d, d, small, init)
        _layer_norm(layer.attention.layer_norm, d, init)
        _linear(layer.attention.linear[0], d, d, 0.02, init)
        _linear(layer.attention.linear[1], 2 * d, d, 0.02, init)
        _linear(layer.attention.linear[2], d, d, small, init)
        _layer_norm(layer.ffn.layer_norm, d, init)
        _linear(layer.ffn.linear_0, shape.ffn_dim, d, 0.02, init)
        _linear(layer.ffn.linear_1, d, shape.ffn_dim, small, init)
    _flag_head(dec.layer[0].self_attention, chain, layout.no_timestamps, shape.n_heads)


# ------------------------------------------------------------------------------ builder


def _preprocessor_config(shape: WhisperShape) -> dict[str, object]:
    return {
        "chunk_length": 30,
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": shape.n_mels,
        "hop_length": 160,
        "n_fft": 400,
        "n_samples": 480000,
        "nb_max_frames": 3000,
        "padding_side": "right",
        "padding_value": 0.0,
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "sampling_rate": 16000,
    }


def build_whisper_model(
    out_dir: str | Path,
    *,
    shape: str = "test",
    tokens_per_window: int = 8,
    seed: int = 0,
    quantization: str | None = None,
) -> Path:
    """Write a random-weight CTranslate2 Whisper model into ``out_dir`` and return its path.

    Every 30-s window (or batched chunk) decodes to :func:`expected_text` of
    ``tokens_per_window``: with timestamps the tokens are ``<|0.00|>``, the words,
    ``<|END_TIMESTAMP|>`` (one segment ending :data:`END_TIMESTAMP` s after the window start);
    without them the words only. Language detection says "en" with probability ~1.

    Args:
      out_dir: directory to create or overwrite files in.
      shape: a key of :data:`SHAPES`; "test" is tiny and fast on CPU.
      tokens_per_window: number of words per window (1..:data:`MAX_TOKENS_PER_WINDOW`).
      seed: seed of the random weights.
      quantization: CTranslate2 weight type to store (e.g. "int8", "float16"); None keeps
        float32 for "test" and float16 for the real shapes.
    """
    dims = SHAPES[shape]
    words = chain_words(tokens_per_window)
    layout = VocabLayout(dims.num_languages)
    tokenizer = build_tokenizer(layout)
    word_ids = [tokenizer.token_to_id(_SPACE + word) for word in words]
    decoys = [tokenizer.token_to_id(f"pad{i:05d}") for i in range(_N_DECOYS)]
    chain = _plan_chain(layout, word_ids, decoys, dims.d_model)
    init = _Init(np.random.default_rng(seed), np.float16 if dims.float16 else np.float32)

    spec = WhisperSpec(dims.encoder_layers, dims.n_heads, dims.decoder_layers, dims.n_heads)
    _fill_encoder(spec, dims, init)
    _fill_decoder(spec, dims, chain, init)
    spec.register_vocabulary([tokenizer.id_to_token(i) for i in range(layout.size)])
    spec.config.suppress_ids = _suppress_ids(tokenizer)
    spec.config.suppress_ids_begin = [220, layout.eot]
    spec.config.lang_ids = [layout.sot + 1 + i for i in range(dims.num_languages)]
    layers = range(dims.decoder_layers // 2, dims.decoder_layers)
    spec.config.alignment_heads = [[i, h] for i in layers for h in range(dims.n_heads)]
    spec.validate()
    spec.optimize(quantization=quantization)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec.save(str(out))
    tokenizer.save(str(out / "tokenizer.json"))
    config = json.dumps(_preprocessor_config(dims), indent=2)
    (out / "preprocessor_config.json").write_text(config + "\n", encoding="utf-8")
    return out

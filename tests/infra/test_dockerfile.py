"""The images (``infra/docker/Dockerfile``), read for what only a build or a pod would show:
a base whose Python callscribe cannot run on, an image that runs as root, a GPU image
without CUDA 12 and cuDNN, a worker that would build the speaker model itself (with torch)
on first use, settings that callscribe does not have. hadolint lints the file
(``make deploy-check``); no Docker engine runs on these machines to build it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from callscribe.settings import check_environment

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "docker" / "Dockerfile"

#: The python3 that each known base's packages (or the image itself) give; a base not
#: listed fails the test, so a new base is looked up once, not guessed.
PYTHON_OF_BASE = {
    r"nvidia/cuda:.*-ubuntu24\.04$": (3, 12),
    r"nvidia/cuda:.*-ubuntu22\.04$": (3, 10),
    r"nvidia/cuda:.*-ubuntu20\.04$": (3, 8),
    r"^debian:bookworm(-slim)?$": (3, 11),
    r"^debian:bullseye(-slim)?$": (3, 9),
    r"^python:(\d+)\.(\d+)": None,  # the tag says
}


def stages() -> dict[str, dict[str, object]]:
    """Each stage: its base (build arguments resolved to their defaults) and its lines."""
    args: dict[str, str] = {}
    out: dict[str, dict[str, object]] = {}
    current: list[str] | None = None
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if match := re.match(r"ARG (\w+)=(\S+)$", line):
            args.setdefault(match[1], match[2])
        if match := re.match(r"FROM (\S+) AS (\S+)$", line):
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], match[1])
            current = []
            out[match[2]] = {"base": base, "lines": current}
        elif current is not None and line and not line.startswith("#"):
            current.append(line)
    return out


def python_of(base: str) -> tuple[int, int]:
    for pattern, version in PYTHON_OF_BASE.items():
        if match := re.search(pattern, base):
            return version or (int(match[1]), int(match[2]))
    raise AssertionError(f"base {base}: which python3 does it have? add it to PYTHON_OF_BASE")


def test_two_images_the_gpu_one_by_default() -> None:
    found = stages()
    assert {"gpu", "cpu", "speaker-model"} <= set(found)
    assert list(found)[-1] == "gpu"  # `docker build` without --target builds the last
    gpu = str(found["gpu"]["base"])
    assert re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+", gpu), gpu
    assert "cuda" not in str(found["cpu"]["base"])


@pytest.mark.parametrize("name", ["gpu", "cpu", "speaker-model"])
def test_every_base_has_a_python_callscribe_runs_on(name: str) -> None:
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    low = tuple(int(x) for x in re.fullmatch(r">=(\d+)\.(\d+)", wanted).groups())  # type: ignore[union-attr]
    base = str(stages()[name]["base"])
    assert python_of(base) >= low, f"{name}: {base} has Python {python_of(base)}, needs {wanted}"


def test_the_check_knows_an_old_base() -> None:
    assert python_of("nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04") < (3, 11)
    with pytest.raises(AssertionError, match="add it"):
        python_of("alpine:3.20")


@pytest.mark.parametrize("name", ["gpu", "cpu"])
def test_the_images_run_as_a_user_with_the_speaker_model_built_in(name: str) -> None:
    lines = [str(x) for x in stages()[name]["lines"]]  # type: ignore[attr-defined]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    assert lines.index(next(x for x in lines if x.startswith("USER "))) > max(
        i for i, x in enumerate(lines) if x.startswith(("RUN ", "COPY "))
    )  # nothing runs as root after it, and nothing after it needs root
    assert any(x.startswith("COPY --from=speaker-model /speaker /opt/speaker") for x in lines)
    env = dict(
        re.findall(r"(CALLSCRIBE_\w+)=(\S+)", " ".join(x for x in lines if x.startswith("ENV ")))
    )
    assert env["CALLSCRIBE_DIARIZATION__MODEL_DIR"] == "/opt/speaker"
    check_environment(env)  # each a real setting


def test_the_speaker_model_stage_takes_the_pinned_torch_from_the_cpu_index() -> None:
    from callscribe.workers.speakers.model import TORCH

    run = " ".join(str(x) for x in stages()["speaker-model"]["lines"])  # type: ignore[attr-defined]
    assert f'--index-url "${{TORCH_INDEX}}" {TORCH}' in run
    assert "speaker_model_file(Path('/speaker'))" in run
    assert "speaker_model_file(Path('/speaker'), 'int8')" in run  # calibrated on flite's speech
    assert "flite espeak-ng ffmpeg" in run
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in DOCKERFILE.read_text()


def test_the_gpu_image_runs_the_speaker_model_on_cuda() -> None:
    found = stages()
    gpu = " ".join(str(x) for x in found["gpu"]["lines"])  # type: ignore[attr-defined]
    cpu = " ".join(str(x) for x in found["cpu"]["lines"])  # type: ignore[attr-defined]
    assert "pip uninstall -y onnxruntime" in gpu and "'onnxruntime-gpu>=1.20,<2'" in gpu
    assert "onnxruntime-gpu" not in cpu

"""Which device a worker transcribes on, and what an hour of it costs (the price table in
the settings). The ledger these feed is ``callscribe.models.metering``."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess

from callscribe.models.metering import Device
from callscribe.settings import CostSection


@functools.cache
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


@functools.cache
def _gpu_name(index: int) -> str:
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", str(index)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        name = done.stdout.strip().splitlines()[0] if done.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired, IndexError):
        name = ""
    return name or f"cuda:{index}"


def detect_device(kind: str, index: int) -> Device:
    """Describe the device a resolved ``kind`` (cpu/cuda) and index point at."""
    name = _gpu_name(index) if kind == "cuda" else _cpu_name()
    return Device(kind, name, socket.gethostname())


def price_per_device_hour(cost: CostSection, device: Device) -> float:
    """The price table: an exact device name, else the default of its kind."""
    if device.name in cost.device_prices:
        return cost.device_prices[device.name]
    return cost.device_kind_prices.get(device.kind, 0.0)

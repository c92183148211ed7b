"""Run a test script in a subprocess whose CPU shows JAX two devices.

The device count is fixed when JAX starts, so sharding tests run their script in a fresh
interpreter with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``.
"""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["run_on_two_devices"]

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_on_two_devices(script: str, timeout: float = 600) -> None:
    """Run ``script`` on two CPU devices; assert it exits cleanly and prints ``ok`` last."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": _ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=_ROOT, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok"), out.stdout[-3000:]

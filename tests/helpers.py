"""What many test modules share: the repository's paths, the command line as users run it, and skips
for the real weights in ``../shared`` (which tests use only when present)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = ROOT / "instances" / "synthetic"
WEIGHTS = ROOT.parent / "shared" / "weights"
RESNET20 = WEIGHTS / "resnet_cifar10_akamaster" / "resnet20-12fca82f.th"


def mapopt(*args, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m mapopt.cli`` as a user would run ``mapopt``; with `ok`, it must succeed."""
    proc = subprocess.run([sys.executable, "-m", "mapopt.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The one stderr line of a command that failed on bad input (exit status 2, no traceback)."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def real_file(path: Path) -> Path:
    """`path`, or skip the test when the real weights are not checked out beside the repository."""
    if not path.is_file():
        pytest.skip(f"real weights not available: {path} is absent (shared/weights not checked out)")
    return path

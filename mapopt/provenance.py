"""What every report records so that its run can be repeated and its inputs recognised: mapopt's version,
the input file and its SHA-256, and the run's settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import __version__


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, so a report or an instance names exactly the bytes it came from."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def settings(source: str | Path, **run) -> dict:
    """``{"mapopt": version, "input": path, "input_sha256": hash, **run}``; a directory is hashed by its network
    index (None without one)."""
    path = Path(source)
    hashed = path / "index.json" if path.is_dir() else path
    return {"mapopt": __version__, "input": str(path), "input_sha256": sha256(hashed) if hashed.is_file() else None,
            **run}

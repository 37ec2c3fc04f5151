"""The embedded-model resolver: joining, checksum markers and the errors users see.

All of these use fake parts in temporary directories; the real cache is only read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from backend.engines import embedded
from backend.engines.embedded import (
    EMBEDDED,
    EmbeddedModelError,
    FoundPart,
    ModelSpec,
    Part,
    describe_models,
    ensure_embedded,
    read_marker,
    resolve_model,
)

CHUNKS = [b"GGUF" + bytes(range(i, i + 60)) for i in range(3)]


def make_spec(data: bytes, sha: str | None = None) -> ModelSpec:
    return ModelSpec(
        name="fake",
        title="Fake model",
        license="MIT",
        filename="fake.gguf",
        size=len(data),
        sha256=sha or hashlib.sha256(data).hexdigest(),
        parts=tuple(Part(f"fake-part{i}", "1.0", f"fake_part{i}/data/part{i:02d}.bin") for i in range(1, 4)),
    )


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Installs fake parts: find_part locates them under tmp_path/site; returns (spec, cache dir)."""
    site = tmp_path / "site"
    installed: dict[str, str] = {}
    spec = make_spec(b"".join(CHUNKS))
    for part, chunk in zip(spec.parts, CHUNKS, strict=True):
        path = site / part.file
        path.parent.mkdir(parents=True)
        path.write_bytes(chunk)
        installed[part.dist] = "1.0"

    def find_part(part: Part) -> FoundPart:
        if part.dist not in installed:
            return FoundPart(part, None, None)
        path = site / part.file
        return FoundPart(part, installed[part.dist], path if path.is_file() else None)

    monkeypatch.setattr(embedded, "find_part", find_part)
    return spec, tmp_path / "cache", installed, site


def test_joins_parts_in_order_and_writes_a_marker(parts):
    spec, cache, _, _ = parts
    path = ensure_embedded(spec, cache=cache, progress=False)
    assert path == cache / "models" / "fake.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert read_marker(path) == spec.sha256
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".part")]  # no temp file left


def test_reuses_the_joined_file_without_rehashing(parts, monkeypatch):
    spec, cache, _, _ = parts
    ensure_embedded(spec, cache=cache, progress=False)

    def no_hash(*a, **k):
        raise AssertionError("a good cached file must not be re-hashed")

    monkeypatch.setattr(embedded, "sha256_file", no_hash)
    monkeypatch.setattr(embedded, "_join", no_hash)
    assert ensure_embedded(spec, cache=cache, progress=False).is_file()


def test_verify_rehashes_and_deletes_a_corrupted_file(parts, caplog):
    spec, cache, _, _ = parts
    path = ensure_embedded(spec, cache=cache, progress=False)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))  # same size; the marker's mtime no longer matches
    assert read_marker(path) is None
    again = ensure_embedded(spec, cache=cache, verify=True, progress=False)  # deleted, then joined again
    assert again.read_bytes() == b"".join(CHUNKS)
    assert "deleted" in caplog.text


def test_missing_part_names_the_pip_command(parts):
    spec, cache, installed, _ = parts
    del installed["fake-part2"]
    with pytest.raises(EmbeddedModelError, match=r"pip install 'fake-part2==1.0'"):
        ensure_embedded(spec, cache=cache, progress=False)
    assert not (cache / "models" / "fake.gguf").exists()


def test_wrong_version_is_refused(parts):
    spec, cache, installed, _ = parts
    installed["fake-part3"] = "2.0"
    with pytest.raises(EmbeddedModelError, match=r"fake-part3 2.0 is installed but 1.0 is needed"):
        ensure_embedded(spec, cache=cache, progress=False)


def test_checksum_mismatch_deletes_the_joined_bytes(parts):
    spec, cache, _, _ = parts
    bad = ModelSpec(**{**spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(EmbeddedModelError, match="temporary file was deleted"):
        ensure_embedded(bad, cache=cache, progress=False)
    leftovers = list((cache / "models").iterdir())
    assert leftovers == []


def test_wrong_total_size_is_caught_before_joining(parts):
    spec, cache, _, site = parts
    (site / spec.parts[0].file).write_bytes(b"short")
    with pytest.raises(EmbeddedModelError, match="add up to"):
        ensure_embedded(spec, cache=cache, progress=False)


def test_resolve_model_passes_paths_and_ids_through(tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf)) == str(gguf)
    assert resolve_model("Qwen/Qwen2.5-0.5B-Instruct") == "Qwen/Qwen2.5-0.5B-Instruct"
    assert resolve_model(str(tmp_path)) == str(tmp_path)  # a local HF directory
    monkeypatch.setattr(embedded, "ensure_embedded", lambda cache=None: Path("/x/embedded.gguf"))
    for alias in (None, "embedded", "default", EMBEDDED.name):
        assert resolve_model(alias) == "/x/embedded.gguf"


def test_describe_models_statuses(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "find_part", lambda p: FoundPart(p, None, None))
    (row,) = describe_models(tmp_path)
    assert row["status"] == "missing parts"
    assert row["license"] == "Apache-2.0" and row["default"]
    monkeypatch.setattr(embedded, "find_part", lambda p: FoundPart(p, p.version, tmp_path / "x"))
    assert describe_models(tmp_path)[0]["status"] == "not joined yet"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "other.gguf").write_bytes(b"GGUF0000")
    rows = describe_models(tmp_path)
    assert [r["name"] for r in rows] == [EMBEDDED.name, "other"]
    assert rows[1]["status"] == "ready" and rows[1]["size"] == 8


def test_real_parts_are_installed_with_pinned_versions():
    found = embedded.find_parts(EMBEDDED)
    if all(fp.version is None for fp in found):
        pytest.skip("the embedded model's parts are not installed")
    assert [fp.problem for fp in found] == [None] * 6
    assert sum(fp.path.stat().st_size for fp in found) == EMBEDDED.size

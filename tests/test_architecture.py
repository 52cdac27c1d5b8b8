"""The layers import downward only: indexer <- search_api <- (wsis_cli, evaluation). Walks every module's
imports (top-level and inside functions) with the ast module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what each package may import of the project's own packages
ALLOWED = {
    "indexer": {"indexer"},
    "search_api": {"indexer", "search_api"},
    "evaluation": {"indexer", "search_api", "evaluation"},
    "wsis_cli": {"indexer", "search_api", "evaluation", "wsis_cli"},
}
# the indexer modules the server may use: the index format and its readers, the tagger's public API, the
# query encoders, settings and the shared vocabularies; never the build pipeline's stages
SERVER_MAY_USE = {"indexer", "indexer.index", "indexer.passage_index", "indexer.milvus", "indexer.tag",
                  "indexer.embed", "indexer.onnx_encoder", "indexer.settings", "indexer.actionlines",
                  "indexer.models", "indexer.substance", "indexer.columns"}


def imports_of(path: Path, package: str) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = path.relative_to(ROOT).with_suffix("").parts
    pkg = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg[:len(pkg) - node.level + 1])
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.add(name)
            for a in node.names:  # `from indexer import build` imports the module indexer.build
                sub = ROOT.joinpath(*name.split("."), a.name)
                if sub.with_suffix(".py").exists() or (sub / "__init__.py").exists():
                    out.add(f"{name}.{a.name}")
    return out


def project_modules():
    for package in ALLOWED:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


@pytest.mark.parametrize("package,path", list(project_modules()), ids=lambda v: str(v).rsplit("/work/", 1)[-1])
def test_imports_point_downward(package, path):
    for name in imports_of(path, package):
        top = name.split(".")[0]
        if top in ALLOWED:
            assert top in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}: {package} may not import {top}"


def test_server_uses_the_index_format_not_the_pipeline():
    for path in sorted((ROOT / "search_api").rglob("*.py")):
        for name in imports_of(path, "search_api"):
            if name.split(".")[0] == "indexer":
                assert name in SERVER_MAY_USE, f"{path.relative_to(ROOT)} imports {name}"


def test_the_walk_sees_relative_and_nested_imports(tmp_path, monkeypatch):
    fake = ROOT / "indexer" / "_probe_for_test.py"
    fake.write_text("def f():\n    from search_api import engine\n    from . import build\n")
    try:
        assert {"search_api", "search_api.engine", "indexer.build"} <= imports_of(fake, "indexer")
        assert "indexer.tag" in imports_of(ROOT / "indexer" / "build.py", "indexer")
    finally:
        fake.unlink()

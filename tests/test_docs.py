"""README, CLI help and behaviour agree."""

from __future__ import annotations

import re
from pathlib import Path

from wsis_cli.main import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


def test_every_subcommand_and_option_is_in_the_readme():
    for name, sub in _subparsers().items():
        assert f"wsis {name}" in README, name
        for act in sub._actions:
            for opt in act.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in README, f"wsis {name} {opt} is not documented in README.md"


def test_readme_commands_exist():
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", README, re.M):
        assert re.search(rf"^{target}:", makefile, re.M), target
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci


def test_settings_in_readme_exist():
    from indexer.settings import Settings

    fields = set(Settings.model_fields)
    for env in re.findall(r"`WSIS_([A-Z_]+)`", README):
        name = env.lower()
        if name.startswith("chunk_") or name in {"backend", "milvus_uri"}:
            continue
        assert name in fields, f"README documents WSIS_{env}, which is not a setting"

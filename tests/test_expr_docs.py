"""Requirement 7: docs/expressions.md is generated from the registry and up to date."""
from __future__ import annotations

import os
from datetime import datetime

import pytest

from engine.expr import evaluate
from engine.expr.docs import DOC_PATH, generate, show
from engine.expr.functions import FUNCTIONS

NAMES = FUNCTIONS.names()


def test_the_doc_file_is_up_to_date():
    with open(DOC_PATH, encoding="utf-8") as f:
        assert f.read() == generate(), "run: python -m engine.expr.docs"


@pytest.mark.parametrize("name", NAMES)
def test_function_is_documented_with_signature_semantics_and_example(name):
    f = FUNCTIONS.get(name)
    assert f.signature.startswith(name + "(")
    assert len(f.doc) > 10 and f.example and f.returns
    assert f"\n#### {name}\n" in generate()


@pytest.mark.parametrize("name", NAMES)
def test_documented_example_gives_the_documented_result(name):
    f = FUNCTIONS.get(name)
    assert show(evaluate(f.example, {}, now=datetime(2024, 3, 15, 10, 30))) == f.returns


def test_overview_covers_the_language():
    text = generate()
    for heading in ("## References", "## Types", "## Coercion", "## Operators", "## Errors",
                    "## Limits", "## SQL subset", "## Functions"):
        assert heading in text


def test_docs_module_writes_the_file(tmp_path):
    from engine.expr.docs import main
    target = tmp_path / "x.md"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == generate()
    assert os.path.exists(DOC_PATH)

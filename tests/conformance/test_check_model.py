"""``skillgap check-model`` on conformance models, on the embedded model, and on a broken folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from family_models import FamilyModels, family_params

from skillgap.cli import main

pytestmark = pytest.mark.slow

CHECKS = ("load", "chat template", "image tokens", "batched = single", "constraint read_expression",
          "constraint solve_expression", "cot parse (rendered_text)", "constraint list_objects",
          "constraint count_objects", "cot parse (counting)", "constraint read_cards",
          "constraint score_blackjack", "cot parse (cards)")


@pytest.mark.parametrize("family", family_params())
def test_check_model_checks_pass_on_every_family(families: FamilyModels, family: str):
    from skillgap.cli.check_model import check_backend

    # The checks check-model runs after loading, on the session's loaded backend (the CLI path,
    # load included, is the next test's).
    checks = {check.name: check for check in check_backend(families.backend(family), "free")}
    assert set(checks) == set(CHECKS) - {"load"}, sorted(checks)
    failed = {name: (check.detail, check.hint) for name, check in checks.items() if check.verdict != "pass"}
    assert failed == {}


def test_check_model_cli_passes_on_a_conformance_model(
    families: FamilyModels, capsys: pytest.CaptureFixture[str]
):
    assert main(["check-model", str(families.folder("gemma3"))]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0].strip(): line for line in out.splitlines()}
    for check in CHECKS:
        assert check in rows and " pass " in rows[check], (check, out)
    assert out.rstrip().splitlines()[-1].startswith("OK")


def test_check_model_on_the_embedded_model(capsys: pytest.CaptureFixture[str]):
    code = main(["check-model"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "LlavaForConditionalGeneration" in out


def test_check_model_reports_a_missing_chat_template_with_a_hint(
    families: FamilyModels, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    folder = tmp_path / "no-template"
    shutil.copytree(families.folder("llava"), folder)
    (folder / "chat_template.jinja").unlink()
    assert main(["check-model", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "chat template" in out and "hint: add chat_template.jinja" in out
    assert "NOT READY" in out


def test_check_model_fails_fast_on_an_uncached_hub_id(capsys: pytest.CaptureFixture[str]):
    assert main(["check-model", "no-such-org/no-such-model-xyz"]) == 1
    out = capsys.readouterr().out
    assert "not in the local Hugging Face cache" in out and "--allow-download" in out

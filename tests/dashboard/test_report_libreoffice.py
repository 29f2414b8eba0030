"""Acceptance 4: real spreadsheet software (LibreOffice, headless) opens the XLSX and prints it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from dashboard.report.pack import build_pack
from tests.fixtures.report_world import classified, shared

SOFFICE = shutil.which("soffice")


@pytest.mark.slow
@pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice is installed by tests/setup/system_deps.sh"
)
def test_libreoffice_converts_the_xlsx_and_shows_the_values(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = shared(tmp_path_factory)
    pack = build_pack(classified(root), "2026-09", ("xlsx",), tmp_path / "pack")
    xlsx = pack.files["xlsx"][0]
    out = tmp_path / "converted"
    profile = (tmp_path / "lo-profile").as_uri()  # own profile: parallel runs do not clash
    done = subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(out), str(xlsx)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pdf = out / "finops-2026-09.pdf"
    assert pdf.exists(), done.stdout + done.stderr
    text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
    # LibreOffice computed nothing: the figures it prints are the values we wrote, formatted
    assert "9,818.68" in text  # the month's total billed, with the currency format applied
    assert "11,340.74" in text
    # the injected tag prints as text, not as a link or a computed value
    assert '=HYPERLINK("http://x","y")' in text
    assert "-2+3" in text

"""The files ``antiphon osc-patches`` writes, by their path inside the output folder, and writing them."""

from __future__ import annotations

import json
from pathlib import Path

from agent import paths
from agent.osc.patches.folders import MAX_PACKAGE, NAME, OVERVIEW, PD_FOLDER, REFPAGE
from agent.osc.patches.max_package import maxref, package_info
from agent.osc.patches.max_patcher import max_help, max_overview, max_patch
from agent.osc.patches.pd_patch import pd_help, pd_patch
from agent.osc.patches.readmes import max_readme, pd_readme, top_readme


def _json_text(data: dict) -> str:
    """A JSON file's text (package-info.json and the patchers): one-space indents, a final newline."""
    return json.dumps(data, indent=1) + "\n"


def patch_files() -> dict[Path, str]:
    """Relative path -> content of every file ``antiphon osc-patches`` writes (all of maxpatches/)."""
    return {
        Path("README.md"): top_readme(),
        MAX_PACKAGE / "package-info.json": _json_text(package_info()),
        MAX_PACKAGE / "README.md": max_readme(),
        MAX_PACKAGE / "patchers" / f"{NAME}.maxpat": _json_text(max_patch()),
        MAX_PACKAGE / "help" / f"{NAME}.maxhelp": _json_text(max_help()),
        MAX_PACKAGE / REFPAGE: maxref(),
        MAX_PACKAGE / "extras" / OVERVIEW: _json_text(max_overview()),
        PD_FOLDER / f"{NAME}.pd": pd_patch(),
        PD_FOLDER / f"{NAME}-help.pd": pd_help(),
        PD_FOLDER / "README.md": pd_readme(),
    }


def write_patches(folder: Path = paths.MAXPATCHES_DIR) -> list[Path]:
    """Write every file of :func:`patch_files` under ``folder``; returns their paths. Files already
    there that are not among them are left alone (a test checks that maxpatches/ holds no others)."""
    written = []
    for relative, text in patch_files().items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written

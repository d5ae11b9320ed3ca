"""The READMEs ``antiphon osc-patches`` writes: the output folder's (what is there, how to install
each), the Max package's and the Pd folder's, built from shared sections (the protocol, how to
install in Max, how to install in Pd)."""

from __future__ import annotations

from agent import __version__
from agent.osc.patches.abstraction import AGENT, REPLY_PORT, SERVER_HOST, SERVER_PORT
from agent.osc.patches.folders import MAX_PACKAGE, MAX_VERSION_MIN, NAME, OVERVIEW, PD_FOLDER, PD_VERSION_MIN, REFPAGE

GENERATED_NOTE = ("Written by `antiphon osc-patches` from the OSC address table (`agent/osc/table.py`); do not edit by hand: a test\n"
                  "regenerates it and compares.\n")


def _install_max(where: str) -> list[str]:
    return [
        f"## Max {MAX_VERSION_MIN.split('.')[0]} or later: the package `{where}`",
        "",
        "1. Copy or symlink the package folder into Max's Packages folder (the link keeps it in step with the repository);",
        "   from the repository folder, on macOS (Max 8: `Max 8/Packages`):",
        "",
        '       mkdir -p "$HOME/Documents/Max 9/Packages"',
        f'       ln -s "$PWD/{where}" "$HOME/Documents/Max 9/Packages/{NAME}"',
        "",
        f"   On Windows, copy the folder to `Documents\\Max 9\\Packages\\{NAME}` (Max 8: `Documents\\Max 8\\Packages`).",
        "2. Restart Max.",
        f"3. Open *Extras > {OVERVIEW.removesuffix('.maxpat')}*: what the agent is, how to start the server, every address.",
        f"4. Type `{NAME}` in an object box: the abstraction; its help (Alt/Option-click) and reference (right-click) come with it.",
        "",
    ]


def _install_pd(where: str) -> list[str]:
    return [
        f"## Pure Data {PD_VERSION_MIN} or later (vanilla): the abstraction folder `{where}`",
        "",
        f"1. Add the folder to Pd's search path: *Preferences > Path*, add the absolute path of `{where}`, or, in one",
        f"   patch only, create `[declare -path /absolute/path/to/{where}]` (a path relative to the patch works too).",
        f"2. Create `[{NAME}]` in a patch; right-click > Help opens `{NAME}-help.pd`.",
        "",
    ]


def _protocol_lines() -> list[str]:
    return [
        f"The abstraction sends OSC to {SERVER_HOST}:{SERVER_PORT} and listens on {REPLY_PORT}, the defaults of `antiphon serve`",
        f"(`--osc-port`, `--reply-port`); `connect <host> <port>` and `listen <port>` into its inlet change them. Its controls",
        f"address the agent `{AGENT}`; any other message into the inlet is sent as OSC as it is (`/antiphon/<agent>/gain -6`), and its",
        "outlet gives every message received. Start the server first: `bash scripts/setup.sh` once, then `.venv/bin/antiphon serve`",
        "in the repository folder. The addresses: `docs/osc.md`.",
        "",
    ]


def _markdown(lines: list[str]) -> str:
    """The lines as a file's text: joined, ending in exactly one newline."""
    return "\n".join(lines).rstrip("\n") + "\n"


def _folder_readme(title: str, install: list[str]) -> str:
    """The README of one folder (the Max package or the Pd folder): title, note, protocol, how to install it."""
    return _markdown([f"# {title} (version {__version__})", "", GENERATED_NOTE, *_protocol_lines(), *install])


def top_readme() -> str:
    """``README.md`` of the output folder: what is there, how to install each."""
    return _markdown([
        "# maxpatches/",
        "",
        GENERATED_NOTE,
        f"- `{MAX_PACKAGE}/`: a Max package: the `[{NAME}]` abstraction (`patchers/`), its help patch (`help/`), its reference",
        f"  page (`{REFPAGE.parent}/`), an overview in Max's Extras menu (`extras/{OVERVIEW}`) and `package-info.json`.",
        f"- `{PD_FOLDER}/`: a Pure Data abstraction folder: `{NAME}.pd`, its help `{NAME}-help.pd` and a README.",
        "",
        *_protocol_lines(),
        *_install_max(f"maxpatches/{MAX_PACKAGE}"),
        *_install_pd(f"maxpatches/{PD_FOLDER}"),
    ])


def max_readme() -> str:
    """``README.md`` of the Max package."""
    return _folder_readme(f"{NAME}: a Max package for Antiphon", _install_max(f"maxpatches/{MAX_PACKAGE}"))


def pd_readme() -> str:
    """``README.md`` of the Pd abstraction folder."""
    return _folder_readme(f"{NAME}: a Pure Data abstraction for Antiphon", _install_pd(f"maxpatches/{PD_FOLDER}"))

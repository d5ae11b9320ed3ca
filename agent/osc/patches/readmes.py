"""The READMEs ``antiphon osc-patches`` writes: the output folder's (what is there, how to install
each), the Max package's and the Pd folder's, built from shared sections (the protocol, how the
arranger's notes are played, how to install in Max, how to install in Pd)."""

from __future__ import annotations

from agent import __version__
from agent.osc.patches.abstraction import (
    AGENT, NOTE_ATTACK_MS, NOTE_DEFAULTS, NOTE_EVENT, NOTE_GAIN, NOTE_RELEASE_MS, NOTE_VOICES, REPLY_PORT, SERVER_HOST, SERVER_PORT,
)
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
        "(`--osc-port`, `--reply-port`); `connect <host> <port>` and `listen <port>` into its inlet change them. Its controls",
        f"address the agent `{AGENT}`; any other message into the inlet is sent as OSC as it is (`/antiphon/<agent>/gain -6`), and its",
        "outlet gives every message received. Start the server first: `bash scripts/setup.sh` once, then `.venv/bin/antiphon serve`",
        "in the repository folder. The addresses: `docs/osc.md`.",
        "",
    ]


def _notes_lines() -> list[str]:
    """How the abstraction plays an arranger agent's notes, in both hosts (the MIDI and the audio path)."""
    velocity, duration = NOTE_DEFAULTS.split()
    return [
        "## The arranger's notes",
        "",
        "An arranger agent plays notes instead of audio grains and sends each one, as it starts to sound, on",
        f"`/antiphon/{NOTE_EVENT} <agent> <pitch> <velocity> <duration ms>`. The abstraction plays the notes of every agent",
        "(as it shows every agent's events), in two ways at once:",
        "",
        "- MIDI: `[unpack]` -> `[makenote]` (the note's own velocity and duration; the note-off comes after the duration) ->",
        "  `[noteout]` (Max) / `[noteout 1]` (Pd), to whatever MIDI output the host is set to: choose a synth there (Max:",
        "  *Options > MIDI Setup*; Pd: *Preferences > MIDI*, or start Pd with `-midioutdev N`).",
        f"- Audio: a sine synth of {NOTE_VOICES} voices: `[makenote]` -> `[poly {NOTE_VOICES} 1]` (a voice per note; a note",
        f"  beyond {NOTE_VOICES} takes the oldest) -> `[route 1 .. {NOTE_VOICES}]` -> per voice `[mtof]` -> `[cycle~]` (Max) /",
        "  `[osc~]` (Pd) times an envelope (`[line~]` / `[vline~]`: up to velocity/127",
        f"  in {NOTE_ATTACK_MS} ms at the note-on, down to 0 in {NOTE_RELEASE_MS} ms at the note-off) -> `[*~ {NOTE_GAIN:g}]` (a number",
        "  box beside it sets the gain) -> both channels of `[ezdac~]` (Max: click it to turn audio on) / `[dac~]` (Pd:",
        "  click the `; pd dsp 1` message box beside it).",
        "",
        f"`[makenote {velocity} {duration}]`'s arguments are only its defaults: every note brings its own velocity and duration.",
        "The server also plays the notes on the agent's output channel; the patch's synth sounds where the patch runs (a gain",
        "of 0 silences it).",
        "",
    ]


def _markdown(lines: list[str]) -> str:
    """The lines as a file's text: joined, ending in exactly one newline."""
    return "\n".join(lines).rstrip("\n") + "\n"


def _folder_readme(title: str, install: list[str]) -> str:
    """The README of one folder (the Max package or the Pd folder): title, note, protocol, how to install it."""
    return _markdown([f"# {title} (version {__version__})", "", GENERATED_NOTE, *_protocol_lines(), *_notes_lines(), *install])


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
        *_notes_lines(),
        *_install_max(f"maxpatches/{MAX_PACKAGE}"),
        *_install_pd(f"maxpatches/{PD_FOLDER}"),
    ])


def max_readme() -> str:
    """``README.md`` of the Max package."""
    return _folder_readme(f"{NAME}: a Max package for Antiphon", _install_max(f"maxpatches/{MAX_PACKAGE}"))


def pd_readme() -> str:
    """``README.md`` of the Pd abstraction folder."""
    return _folder_readme(f"{NAME}: a Pure Data abstraction for Antiphon", _install_pd(f"maxpatches/{PD_FOLDER}"))

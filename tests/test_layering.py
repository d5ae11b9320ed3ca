"""The package's layering: no module imports a layer above its own (lazy imports in functions included).

From the bottom: shared helpers; perception and the demo renderers; corpora; playback (grain
selection, rendering); listening metrics; decision models (training, evaluation); the model loader
and the arranger (chords, beats, texture; offline) and the loop generator; the live engine and the studies; OSC; serving; the command line. The engine may use decision code
through the model loader, never the other way round; studies and the engine never import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

AGENT = Path(__file__).resolve().parent.parent / "agent"

LAYERS: dict[str, int] = {
    "errors": 0, "paths": 0, "files": 0, "audio_io": 0, "audio_augment": 0, "chunking": 0, "codebook": 0, "pairs": 0, "plots": 0, "resume_state": 0, "cli_types": 0, "distributed": 0, "piece_bootstrap": 0,
    "perception": 1, "demo": 1,
    "corpus": 2,
    "playback": 3,
    "listening": 4,
    "decision": 5,
    "model_loader": 6, "arranger": 6, "loops": 6,
    "engine": 7, "studies": 7,
    "osc": 8,
    "serving": 9,
    "cli": 10, "__main__": 10,
}


def top_part(module: str) -> str | None:
    """``agent.engine.voice`` -> ``engine``; None outside the package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "agent" and len(parts) > 1 else None


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if node.module == "agent")
    return found


def test_every_part_of_the_package_has_a_layer() -> None:
    parts = {p.stem if p.is_file() else p.name for p in AGENT.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p.is_dir() and any(p.glob("*.py")))}
    assert parts == set(LAYERS), parts ^ set(LAYERS)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for path in sorted(AGENT.rglob("*.py")):
        rel = path.relative_to(AGENT)
        own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if own == "__init__":
            continue
        for module in imports_of(path):
            other = top_part(module)
            if other is None or other == own or other not in LAYERS:
                continue
            if LAYERS[other] > LAYERS[own] or {own, other} == {"engine", "studies"}:
                upward.append(f"{rel} imports {module} ({own} is layer {LAYERS[own]}, {other} is {LAYERS[other]})")
    assert not upward, "\n".join(upward)

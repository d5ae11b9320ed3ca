"""A model folder to what plays it: the decision model and the perception it was trained with.

The live engine, rehearsal and evaluation all build their parts here, so the engine never imports
evaluation code. ``load_model`` (agent/decision/checkpoint.py) reads and checks the folder; the
perception backend is rebuilt from the identity the model recorded (backend, checkpoint, layer)
and refused when its dimension or weights differ from it.
"""

from __future__ import annotations

from pathlib import Path

from agent.decision.checkpoint import DecisionBundle, load_model
from agent.errors import AntiphonError
from agent.perception import PerceptionBackend, PerceptionConfig, load_perception


def model_perception_config(bundle: DecisionBundle) -> PerceptionConfig:
    """How the corpus a model was trained on was perceived (backend, checkpoint, layer)."""
    p = bundle.corpus_meta["perception"]
    layer = p.get("layer") if p.get("layer") is not None else -1
    return PerceptionConfig(backend=p["backend"], checkpoint=p.get("checkpoint"), layer=layer)


def model_perception(bundle: DecisionBundle) -> PerceptionBackend:
    """The perception backend a model was trained with, checked against its recorded identity."""
    p = bundle.corpus_meta["perception"]
    perception = load_perception(model_perception_config(bundle))
    identity = perception.identity()
    if identity.get("dim") != p.get("dim") or identity.get("checkpoint_sha256") != p.get("checkpoint_sha256"):
        raise AntiphonError(f"perception {p.get('checkpoint') or p['backend']} is not the one model {bundle.path} was trained with (dimension or weights differ)")
    return perception


def load_model_and_perception(model_dir: Path) -> tuple[DecisionBundle, PerceptionBackend]:
    """A model folder's decision model and its perception (one-line errors)."""
    bundle = load_model(Path(model_dir))
    return bundle, model_perception(bundle)

"""The engine's playing settings: each declared once, here, with its type, range, unit and help.

``EngineConfig`` is a frozen dataclass whose every field carries a ``SettingSpec`` (``setting``):
the dataclass validates itself from them, and the rest is derived from them too: the OSC address
table's agent settings (``agent/osc/table.py``, hence docs/osc.md and the Max/Pd patches), the
command-line options of ``rehearse`` and ``serve`` (``cli_flag``, agent/cli.py) and the OSC
server's setting handler.
"""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

from agent.chunking import HOP_RANGE_S
from agent.errors import AntiphonError
from agent.playback.grain_selection import DEFAULT_TABOO_GRAINS


@dataclass(frozen=True)
class SettingSpec:
    """What one setting accepts and how it is offered."""

    low: float
    high: float
    help: str
    unit: str = ""  # shown after numbers (the field's name carries it too: crossfade_ms, gain_db)
    osc: str | None = None  # /antiphon/<agent>/<osc> changes it live; None: not over OSC
    osc_arg: str = "value"  # the OSC argument's name
    also: tuple[float, ...] = ()  # values accepted outside [low, high] (hop 0 = the model's own)
    cli: bool = True  # an option of rehearse and serve (--field-name)

    def range_text(self) -> str:
        also = "".join(f" or {_number(v)}" for v in self.also)
        return f"{_number(self.low)} to {_number(self.high)}{also}{' ' + self.unit if self.unit else ''}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def setting(default: Any, low: float, high: float, help: str, **spec: Any) -> Any:  # noqa: A002 - the word the docs use
    """A dataclass field declaring one setting (see ``SettingSpec``)."""
    return field(default=default, metadata={"setting": SettingSpec(low, high, help, **spec)})


@dataclass(frozen=True)
class EngineConfig:
    """How the agent plays."""

    crossfade_ms: float = setting(20.0, 5.0, 100.0, "equal-power crossfade between grains", unit="ms", osc="crossfade", osc_arg="ms")
    gain_db: float = setting(0.0, -60.0, 12.0, "output gain of the answer", unit="dB", osc="gain", osc_arg="db")
    temperature: float = setting(0.7, 0.0, 5.0, "sampling temperature of the choice (0 = always the best: greedy)", osc="temperature")
    top_p: float = setting(0.9, 0.01, 1.0, "nucleus sampling: keep the best choices up to this probability mass", osc="top_p")
    taboo_grains: int = setting(DEFAULT_TABOO_GRAINS, 0, 1000, "a grain played within this many slots is not chosen again (unless it continues the last one)",
                                osc="taboo", osc_arg="grains")
    output_lead_ms: float = setting(80.0, 0.0, 2000.0, "how far ahead of the play head a decision lands (latency = block + lead)", unit="ms")
    muted: bool = setting(False, 0, 1, "1 silences the answer (it keeps listening and deciding), 0 brings it back", osc="mute", osc_arg="on", cli=False)
    seed: int = setting(0, 0, 2**31 - 1, "seed of the sampling (a rehearsal is deterministic under it)")
    hop_s: float = setting(0.0, HOP_RANGE_S[0], HOP_RANGE_S[1], "decision rate: one decision and one grain slot per hop "
                           "(0 = the model's own hop; uniform chunking only)", unit="s", osc="hop", osc_arg="seconds", also=(0.0,))

    def __post_init__(self) -> None:
        for f in fields(self):
            check_setting(f, getattr(self, f.name))

    @property
    def gain(self) -> float:
        return 10.0 ** (self.gain_db / 20.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spec_of(f: Field) -> SettingSpec:
    return f.metadata["setting"]


def check_setting(f: Field, value: Any) -> None:
    """One setting's value against its declaration (type, then range); a one-line AntiphonError."""
    spec = spec_of(f)
    kind = field_type(f)
    ok_type = isinstance(value, bool) if kind is bool else (not isinstance(value, bool) and isinstance(value, int if kind is int else (int, float)))
    if not ok_type:
        raise AntiphonError(f"{f.name} must be {'a whole number' if kind is int else ('true or false' if kind is bool else 'a number')}, got {value!r}")
    if kind is not bool and not (spec.low <= value <= spec.high or value in spec.also):
        raise AntiphonError(f"{f.name} must be {spec.range_text()}, got {value}")


def setting_fields() -> tuple[Field, ...]:
    """Every setting, in declaration order."""
    return fields(EngineConfig)


def field_type(f: Field) -> type:
    """float, int or bool (annotations are strings under ``from __future__ import annotations``)."""
    return f.type if isinstance(f.type, type) else {"float": float, "int": int, "bool": bool}[f.type]


def cli_flag(f: Field) -> str:
    """The command-line option of a setting: ``--crossfade-ms`` for ``crossfade_ms``."""
    return "--" + f.name.replace("_", "-")

"""Where evaluation places each answer (as live: a decision made after chunk t sounds at chunk t+1),
the no-training reference, and card sections: small cases whose right answer is known."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.codebook import Codebook
from agent.decision.listening_rows import on_chunks
from agent.decision.model_card import set_card_section
from agent.listening.answers import GrainPlayer, context_lookup_grains, nearest_answer_grains
from agent.listening.take import Take


@dataclass
class FakeGrains:
    piece: np.ndarray
    start_sample: np.ndarray
    end_sample: np.ndarray
    feature: np.ndarray
    source_feature: np.ndarray

    def __len__(self) -> int:
        return len(self.piece)


@dataclass
class FakeCorpus:
    grains: FakeGrains
    codebook: Codebook
    audio: tuple
    audio_rate_hz: int = 16_000


def corpus() -> FakeCorpus:
    """Two pieces of 4 grains of 100 samples; grain g's audio is the constant g + 1, its source
    feature is g (1-D), its answer feature 10 g."""
    piece = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    start = np.array([0, 100, 200, 300, 0, 100, 200, 300])
    audio = tuple(np.repeat(np.arange(4 * p + 1, 4 * p + 5, dtype=np.float32), 100) for p in range(2))
    g = np.arange(8, dtype=np.float32)[:, None]
    cb = Codebook(np.zeros((16, 1), np.float32), np.zeros(1, np.float32), np.ones(1, np.float32))
    return FakeCorpus(FakeGrains(piece, start, start + 100, 10 * g, g), cb, audio)


def take(source: list[float], target: list[float]) -> Take:
    n = len(source)
    bounds = np.stack([np.arange(n) * 100, np.arange(1, n + 1) * 100], axis=1)
    return Take("t", np.zeros(100 * n, np.float32), np.zeros(100 * n, np.float32), bounds,
                np.array(source, np.float32)[:, None], np.array(target, np.float32)[:, None])


def test_a_decision_sounds_at_the_next_chunk() -> None:
    np.testing.assert_array_equal(on_chunks(np.array([5, 6, 7]), 4), [-1, 5, 6, 7])  # steps 0..2 of 4 chunks
    np.testing.assert_array_equal(on_chunks(np.array([5, 6, 7, 8]), 4), [-1, 5, 6, 7])  # a prediction per chunk: the last is never played


def test_context_lookup_plays_the_grain_after_the_nearest_context_one_chunk_later() -> None:
    c = corpus()
    allowed = np.ones(8, bool)
    # chunk 0 sounds like source 1.1 (nearest grain 1 -> next is 2), chunk 1 like 5.9 (grain 6 -> 7)
    got = context_lookup_grains(take([1.1, 5.9, 0.2], [0, 0, 0]), c, allowed)
    np.testing.assert_array_equal(got, [-1, 2, 7])
    # a piece's last grain has no next grain, and excluded grains are never matched nor played
    got = context_lookup_grains(take([3.0, 7.0, 0.0], [0, 0, 0]), c, piece_is(c, 0))
    np.testing.assert_array_equal(got, [-1, 3, 3])


def piece_is(c: FakeCorpus, p: int) -> np.ndarray:
    return c.grains.piece == p


def test_nearest_answer_grains_same_chunk_and_allowed_only() -> None:
    c = corpus()
    np.testing.assert_array_equal(nearest_answer_grains(take([0, 0], [29.0, 61.0]), c, np.ones(8, bool)), [3, 6])
    np.testing.assert_array_equal(nearest_answer_grains(take([0, 0], [29.0, 61.0]), c, piece_is(c, 0)), [3, 3])


def test_grain_player_places_each_grain_on_its_chunk() -> None:
    c = corpus()
    player = GrainPlayer(c, crossfade_ms=0.0, slot_s=100 / 16_000)
    out = player.play(np.array([-1, 2, 3, 6]), take([0] * 4, [0] * 4).bounds, 400)
    np.testing.assert_array_equal(out[:100], 0.0)  # nothing decided yet
    np.testing.assert_array_equal(out[100:200], 3.0)  # grain 2's audio is 3
    np.testing.assert_array_equal(out[200:300], 4.0)
    np.testing.assert_array_equal(out[300:400], 7.0)


def test_card_sections_are_replaced_not_repeated(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text("# Model\n\n## Data\n\nsome\n\n## Held-out evaluation\n\nold table\n\n## Notes\n\nkept\n")
    set_card_section(card, "Held-out evaluation", "new table")
    set_card_section(card, "Listening (held-out audio)", "gains")
    set_card_section(card, "Listening (held-out audio)", "gains again")
    text = card.read_text()
    assert "old table" not in text and text.count("## Held-out evaluation") == 1 and "new table" in text
    assert text.count("## Listening (held-out audio)") == 1 and "gains again" in text and "## Notes\n\nkept" in text

"""What the live arranger hears, frame by frame as audio arrives: the spectrum and the frame models' outputs.

``StreamingSpectrum`` gives the same features as the offline ``spectrum`` (agent/arranger/spectrum.py)
one frame at a time: frame k (centred on sample k x hop) is computed once the audio reaches half the
longest constant-Q filter after its centre (plus a safety margin), from a window around it whose
start is a whole number of hops, so its frames fall on the offline grid. Before the first sample the
window is zero, as librosa pads offline. ``FrameTracker`` steps a causal frame model (chords or
beats) over the new frames and keeps the recent class probabilities.

Both belong to the thread that drives the arranger (the voice's worker, or a rehearsal).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch

from agent.arranger.frame_checkpoint import FrameBundle
from agent.arranger.frame_config import SpectrumConfig
from agent.arranger.spectrum import lookahead_s, spectrum

MARGIN_HOPS = 2  # frames are computed this many hops further from the window's edges than the filters need


class StreamingSpectrum:
    """Audio in (any block size, the config's rate) -> the features of each frame as soon as it is known."""

    def __init__(self, config: SpectrumConfig, keep_s: float = 4.0) -> None:
        self.config = config
        hop = config.hop_samples
        self.reach = int(math.ceil(lookahead_s(config) * config.sample_rate_hz)) + MARGIN_HOPS * hop  # samples either side of a centre
        self.keep = max(int(keep_s * config.sample_rate_hz), 4 * self.reach)
        self.reset()

    def reset(self) -> None:
        self.audio = np.zeros(0, dtype=np.float32)
        self.offset = 0  # stream sample index of self.audio[0]
        self.received = 0  # samples pushed since reset
        self.next_frame = 0

    @property
    def latency_s(self) -> float:
        """How long after a frame's centre its features are known."""
        return self.reach / self.config.sample_rate_hz

    def push(self, audio: np.ndarray) -> tuple[int, np.ndarray]:
        """Append audio; returns (index of the first new frame, features [n, bins + 1] of the frames now known)."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        self.audio = np.concatenate([self.audio, audio])
        self.received += len(audio)
        hop = self.config.hop_samples
        last = (self.received - self.reach) // hop  # the last frame whose window is complete
        first = self.next_frame
        if last < first:
            self._trim()
            return first, np.zeros((0, self.config.dim), dtype=np.float32)
        start = (first * hop - self.reach) // hop * hop  # a whole number of hops: frames on the offline grid
        stop = last * hop + self.reach
        window = self._window(start, stop)
        features = spectrum(window, self.config)  # frame j of the window is centred on start + j x hop
        skip = (first * hop - start) // hop
        out = features[skip : skip + last - first + 1]
        self.next_frame = last + 1
        self._trim()
        return first, out

    def _window(self, start: int, stop: int) -> np.ndarray:
        """Stream samples [start, stop): zeros before the stream began."""
        before = max(0, -start)
        a = max(start, 0) - self.offset
        return np.concatenate([np.zeros(before, dtype=np.float32), self.audio[a : stop - self.offset]])

    def _trim(self) -> None:
        extra = len(self.audio) - self.keep
        if extra > 0:
            self.audio = self.audio[extra:]
            self.offset += extra


class FrameTracker:
    """A causal frame model stepped over streamed features; the class probabilities of the last ``keep`` frames."""

    def __init__(self, bundle: FrameBundle, keep_frames: int) -> None:
        self.bundle = bundle
        self.keep_frames = keep_frames
        self.reset()

    def reset(self) -> None:
        self.state = self.bundle.model.initial_state(1)
        self.probs: deque[np.ndarray] = deque(maxlen=self.keep_frames)
        self.frames = 0  # frames stepped since reset

    @torch.inference_mode()
    def push(self, features: np.ndarray) -> np.ndarray:
        """Step over new frames; returns their class probabilities [n, classes]."""
        new = []
        for row in features:
            logits, self.state = self.bundle.model.step(self.state, torch.from_numpy(np.ascontiguousarray(row))[None])
            new.append(torch.softmax(logits[0], -1).numpy())
            self.frames += 1
        self.probs.extend(new)
        return np.stack(new) if new else np.zeros((0, self.bundle.config.num_classes), dtype=np.float32)

    def recent(self) -> np.ndarray:
        """[n, classes] of the frames kept, oldest first (n may be 0)."""
        if not self.probs:
            return np.zeros((0, self.bundle.config.num_classes), dtype=np.float32)
        return np.stack(self.probs)

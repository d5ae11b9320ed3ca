"""Loading while the music plays: new models, corpora and input files, built off the workers' path.

One loader thread per engine takes jobs one at a time. A job builds a complete new ``AnswerAgent``
(or reads and resamples an input file), warms it up, and only then queues it to the voice, whose
worker swaps it in between two chunks. Until then, and for good if the job fails (missing folder,
corrupt or foreign file, a corpus whose codebook is not the model's), the previous one keeps
playing; the failure is reported to the job's ``report(reason)``. The thread outlives any job: an
unexpected exception (a bug) is logged with its traceback and reported in one line too.

The cyclic garbage collector is paused during a job and the new objects frozen afterwards: a
collection over them inside the audio callback would stall the stream (see ``live.freeze_heap``).
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from agent.corpus.format import load_corpus
from agent.decision.checkpoint import check_model_fits_corpus, load_model
from agent.model_loader import model_perception
from agent.engine.agent import AnswerAgent
from agent.engine.input_stream import InputStream
from agent.engine.voice import Voice
from agent.errors import AntiphonError

log = logging.getLogger(__name__)

MIC = "mic"
LOAD_REASON_CHARS = 1000  # an unexpected error's text, cut to fit one /antiphon/error
Report = Callable[[str], None]


@contextmanager
def collector_paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was:
            gc.enable()


def build_agent(voice: Voice, model_dir: Path | None = None, corpus_dir: Path | None = None) -> AnswerAgent:
    """A new agent for ``voice``: a new model (keeping the corpus if it fits, else the model's own), or a new corpus."""
    current = voice.agent
    bundle = load_model(model_dir) if model_dir is not None else current.bundle
    if corpus_dir is not None:
        corpus = load_corpus(corpus_dir, with_audio=False)
        check_model_fits_corpus(bundle, corpus)
    else:
        corpus = current.corpus
        try:
            check_model_fits_corpus(bundle, corpus)
        except AntiphonError:
            corpus = load_corpus(bundle.default_corpus_dir, with_audio=False)
            check_model_fits_corpus(bundle, corpus)
    perception = model_perception(bundle) if model_dir is not None else current.perception
    config = voice.pending
    agent = AnswerAgent(bundle, corpus, perception, replace(config, hop_s=0.0), output_rate_hz=voice.rate_hz)
    agent.warm_up()
    return agent


class Loader:
    """The engine's loading thread: ``submit`` a job, get an error report if it fails."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._busy: set[str] = set()  # voices with a job queued or running
        self._thread = threading.Thread(target=self._run, name="antiphon-loader", daemon=True)
        self._thread.start()

    def submit(self, voice: Voice, what: str, path: str, report: Report) -> None:
        """Queue loading ``what`` ('model', 'corpus' or 'input') for ``voice``; refuses a second job for the same voice."""
        if voice.name in self._busy:
            raise AntiphonError(f"agent '{voice.name}' is still loading; try again when /antiphon/event/loaded or an error arrives")
        self._busy.add(voice.name)
        self._jobs.put((voice, what, path, report))

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5.0)
        gc.unfreeze()  # the collector may again free what the jobs froze

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            voice, what, path, report = job
            reason: str | None = None
            bug: Exception | None = None
            try:
                with collector_paused():
                    kind, payload = self._build(voice, what, path)
            except AntiphonError as exc:
                reason = str(exc)
            except Exception as exc:  # noqa: BLE001 - the loader outlives any job: a bug is logged with its traceback, the client told
                bug = exc
                text = f"cannot load {what} {path}: internal error ({type(exc).__name__}: {exc}); the previous one keeps playing"
                reason = " ".join(text.split())[:LOAD_REASON_CHARS]
            finally:
                self._busy.discard(voice.name)  # free before anyone hears the outcome (log lines included): a client may send its next load at once
            if reason is not None:
                log.warning("refused %s for agent %s: %s", what, voice.name, reason, exc_info=bug)
                report(reason)
                continue
            voice.request(kind, payload)
            log.info("agent %s: %s %s loaded, in use from its next chunk", voice.name, what, path)

    @staticmethod
    def _build(voice: Voice, what: str, path: str) -> tuple[str, tuple]:
        """The voice's request for a job: ('input', (path, InputStream or None for the mic)) or ('agent', (agent, what, path))."""
        if what == "input":
            return "input", (path, None if path == MIC else InputStream(path, voice.rate_hz))
        if what == "model":
            return "agent", (build_agent(voice, model_dir=Path(path)), what, path)
        if what == "corpus":
            return "agent", (build_agent(voice, corpus_dir=Path(path)), what, path)
        raise AntiphonError(f"cannot load '{what}'")

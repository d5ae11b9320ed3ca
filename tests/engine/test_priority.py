"""Thread priorities: a voice's worker runs below normal priority, the calling thread is untouched."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from agent.engine.agent import AnswerAgent, load_agent_parts
from agent.engine.config import EngineConfig
from agent.engine.priority import WORKER_NICE, lower_this_thread, thread_nice
from agent.engine.voice import Voice, VoiceSpec


def test_lower_this_thread_changes_only_the_calling_thread() -> None:
    main_nice = thread_nice(threading.get_native_id())
    seen = {}

    def run() -> None:
        seen["changed"] = lower_this_thread(main_nice + 3)
        seen["nice"] = thread_nice(threading.get_native_id())
        seen["again"] = lower_this_thread(main_nice + 1)  # never raises a priority back

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen == {"changed": True, "nice": main_nice + 3, "again": False}
    assert thread_nice(threading.get_native_id()) == main_nice == os.getpriority(os.PRIO_PROCESS, 0)


def test_a_voice_worker_runs_below_normal_priority(trained: Path, tone_corpus: Path) -> None:
    bundle, corpus, perception = load_agent_parts(trained, tone_corpus)
    voice = Voice(VoiceSpec(), AnswerAgent(bundle, corpus, perception, EngineConfig(), output_rate_hz=48_000), 48_000, 256)
    voice.start_worker()
    try:
        time.sleep(0.2)
        assert thread_nice(voice._thread.native_id) == max(WORKER_NICE, os.getpriority(os.PRIO_PROCESS, 0))
    finally:
        voice.stop_worker()

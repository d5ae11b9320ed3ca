"""Build, load and drive the C audio callback (``callback.c``) through cffi.

The callback is C so that it never needs Python's interpreter lock: measured here, a Python
callback waited up to 2-3 ms for it behind the worker (torch, faiss) and the OSC thread, and a 256-
frame block at 48 kHz lasts 5.3 ms. The shared library is compiled once per source version with the
system C compiler (``$CC``, else ``cc``) into the cache folder and opened in ABI mode (no Python
headers needed). sounddevice takes the C function pointer as the stream callback, the way rtmixer
does; the Python side reads and writes the shared state through cffi (``callback.h``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import cffi
import numpy as np

from agent.errors import AntiphonError
from agent.paths import cache_dir

HERE = Path(__file__).resolve().parent
HEADER = HERE / "callback.h"
SOURCE = HERE / "callback.c"
CFLAGS = ("-O2", "-std=c11", "-fPIC", "-shared", "-Wall", "-Werror")

ffi = cffi.FFI()
ffi.cdef(re.sub(r"/\*.*?\*/", "", HEADER.read_text(encoding="utf-8"), flags=re.S))
MAX_VOICES: int = 16  # checked against ANTIPHON_MAX_VOICES when the library loads


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise AntiphonError("the live audio callback is C and no C compiler was found: install one (apt install gcc libc6-dev) or set CC")
    return cc


def library_path() -> Path:
    digest = hashlib.sha256(HEADER.read_bytes() + SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    return cache_dir() / "native" / f"antiphon-callback-{digest}.so"


def build(path: Path) -> Path:
    """Compile the callback into ``path`` (atomically: concurrent builds do not see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    cmd = [_compiler(), *CFLAGS, "-I", str(HERE), "-o", str(tmp), str(SOURCE)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise AntiphonError(f"cannot run the C compiler {cmd[0]}: {exc}") from exc
    if done.returncode != 0:
        first = next((line for line in done.stderr.splitlines() if "error" in line), done.stderr.strip()[:200])
        raise AntiphonError(f"compiling the audio callback failed ({cmd[0]}): {first}")
    os.replace(tmp, path)
    return path


_LOAD_LOCK = threading.Lock()


@functools.cache
def _load_once():  # noqa: ANN202 - a cffi library object
    path = library_path()
    if not path.is_file():
        build(path)
    lib = ffi.dlopen(str(path))
    if lib.ANTIPHON_MAX_VOICES != MAX_VOICES:
        raise AntiphonError(f"{path} does not match its header: delete it and retry")
    return lib


def load():  # noqa: ANN201 - a cffi library object
    """The compiled callback library, built on first use (once, whichever threads ask at the same time)."""
    with _LOAD_LOCK:
        return _load_once()


def callback_pointer():  # noqa: ANN201 - cdata 'int(*)(...)'
    """The C function to give PortAudio (through sounddevice) as the stream callback."""
    return load().antiphon_callback


def float_pointer(array: np.ndarray):  # noqa: ANN201 - cdata 'float *'
    """A pointer to a C-contiguous float32 array (the caller keeps the array alive)."""
    if array.dtype != np.float32 or not array.flags.c_contiguous:
        raise ValueError("expected a C-contiguous float32 array")
    return ffi.cast("float *", array.ctypes.data)


def voice_state(in_ring: np.ndarray, out_ring: np.ndarray, input_channel: int, output_channel: int):  # noqa: ANN201 - cdata 'antiphon_voice *'
    """A voice's shared state (zeroed counters) over its two rings; the caller keeps the rings alive."""
    if len(in_ring) != len(out_ring):
        raise ValueError("the input and output rings must have the same capacity")
    state = ffi.new("antiphon_voice *")
    state.in_ring = float_pointer(in_ring)
    state.out_ring = float_pointer(out_ring)
    state.capacity = len(in_ring)
    state.input_channel = input_channel
    state.output_channel = output_channel
    return state


def engine_state(channels: int, voices: list):  # noqa: ANN201 - cdata 'antiphon_engine *'
    """The engine's shared state over the voices' states; the caller keeps those alive."""
    if len(voices) > MAX_VOICES:
        raise ValueError(f"at most {MAX_VOICES} voices")
    state = ffi.new("antiphon_engine *")
    state.channels = channels
    state.voice_count = len(voices)
    for i, v in enumerate(voices):
        state.voices[i] = v
    state.last_xrun_callback = -1
    return state


def source(ring: np.ndarray):  # noqa: ANN201 - cdata 'antiphon_source *'
    """A streamed input file's descriptor over its ring (nothing written yet) for a voice's
    ``source``; the caller keeps ``ring`` alive (agent/engine/input_stream.py fills it)."""
    if len(ring) == 0:
        raise ValueError("an input ring needs at least one sample")
    return ffi.new("antiphon_source *", {"ring": float_pointer(ring), "length": len(ring), "written": 0})


def store_release(struct, field: str, value: int) -> None:  # noqa: ANN001 - cdata pointer to a struct
    """``struct.field = value`` as a release store (the data written before it is seen first)."""
    load().antiphon_store_release(ffi.addressof(struct, field), int(value))


def load_acquire(struct, field: str) -> int:  # noqa: ANN001 - cdata pointer to a struct
    """``struct.field`` as an acquire load (what was written before the other side stored it is seen)."""
    return int(load().antiphon_load_acquire(ffi.addressof(struct, field)))


def playing(voice) -> object:  # noqa: ANN001 - cdata 'antiphon_voice *'
    """The source the callback last played (an acquire load)."""
    return load().antiphon_playing(voice)


def run_callback(engine, indata: np.ndarray, outdata: np.ndarray, status_flags: int = 0) -> int:  # noqa: ANN001 - cdata 'antiphon_engine *'
    """Call the C callback once on interleaved (frames, channels) float32 buffers, as PortAudio does."""
    frames = indata.shape[0]
    return load().antiphon_callback(float_pointer(indata), float_pointer(outdata), frames, ffi.NULL, status_flags, engine)

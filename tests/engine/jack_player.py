"""Test helper run as its own process: play a file into JACK and record what comes back.

    python jack_player.py TAKE.wav RECORDING.wav PREROLL_S TAIL_S

Opens a duplex sounddevice stream on JACK (client "PortAudio-NN"), plays PREROLL_S of silence
(time for the test to connect ports), then the take, then TAIL_S of silence, recording its input
all along. Writes the recording as a 48 kHz float WAV.
"""

import gc
import sys
import time

import numpy as np
import sounddevice as sd
import soundfile as sf
import soxr

RATE = 48_000


def main() -> None:
    take_path, out_path, preroll_s, tail_s = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    take, rate = sf.read(take_path, dtype="float32", always_2d=True)
    take = soxr.resample(take.mean(axis=1), rate, RATE).astype(np.float32)
    play = np.concatenate([np.zeros(int(preroll_s * RATE), np.float32), take, np.zeros(int(tail_s * RATE), np.float32)])
    record = np.zeros_like(play)
    pos = [0]

    def callback(indata, outdata, frames, time_info, status):  # noqa: ANN001 - PortAudio's signature
        p = pos[0]
        n = max(0, min(frames, len(play) - p))
        outdata.fill(0.0)
        outdata[:n, 0] = play[p : p + n]
        record[p : p + n] = indata[:n, 0]
        pos[0] = p + frames

    gc.collect()
    gc.freeze()  # as the engine does: no full collection over the loaded heap inside a callback
    with sd.Stream(device="system", samplerate=RATE, blocksize=256, channels=1, dtype="float32", callback=callback):
        print("playing", flush=True)
        while pos[0] < len(play):
            time.sleep(0.05)
    sd._terminate()  # noqa: SLF001 - before JACK goes away (see AUDIO-NOTES)
    sf.write(out_path, record, RATE, subtype="FLOAT")


if __name__ == "__main__":
    main()

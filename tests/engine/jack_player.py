"""Test helper run as its own process: play a file into JACK and record what comes back.

    JACK_DEFAULT_SERVER=NAME python jack_player.py TAKE.wav RECORDING.wav TAIL_S

Opens a duplex sounddevice stream on JACK (client "PortAudio-NN"), prints "ready", records its
input all along and plays silence until a line arrives on stdin (the test has connected its
ports), then the take, then TAIL_S of silence. Writes the recording as a 48 kHz float WAV and
prints "take_start_frame N": the recording's frame at which the take began to play.
"""

import gc
import sys
import time

import numpy as np
import sounddevice as sd
import soundfile as sf
import soxr

RATE = 48_000
MAX_WAIT_S = 120.0  # for the go line


def main() -> None:
    take_path, out_path, tail_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    take, rate = sf.read(take_path, dtype="float32", always_2d=True)
    take = soxr.resample(take.mean(axis=1), rate, RATE).astype(np.float32)
    play = np.concatenate([take, np.zeros(int(tail_s * RATE), np.float32)])
    record = np.zeros(int(MAX_WAIT_S * RATE) + len(play) + RATE, np.float32)  # allocated once, before the stream
    go = [False]
    start = [-1]  # frame of the recording at which the take starts
    pos = [0]

    def callback(indata, outdata, frames, time_info, status):  # noqa: ANN001 - PortAudio's signature
        p = pos[0]
        outdata.fill(0.0)
        if start[0] < 0 and go[0]:
            start[0] = p
        if start[0] >= 0:
            q = p - start[0]
            n = max(0, min(frames, len(play) - q))
            outdata[:n, 0] = play[q : q + n]
        n = max(0, min(frames, len(record) - p))
        record[p : p + n] = indata[:n, 0]
        pos[0] = p + frames

    gc.collect()
    gc.freeze()  # as the engine does: no full collection over the loaded heap inside a callback
    with sd.Stream(device="system", samplerate=RATE, blocksize=256, channels=1, dtype="float32", callback=callback):
        print("ready", flush=True)
        if not sys.stdin.readline():
            raise SystemExit("jack_player: stdin closed before the go line")
        go[0] = True
        end = time.monotonic() + len(play) / RATE + MAX_WAIT_S
        while start[0] < 0 or pos[0] < start[0] + len(play):
            if pos[0] >= len(record):
                raise SystemExit(f"jack_player: the recording buffer ({len(record) / RATE:.0f} s) filled before the take ended: "
                                 f"the go line came more than {(len(record) - len(play)) / RATE:.0f} s after the stream started")
            if time.monotonic() > end:
                raise SystemExit("jack_player: the stream stopped running (no callbacks)")
            time.sleep(0.05)
    sd._terminate()  # noqa: SLF001 - before JACK goes away (see AUDIO-NOTES)
    sf.write(out_path, record[: start[0] + len(play)], RATE, subtype="FLOAT")
    print(f"take_start_frame {start[0]}", flush=True)


if __name__ == "__main__":
    main()

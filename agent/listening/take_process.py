"""How a rehearsed answer fits its take, worked out in a second process beside the rehearsal.

The fit needs pYIN (librosa), whose import alone takes longer than rehearsing a take; the rehearsal
needs torch. ``TakeListening.start`` runs ``python -m agent.listening.take_process TAKE`` at once:
it imports librosa and analyses the performer while the rehearsal loads its model and plays (the
two use both cores), then waits for one line on its standard input naming the answer file, analyses
that, and prints the fit (``take_listening``) as one JSON line. Only file names and JSON cross
between the processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.errors import AntiphonError

TIMEOUT_S = 300.0


class TakeListening:
    """The fit of an answer to its take, computed by a child process (see the module docstring)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    @classmethod
    def start(cls, take: Path) -> "TakeListening":
        proc = subprocess.Popen([sys.executable, "-m", "agent.listening.take_process", str(take)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return cls(proc)

    def send(self, answer: Path) -> None:
        """Hand over the answer file (written): the child analyses it from now on."""
        try:
            self.proc.stdin.write(str(answer) + "\n")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the child has already failed: ``result`` says why
        self.proc.stdin = None  # closed: ``communicate`` must not flush it

    def result(self) -> dict:
        """The fit of the answer to the take; one-line AntiphonError if the analysis failed."""
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AntiphonError(f"the listening analysis took more than {TIMEOUT_S:.0f} s") from None
        if self.proc.returncode != 0 or not out.strip():
            last = (err.strip().splitlines() or ["no output"])[-1]
            raise AntiphonError(f"the listening analysis failed: {last}")
        try:
            fit = json.loads(out.strip().splitlines()[-1])
        except json.JSONDecodeError:
            raise AntiphonError(f"the listening analysis failed: it printed {out.strip()[-200:]!r}") from None
        if not isinstance(fit, dict):
            raise AntiphonError("the listening analysis failed: it printed no figures")
        return fit

    def cancel(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def main(argv: list[str]) -> int:
    from agent.audio_io import read_mono
    from agent.listening.fit import take_listening
    from agent.listening.tracks import ANALYSIS_RATE_HZ, analyse

    performer = analyse(read_mono(Path(argv[0]), ANALYSIS_RATE_HZ)[0], ANALYSIS_RATE_HZ)
    answer_path = sys.stdin.readline().strip()
    if not answer_path:
        return 1  # the rehearsal stopped before its answer
    samples, rate = read_mono(Path(answer_path))
    sys.stdout.write(json.dumps(take_listening(performer, analyse(samples, rate))) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except AntiphonError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)

"""The one exception type users see: a one-line, human-readable reason."""


class AntiphonError(Exception):
    """A refused input or failed operation, with a one-line message fit for a musician.

    The CLI prints ``error: <message>`` and exits with status 2; the OSC server answers it on
    ``/antiphon/error``. Messages name the file or value at fault and what is wrong with it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

"""Does the answer listen? Musical fit of an answer to its performer, measured on audio.

``tracks``: pitch (pYIN) and onsets of a signal; ``fit``: consonance and onset agreement of two
tracks, and the *listening gain* over pairings (each answer under its own performer minus under
the other performers).
"""

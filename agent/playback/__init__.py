"""Playing grains of a corpus: label sampling, grain selection and crossfaded rendering.

Used by the live engine and rehearsal (agent/engine/) and by training and evaluation (agent/decision/,
agent/listening/), which import this package without importing the engine.
"""

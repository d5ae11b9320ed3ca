"""The live engine's audio callback, in C (callback.c), and the code that builds and loads it."""

"""The built-in demo: Bach chorales (shipped with music21) rendered to paired audio stems."""

"""Settings of the tiny decision models the tests train (the trained fixture lives in tests/conftest.py)."""

from __future__ import annotations


TINY = dict(num_layers=1, width=32, num_heads=2, ffn_width=64, context_chunks=16, dropout=0.0)
FAST = dict(batch_size=4, crop_chunks=24, warmup_steps=2, patience_epochs=50)

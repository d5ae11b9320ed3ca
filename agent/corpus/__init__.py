"""Corpus: the answer track's audio cut into labelled grains, plus the codebook (see format.py)."""

from agent.corpus.format import Corpus, Grains, load_corpus

__all__ = ["Corpus", "Grains", "load_corpus"]

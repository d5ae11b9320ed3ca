"""Antiphon: a real-time musical agent that answers a performer with a complementary track."""

__version__ = "0.1.0"

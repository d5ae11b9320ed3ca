"""The playing engine: grain selection, rendering, the worker and audio I/O (see ARCHITECTURE)."""

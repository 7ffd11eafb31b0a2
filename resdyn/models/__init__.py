"""Models: where weights come from, and the per-architecture view of a decoder block."""

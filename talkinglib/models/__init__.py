"""Models: one component per module, each with a frozen config dataclass at the top."""

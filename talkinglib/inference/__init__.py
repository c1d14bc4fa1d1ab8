"""Inference pipelines: EDTalk-A (image + audio -> frames, each motion chosen separately)."""

"""Evaluation: metrics and the scores that SynthTalk's known factors make possible."""

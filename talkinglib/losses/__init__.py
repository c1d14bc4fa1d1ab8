"""Losses: small pure functions, tensors in and a scalar out, each citing its equation."""

"""Shared layers: StyleGAN2 primitives (stylegan2.py) and flow warping (warp.py)."""

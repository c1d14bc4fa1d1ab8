"""Long audio in spans: bounded memory, no seam where one span meets the next.

    for start, values in stream_spans(lambda lo, hi: controls_of(wav[lo * 640:hi * 640]), N, span=250):
        ...                                          # values (n, ...) for frames start .. start + n - 1

`fn(lo, hi)` computes per-frame values (hi - lo, ...) of frames lo .. hi-1 from that stretch of audio
only. Two things keep the spans from showing:
- context: every span is computed with `pad` extra frames on each side, which are thrown away, so
  a control with a finite receptive field (a mel window, a TCN) is exactly the one-pass value;
- cross-fade: consecutive spans overlap by `overlap` frames, and there the values are blended
  linearly from the earlier span to the later one, so a control that depends on its whole span
  (attention in the pose flow or in wav2vec 2.0) changes smoothly instead of jumping.
With span >= N (the default of the pipelines' __call__) there is one span and the values are the
one-pass values.
"""
import torch

from talkinglib.errors import InputError


def stream_spans(fn, num_frames, span=None, overlap=12, pad=25):
    """Yield (start, values) covering frames 0 .. num_frames-1 in order, `span` frames at a time."""
    if num_frames <= 0:
        raise InputError(f"nothing to generate: {num_frames} frames")
    span = num_frames if span is None else int(span)
    if span < num_frames and span <= overlap:
        raise InputError(f"span ({span} frames) must be longer than the overlap ({overlap})")

    def compute(a, b):                               # frames [a, b) with `pad` frames of context each side
        lo, hi = max(0, a - pad), min(num_frames, b + pad)
        return fn(lo, hi)[a - lo:a - lo + (b - a)]

    tail = None                                      # the previous span's values for its overlap frames
    for start in range(0, num_frames, span):
        end = min(num_frames, start + span)
        values = compute(start, min(num_frames, end + overlap))           # (end - start + overlap', ...)
        if tail is not None:                         # blend the first frames, old -> new
            n = min(len(tail), len(values))
            alpha = torch.arange(1, n + 1, dtype=values.dtype, device=values.device) / (len(tail) + 1)
            alpha = alpha.view(n, *[1] * (values.dim() - 1))
            values = torch.cat([(1 - alpha) * tail[:n] + alpha * values[:n], values[n:]])
        tail = values[end - start:]                  # frames end .. end + overlap, for the next span
        yield start, values[:end - start]

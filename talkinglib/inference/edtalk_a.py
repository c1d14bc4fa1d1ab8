"""EDTalk-A: an identity image and audio -> frames, with every motion chosen separately (EDTalk §3.3).

- mouth: Ŵ^m = Audio2Lip(mel windows of the audio)
- pose: sampled from the pose flow (τ), read from a pose video, or still (the source's own pose)
- expression: from the audio and/or a transcript (semantic branch), from a reference clip (the
  ELN's mean weights over it), or one of 8 emotion presets with an intensity:
      W^e(emotion, α) = W^e(neutral) + α (W^e(emotion) − W^e(neutral))          (as EDTalk Eq. A3 interpolates)
  A preset is the mean ELN weights of that emotion's clips (`emotion_presets`), on SynthTalk or on
  a user's own labelled reference clips (`presets_from_clips`), so it works for the official weights.

    pipe = EDTalkA(edtalk, audio2lip, pose_flow=flow, semantic=sem, presets=emotion_presets(edtalk, root))
    frames = pipe(source, wav, pose="sample", expression="happy", intensity=0.8)   # (T, 3, S, S)

The source is encoded once, the bases once, and a fixed expression is applied to the identity
pyramid once (EEM, EDTalk Eq. 8); frames are generated in batches of `batch_size` by G's fast path
(inference/render.py: shared-weight convs, weights prepared per clip, compiled for long clips).
"""
import torch

from talkinglib import audio as tl_audio
from talkinglib.constants import EMOTIONS, SAMPLES_PER_FRAME
from talkinglib.errors import InputError
from talkinglib.inference.chunks import stream_spans

SEMANTIC_SECONDS = 30                    # the semantic branch reads long audio in pieces of this length


@torch.no_grad()
def presets_from_clips(edtalk, clips):
    """{emotion: W^e (K_e,)}: the mean ELN weights over all frames of each emotion's clips.
    clips: {emotion: list of frame tensors (T, 3, S, S)}."""
    out = {}
    for emo, frames_list in clips.items():
        if not frames_list:
            raise InputError(f"no reference clip for emotion {emo!r}")
        w = torch.cat([edtalk.expression_weights(f) for f in frames_list])
        out[emo] = w.mean(0)
    return out


def emotion_presets(edtalk, root, split="train", max_clips_per_emotion=8):
    """The 8 presets from a SynthTalk (or prepared) dataset's clips of each emotion."""
    from talkinglib.data.datasets import ClipStore, to_tensor_images
    store = ClipStore(root, split)
    clips = {e: [] for e in EMOTIONS}
    for c, m in enumerate(store.metas):
        if len(clips[m["emotion"]]) < max_clips_per_emotion:
            clips[m["emotion"]].append(to_tensor_images(store.frames(c)))
    return presets_from_clips(edtalk, clips)


def preset_weights(presets, emotion, intensity=1.0):
    """W^e(neutral) + α (W^e(emotion) − W^e(neutral)); α = 0 is neutral, 1 the preset, > 1 exaggerates."""
    if emotion not in presets:
        raise InputError(f"unknown emotion {emotion!r}; presets: {sorted(presets)}")
    if "neutral" not in presets:
        raise InputError("the presets need a 'neutral' entry to scale an intensity from")
    return presets["neutral"] + intensity * (presets[emotion] - presets["neutral"])


def blend_weights(presets, emotion_1, emotion_2, alpha, intensity=1.0):
    """W^e = α W^e_1 + (1 − α) W^e_2 (EDTalk Eq. A3), each at the given intensity: interpolation
    between two emotions (α = 1: emotion_1, α = 0: emotion_2)."""
    return (alpha * preset_weights(presets, emotion_1, intensity)
            + (1 - alpha) * preset_weights(presets, emotion_2, intensity))


class EDTalkA:
    """The fast path by default (inference/render.py): G's modulated convs in their shared-weight form,
    the shared weights prepared once per clip, and on a CPU G compiled (torch.compile) for clips of at least
    render.compile_min_frames(S) frames (compile="auto"; "always" / "never" force it). form="fused" runs
    the official per-sample form, for parity checks (batch 1: the official loop's very frames). The weights
    are read at the start of each clip, compiled or not. dtype="bfloat16" runs G under bfloat16 autocast
    (bench reports its PSNR)."""

    def __init__(self, edtalk, audio2lip, pose_flow=None, semantic=None, presets=None, batch_size=None,
                 form="shared", compile="auto", dtype="float32"):
        from talkinglib.inference.render import Renderer, default_batch_size
        self.edtalk, self.audio2lip = edtalk.eval(), audio2lip.eval()
        self.pose_flow = pose_flow.eval() if pose_flow is not None else None
        self.semantic = semantic.eval() if semantic is not None else None
        self.presets = presets
        self.batch_size = batch_size or default_batch_size(next(edtalk.parameters()).device, edtalk.cfg.size)   # frames per G call
        self.render = Renderer(edtalk.dec, form=form, compile=compile, dtype=dtype)

    def _pose_noise(self, pose, T, generator):
        """The flow's ẑ for all T frames, drawn once (as PoseFlow.sample draws it), so that the frames
        two spans share get the same noise. None unless pose == "sample"."""
        if not (isinstance(pose, str) and pose == "sample"):
            return None
        if self.pose_flow is None:
            raise InputError("pose='sample' needs a pose flow (EDTalkA(..., pose_flow=...))")
        return self.pose_flow.draw_latent(1, T, generator)

    def _pose_span(self, pose, mel, lo, hi, source_code, temperature, z):
        """Pose weights of frames lo .. hi-1, from `mel`, their mel windows."""
        n = hi - lo
        if isinstance(pose, str) and pose == "sample":
            fa = self.pose_flow.audio_features(mel, 1, n)
            return self.pose_flow.from_latent(temperature * z[:, lo:hi].to(fa.device, fa.dtype), fa)[0]
        if isinstance(pose, str) and pose == "still":
            return self.edtalk.navigate(source_code.latent, ("pose",))["pose"].expand(n, -1)
        if torch.is_tensor(pose) and pose.dim() == 4:
            if len(pose) < hi:
                raise InputError(f"the pose video has {len(pose)} frames, the audio more: give at least as many")
            dev = source_code.latent.device
            return torch.cat([self.edtalk.navigate(self.edtalk.encode(pose[i:min(hi, i + self.batch_size)].to(dev)).latent,
                                                   ("pose",))["pose"] for i in range(lo, hi, self.batch_size)])
        raise InputError("pose must be 'sample', 'still' or a pose video (T, 3, S, S)")

    @torch.no_grad()
    def expression_weights(self, wav, expression, text=None, intensity=1.0):
        """(K_e,) or None: "audio" / "text" / "audio+text" (semantic branch), an emotion name (a preset),
        a blend (emotion_1, emotion_2, α) of two presets (EDTalk Eq. A3), a reference clip (T, 3, S, S), or
        None (the source's own expression: EEM off)."""
        if expression is None:
            return None
        if isinstance(expression, tuple):
            if self.presets is None:
                raise InputError(f"the blend {expression!r} needs emotion presets, but none were given")
            return blend_weights(self.presets, *expression, intensity=intensity)
        if torch.is_tensor(expression):
            return self.edtalk.expression_weights(expression[None])[0]            # mean over the clip
        if expression in ("audio", "text", "audio+text"):
            if self.semantic is None:
                raise InputError(f"expression={expression!r} needs the semantic branch (EDTalkA(..., semantic=...))")
            if "text" in expression and not text:
                raise InputError(f"expression={expression!r} needs text=")
            t = [text] if "text" in expression else None
            if "audio" not in expression:
                return self.semantic(None, t)[0]
            wav = torch.as_tensor(wav, dtype=torch.float32)
            piece = SEMANTIC_SECONDS * tl_audio.SAMPLE_RATE          # long audio: the mean over 30 s pieces
            return torch.stack([self.semantic(wav[None, i:i + piece], t)[0]
                                for i in range(0, max(1, len(wav) - piece // 2), piece)]).mean(0)
        if self.presets is None:
            raise InputError(f"expression={expression!r} is a preset name, but no presets were given")
        return preset_weights(self.presets, expression, intensity)

    @torch.no_grad()
    def stream(self, source, wav, *, pose="still", expression=None, text=None, intensity=1.0, temperature=1.0,
               generator=None, span=None, overlap=12, pad=25):
        """Yield frames (b, 3, S, S) in order, for 16 kHz audio wav (N,) and a source image (1, 3, S, S).
        span: frames of audio turned into motion at a time (None: the whole clip); see inference/chunks.py."""
        if source.dim() != 4 or source.shape[0] != 1:
            raise InputError(f"source must be one image (1, 3, S, S); got {tuple(source.shape)}")
        dev = next(self.edtalk.parameters()).device
        wav = torch.as_tensor(wav, dtype=torch.float32)
        T = tl_audio.frame_count(len(wav))
        code = self.edtalk.encode(source.to(dev))                                # once per clip
        Q = self.edtalk.bases()                                                  # once per clip
        w_e = self.expression_weights(wav, expression, text, intensity)          # (K_e,) or None
        feats = code.feats if w_e is None else self.edtalk.express(code.feats, w_e[None])   # EEM: once per clip
        z = self._pose_noise(pose, T, generator)
        K_m = self.edtalk.cfg.mouth_dim

        def motion(lo, hi):                                                      # [Ŵ^m | Ŵ^p] (hi - lo, 26)
            end = hi * SAMPLES_PER_FRAME if hi < T else len(wav)          # the last span keeps the audio's tail
            mel = tl_audio.mel_windows(wav[lo * SAMPLES_PER_FRAME:end]).to(dev)
            return torch.cat([self.audio2lip(mel)[0], self._pose_span(pose, mel, lo, hi, code, temperature, z)], 1)

        with self.render.clip(T) as G:                                           # forms, weights: once per clip
            for _, w in stream_spans(motion, T, span, overlap, pad):
                for i in range(0, len(w), self.batch_size):
                    wb = w[i:i + self.batch_size]
                    e = None if w_e is None else w_e.expand(len(wb), -1)
                    lat = self.edtalk.compose(code.latent.expand(len(wb), -1), mouth=wb[:, :K_m], pose=wb[:, K_m:],
                                              expression=e, Q=Q)                 # f^{i→d} (b, D)  (EDTalk Eqs. 1–2)
                    yield G(lat, feats)                                          # (b, 3, S, S)

    def __call__(self, source, wav, **kw):
        """All frames (T, 3, S, S) at once (stream() for long audio)."""
        return torch.cat(list(self.stream(source, wav, **kw)))

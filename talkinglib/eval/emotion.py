"""Emotion scores: the teacher's frame accuracy, and the emotion that EDTalk-A's Ŵ^e carries (EDTalk Eq. 15).
"""
import torch

from talkinglib.constants import EMOTIONS
from talkinglib.data.datasets import load_split_arrays, to_tensor_images


@torch.no_grad()
def emotion_from_weights(model, train, test, seconds=None):
    """Emotion accuracy of Ŵ^e on the test clips from audio only, text only and both.

    Ŵ^e is named by the nearest emotion centroid of the training clips' W^e (the frozen ELN's
    clip-mean weights); the same classifier on the test clips' own W^e is the ceiling ("video").
    Returns {"both", "audio", "text", "video": accuracy, "chance": 1/8, "n": clips}."""
    model.eval()
    W = torch.stack([train.target(c) for c in range(len(train))])
    cent = torch.stack([W[train.emotion == e].mean(0) for e in range(8)])          # (8, 10)
    name = lambda w: torch.cdist(w, cent).argmin(1)                                  # noqa: E731
    wavs = [test.audio(c) for c in range(len(test))]
    if seconds is not None:
        wavs = [a[:int(seconds * 16000)] for a in wavs]
    n = min(len(a) for a in wavs)                                                   # a batch: crop to the shortest
    wav = torch.stack([a[:n] for a in wavs])
    y = test.emotion
    out = {}
    for mode, kw in (("both", dict(wav=wav, texts=test.texts)), ("audio", dict(wav=wav)),
                     ("text", dict(texts=test.texts))):
        w_hat = torch.cat([model(**{k: (v[i:i + 16]) for k, v in kw.items()}) for i in range(0, len(y), 16)])
        out[mode] = float((name(w_hat) == y).float().mean())
    out["video"] = float((name(torch.stack([test.target(c) for c in range(len(test))])) == y).float().mean())
    out.update(chance=1 / 8, n=len(y))
    return out


@torch.no_grad()
def teacher_accuracy(teacher, root, split="test", batch_size=256):
    """Frame-level emotion accuracy of T on a split (the test identities by default)."""
    from talkinglib.models.emotion import class_index
    data = load_split_arrays(root, split)
    idx = torch.tensor([class_index(teacher, EMOTIONS[e]) for e in data["emotion"]])
    images = data["images"]
    dev = next(teacher.parameters()).device
    pred = torch.cat([teacher(to_tensor_images(images[i:i + batch_size]).to(dev))[1].argmax(-1).cpu()
                      for i in range(0, len(images), batch_size)])
    return float((pred == idx).float().mean())

"""Finding, cropping and pasting back the face: mediapipe's face detector (in its wheel, offline).

    box = detect_face(image)                 # uint8 (H, W, 3) -> FaceBox (pixels) of the best face, or NoFaceError
    crop, region = crop_face(image, 256)     # a square crop around it (FOMM-style margin), resized to 256²
    frames_full = paste_back(image, frames, region)    # generated crops (T, 256, 256, 3) back into the photo

mediapipe is the `prepare` extra (`pip install "talkinglib[prepare]"`, numpy < 2); it is imported
only when a face is detected, and its absence gets an error that says so.
"""
import contextlib
import os
import sys
from typing import NamedTuple

import numpy as np

from talkinglib.errors import InputError


class NoFaceError(InputError):
    """No face was found where one is needed."""


class FaceBox(NamedTuple):
    x0: float
    y0: float
    x1: float
    y1: float
    score: float


class Region(NamedTuple):
    """A square crop of the original image: top-left (x, y) and side, in pixels (may extend past the border)."""
    x: int
    y: int
    side: int


_DETECTOR = None
_WARM = False                # the detector has run once (its native start-up notes are behind it)


@contextlib.contextmanager
def _native_stderr_hidden():
    """mediapipe's C++ parts (TF Lite, absl) write start-up notes ("Created TensorFlow Lite XNNPACK delegate",
    "Feedback manager requires ...") straight to file descriptor 2; they are hidden while the detector is built
    and first run. Python's own warnings and errors are not affected outside this block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        try:
            import mediapipe as mp
        except ImportError as e:
            raise ImportError("face detection needs mediapipe: pip install \"talkinglib[prepare]\" "
                              "(mediapipe==0.10.21, numpy<2); or pass an already cropped face with crop='none'") from e
        with _native_stderr_hidden():
            _DETECTOR = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
    return _DETECTOR


def _check_image(image):
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image uint8 (H, W, 3); got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def detect_faces(image):
    """All faces mediapipe finds in uint8 (H, W, 3): [FaceBox] in pixels, best score first."""
    image = _check_image(image)
    H, W = image.shape[:2]
    global _WARM
    if _WARM:
        result = _detector().process(image)
    else:
        with _native_stderr_hidden():
            result = _detector().process(image)
        _WARM = True
    boxes = []
    for d in result.detections or []:
        b = d.location_data.relative_bounding_box
        boxes.append(FaceBox(b.xmin * W, b.ymin * H, (b.xmin + b.width) * W, (b.ymin + b.height) * H,
                             float(d.score[0])))
    return sorted(boxes, key=lambda b: -b.score)


def detect_face(image, what="the image"):
    """The best face, or NoFaceError saying what to do."""
    faces = detect_faces(image)
    if not faces:
        raise NoFaceError(f"no face found in {what}. Give a photo with one clearly visible, roughly frontal face, "
                          "or crop it yourself and pass crop='none' (--crop none)")
    return faces[0]


def square_region(box, scale=1.6):
    """FOMM-style square around a face box: the box's centre, side = scale × the longer box side."""
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    side = int(round(scale * max(box.x1 - box.x0, box.y1 - box.y0)))
    return Region(int(round(cx - side / 2)), int(round(cy - side / 2)), max(side, 2))


def cut(image, region, size):
    """The region of uint8 (H, W, 3) resized to (size, size, 3); parts past the border are edge-padded."""
    from PIL import Image
    H, W = image.shape[:2]
    x, y, s = region
    pad = max(0, -x, -y, x + s - W, y + s - H)
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge") if pad else image
    patch = padded[y + pad:y + pad + s, x + pad:x + pad + s]
    return np.asarray(Image.fromarray(patch).resize((size, size), Image.BICUBIC))


def crop_face(image, size, scale=1.6, what="the image"):
    """(uint8 (size, size, 3) crop around the best face, its Region in the original)."""
    image = _check_image(image)
    region = square_region(detect_face(image, what), scale)
    return cut(image, region, size), region


def paste_back(image, frames, region, feather=0.08):
    """Generated crops uint8 (T, s, s, 3) put back into copies of the original (H, W, 3) at `region`,
    blended over a soft border (feather × side) so the seam does not show. Returns (T, H, W, 3)."""
    from PIL import Image
    image = _check_image(image)
    H, W = image.shape[:2]
    x, y, s = region
    ramp = np.clip(np.minimum(np.arange(s), np.arange(s)[::-1]) / max(1.0, feather * s), 0, 1)
    alpha = np.minimum(ramp[:, None], ramp[None, :])[..., None]          # (s, s, 1): 0 at the border, 1 inside
    ys, xs = slice(max(0, y), min(H, y + s)), slice(max(0, x), min(W, x + s))
    inner = (slice(ys.start - y, ys.stop - y), slice(xs.start - x, xs.stop - x))
    out = np.repeat(image[None], len(frames), axis=0)
    for t, f in enumerate(frames):
        big = np.asarray(Image.fromarray(f).resize((s, s), Image.BICUBIC), dtype=np.float32)
        a = alpha[inner]
        out[t, ys, xs] = np.round(a * big[inner] + (1 - a) * out[t, ys, xs]).astype(np.uint8)
    return out

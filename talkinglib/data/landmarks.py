"""68-point facial landmarks from mediapipe's face mesh (in its wheel, offline).

    lm = landmarks_68(frames)        # uint8 (T, H, W, 3) -> float32 (T, 68, 2) pixels, NaN where no face
    lm68 = mesh_to_68(mesh)          # mesh (..., 468, 2) -> (..., 68, 2)

The 68-point layout is the iBUG/dlib one that SynthTalk's meta.json uses: jaw 0-16, brows 17-26,
nose 27-35, eyes 36-47, outer lips 48-59, inner lips 60-67 (left to right in the image, the
subject's right first). The face mesh has no such points, so each one is a named mesh vertex with
the same meaning (eye corners, lid centres, lip corners, philtrum and chin points, ...). The jaw
is the exception: the mesh's face oval is densely and unevenly sampled, so its lower half, from
the ear on one side over the chin to the ear on the other, is resampled at 17 points equally
spaced by arc length, as the 68-point jaw is.

Checked in tests/test_prepare.py against mediapipe's separate face detector: the 68-point eye
centres, nose tip and mouth centre land within a few pixels of its keypoints on skimage's
astronaut photograph.
"""
import numpy as np

# the face oval's lower half, ear (image left) -> chin (152) -> ear (image right)
JAW_CONTOUR = (127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152,
               377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356)
# 68-point index -> mesh vertex, for every point but the jaw
POINTS = {
    **dict(zip(range(17, 22), (70, 63, 105, 66, 107))),                # right brow, outer -> inner
    **dict(zip(range(22, 27), (336, 296, 334, 293, 300))),             # left brow, inner -> outer
    **dict(zip(range(27, 31), (168, 197, 5, 4))),                      # nose bridge, top -> tip
    **dict(zip(range(31, 36), (240, 97, 2, 326, 460))),                # nostrils, left -> right
    **dict(zip(range(36, 42), (33, 160, 158, 133, 153, 144))),         # right eye: outer corner, lids
    **dict(zip(range(42, 48), (362, 385, 387, 263, 373, 380))),        # left eye: inner corner, lids
    **dict(zip(range(48, 60), (61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91))),  # outer lips
    **dict(zip(range(60, 68), (78, 81, 13, 311, 308, 402, 14, 178))),  # inner lips
}
MOUTH = slice(48, 68)          # the points M-LMD compares


def _resample_polyline(poly, n):
    """(..., P, 2) polyline -> (..., n, 2) points equally spaced by arc length, ends kept."""
    seg = np.linalg.norm(np.diff(poly, axis=-2), axis=-1)                  # (..., P-1)
    s = np.concatenate([np.zeros(seg.shape[:-1] + (1,)), np.cumsum(seg, -1)], -1)   # (..., P)
    flat_s, flat_p = s.reshape(-1, s.shape[-1]), poly.reshape(-1, *poly.shape[-2:])
    out = np.empty((flat_s.shape[0], n, 2))
    for i, (si, pi) in enumerate(zip(flat_s, flat_p)):
        t = np.linspace(0.0, si[-1], n)
        out[i] = np.stack([np.interp(t, si, pi[:, 0]), np.interp(t, si, pi[:, 1])], -1)
    return out.reshape(poly.shape[:-2] + (n, 2))


def mesh_to_68(mesh):
    """mediapipe face-mesh points (..., 468 or 478, 2) -> 68-point landmarks (..., 68, 2)."""
    mesh = np.asarray(mesh, np.float64)
    if mesh.shape[-1] != 2 or mesh.shape[-2] < 468:
        raise ValueError(f"expected face-mesh points (..., 468, 2); got {mesh.shape}")
    out = np.empty(mesh.shape[:-2] + (68, 2))
    out[..., :17, :] = _resample_polyline(mesh[..., list(JAW_CONTOUR), :], 17)
    idx = sorted(POINTS)
    out[..., idx, :] = mesh[..., [POINTS[k] for k in idx], :]
    return out.astype(np.float32)


class FaceMesh:
    """mediapipe's face mesh, one image at a time (static mode: each frame on its own, so the result
    does not depend on which frames came before). Use as a context manager, or call close()."""

    def __init__(self, min_confidence=0.3):
        try:
            import mediapipe as mp
        except ImportError as e:
            raise ImportError("landmarks need mediapipe: pip install \"talkinglib[prepare]\" "
                              "(mediapipe==0.10.21, numpy<2)") from e
        self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                     refine_landmarks=False,
                                                     min_detection_confidence=min_confidence)

    def __call__(self, image):
        """uint8 (H, W, 3) -> (468, 2) pixels, or None when no face is found."""
        image = np.ascontiguousarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB image uint8 (H, W, 3); got {image.dtype} {image.shape}")
        result = self._mesh.process(image)
        if not result.multi_face_landmarks:
            return None
        H, W = image.shape[:2]
        pts = result.multi_face_landmarks[0].landmark
        return np.array([[p.x * W, p.y * H] for p in pts[:468]], np.float64)

    def close(self):
        self._mesh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def landmarks_68(frames, mesh=None):
    """uint8 (T, H, W, 3) -> float32 (T, 68, 2) in pixels; a frame without a face gives NaN rows.
    mesh: a FaceMesh to reuse (default: one made and closed for this call)."""
    frames = np.asarray(frames)
    out = np.full((len(frames), 68, 2), np.nan, np.float32)
    own = mesh is None
    mesh = FaceMesh() if own else mesh
    try:
        for t, f in enumerate(frames):
            pts = mesh(f)
            if pts is not None:
                out[t] = mesh_to_68(pts)
    finally:
        if own:
            mesh.close()
    return out

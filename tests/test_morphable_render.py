"""3DMM-lite and renderer invariants."""
import numpy as np
import pytest

from talkinglib.synth import morphable as mm
from talkinglib.synth.identity import sample_identity
from talkinglib.synth.landmarks import landmarks_2d
from talkinglib.synth.learnability import locality
from talkinglib.synth.render import render


def test_bases_are_orthonormal_and_coefficients_reproduce_the_fields():
    m = mm.build_morphable_model()
    assert 300 <= m.mean.shape[0] <= 1000, "a few hundred vertices"
    for U in (m.U_id, m.U_exp):
        np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-5)
    rng = np.random.default_rng(0)
    f_id, f_exp = rng.normal(size=len(mm.IDENTITY)), rng.uniform(0, 1, len(mm.EXP_FACTORS))
    p_id, p_exp = m.coefficients(f_id, f_exp)
    a, e, low = m.chart.T.astype(np.float64)
    direct = mm.skin_rest(a, e) + mm.identity_fields(a, e) @ f_id
    for part, sel in (("upper", low == 0), ("lower", low == 1)):
        direct[sel] += mm.expression_fields(a[sel], e[sel], part) @ f_exp
    np.testing.assert_allclose(m.shape(p_id, p_exp), direct, atol=1e-4)   # s = s̄ + U p, p = R f
    assert m.triangles.max() < m.mean.shape[0] and m.triangles.shape[1] == 3


def test_render_is_deterministic_and_well_formed():
    ident = sample_identity(np.random.default_rng(3))
    f = np.zeros((3, 15)); f[1, 0] = 1.0
    p = np.zeros((3, 5)); p[2] = [20, 5, -5, 0.02, 0]
    a, b = render(ident, f, p, size=64), render(ident, f, p, size=64)
    assert a.shape == (3, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[0], a[2])
    with pytest.raises(ValueError, match="exp_factors"):
        render(ident, f[:, :4], p)


def test_jaw_opens_the_inner_lips_and_shows_the_dark_cavity():
    ident = sample_identity(np.random.default_rng(5))
    f = np.zeros((2, 15)); f[1, 0] = 1.0
    p = np.zeros((2, 5))
    lm = landmarks_2d(ident.factors, f, p, 128)
    gap = lm[:, 66, 1] - lm[:, 62, 1]                      # lower inner lip below upper inner lip
    assert gap[0] < 0.5 and gap[1] > 5, gap
    frames = render(ident, f, p, size=128).astype(float)
    x, y = int(lm[1, 62, 0]), int((lm[1, 62, 1] + lm[1, 66, 1]) / 2)
    assert frames[1, y, x].mean() < 0.6 * frames[0, y, x].mean(), "the open mouth is darker inside"


def test_landmarks_follow_pose():
    ident = sample_identity(np.random.default_rng(6))
    f = np.zeros((2, 15)); p = np.zeros((2, 5)); p[1, 0] = 20
    lm = landmarks_2d(ident.factors, f, p, 64)
    assert lm[1, 30, 0] - lm[0, 30, 0] > 3                 # +yaw turns the nose tip to image right


def test_locality_of_mouth_and_pose():
    """SYNTHTALK.md: changing only the mouth leaves > 99 % of pixels outside the mouth box
    unchanged; changing pose moves the whole head."""
    numbers = locality(seed=1, n=10)
    assert numbers["mouth_locality"] >= 0.99, numbers
    assert numbers["pose_moves_head"] >= 0.5, numbers


def test_a_closer_view_enlarges_the_face_and_its_landmarks_stay_on_it():
    """SynthConfig.view_half / view_cy (render.View): a smaller half frames the head closer, so the
    mouth covers more pixels; the landmarks follow the same framing, and the default is unchanged."""
    from talkinglib.synth.render import DEFAULT_VIEW, View
    ident = sample_identity(np.random.default_rng(5))
    f = np.zeros((1, 15)); f[0, 0] = 1.0                  # jaw open
    p = np.zeros((1, 5))
    assert np.array_equal(render(ident, f, p, size=64), render(ident, f, p, size=64, view=DEFAULT_VIEW))
    close = View(0.9, 0.03)
    lm_far, lm_close = landmarks_2d(ident.factors, f, p, 64), landmarks_2d(ident.factors, f, p, 64, view=close)
    width = lambda lm: lm[0, 54, 0] - lm[0, 48, 0]        # mouth corners  # noqa: E731
    np.testing.assert_allclose(width(lm_close) / width(lm_far), DEFAULT_VIEW.half / close.half, rtol=1e-4)
    shut = np.zeros((1, 15))
    frames = render(ident, np.concatenate([shut, f]), np.zeros((2, 5)), size=64, view=close).astype(float)
    x, y = int(lm_close[0, 62, 0]), int((lm_close[0, 62, 1] + lm_close[0, 66, 1]) / 2)
    assert frames[1, y, x].mean() < 0.6 * frames[0, y, x].mean(), "the open mouth is dark where its landmarks say"
    from talkinglib.synth.generate import preset
    assert preset("tiny", view_half=0.9, view_cy=0.03).view == close
    with pytest.raises(ValueError, match="view_half"):
        preset("tiny", view_half=0.0)

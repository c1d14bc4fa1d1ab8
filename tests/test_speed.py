"""animate_speed: encoding the source once per clip gives the per-frame loop's frames."""
import torch

from talkinglib.eval.speed import animate_speed
from talkinglib.models.edtalk import PRESETS, EDTalk


def test_encode_once_matches_the_per_frame_loop():
    torch.manual_seed(0)
    m = EDTalk(PRESETS["tiny"])
    g = torch.Generator().manual_seed(0)
    src = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    drv = torch.rand(5, 3, 64, 64, generator=g) * 2 - 1
    r = animate_speed(m, src, drv, batch_sizes=(1, 2))
    assert r["frames"] == 5 and r["per_frame"]["fps"] > 0
    # the same maths; only float rounding differs (animate() batches the source with the drivers,
    # and a randomly initialised EEM amplifies rounding), while a wrong source code moves pixels by ~1
    assert r["encode_once"][1]["max_abs_diff"] < 0.05
    assert r["encode_once"][2]["max_abs_diff"] < 0.05
    assert set(r["speedup"]) == {1, 2}

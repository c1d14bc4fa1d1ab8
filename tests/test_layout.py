"""The library's layout: constants every part shares are defined once (talkinglib/constants.py)."""
import ast
from pathlib import Path

import talkinglib.constants as C

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("EMOTIONS", "FPS", "SAMPLE_RATE", "SAMPLES_PER_FRAME")


def test_shared_constants_are_defined_once():
    defined = {}
    for p in sorted((ROOT / "talkinglib").rglob("*.py")):
        for node in ast.parse(p.read_text()).body:                    # module-level assignments only
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AnnAssign) else []
            for t in targets:
                if isinstance(t, ast.Name) and t.id in SHARED:
                    defined.setdefault(t.id, []).append(str(p.relative_to(ROOT)))
    assert defined == {name: ["talkinglib/constants.py"] for name in SHARED}
    assert C.SAMPLES_PER_FRAME * C.FPS == C.SAMPLE_RATE == 16000 and len(C.EMOTIONS) == 8
    from talkinglib import audio
    from talkinglib.synth import factors
    assert audio.SAMPLE_RATE is C.SAMPLE_RATE and factors.EMOTIONS is C.EMOTIONS       # re-exported, not copied

"""Equation references name their paper (issue 19, item 5): "EDTalk Eq. 9", "RETA Eq. 9", plural "EDTalk Eqs. 3–7"
(an en dash; appendix equations keep their letter: "EDTalk Eq. A3"), never a bare "Eq. 9", "Eq. (9)" or "L_x (9)".
So `grep -rn "EDTalk Eq. 9"` finds EDTalk's L_mot and `grep -rn "RETA Eq. 9"` RETA's PSNR, and nothing else.

The numbered equations of both papers are read from shared/papers/*.txt (EDTalk tags them `\\tag{N}` or puts
"(N)" on the line after the display; RETA ends the display with `\\quad (N)$$`). Each one is cited somewhere in
talkinglib/ or notebooks/*.py, or is listed in NOT_IMPLEMENTED with the reason.
"""
import re
from pathlib import Path

import pytest

from conftest import SHARED

REPO = Path(__file__).resolve().parents[1]
PAPERS = {"EDTalk": SHARED / "papers" / "edtalk.txt", "RETA": SHARED / "papers" / "reta.txt"}

# (paper, number) -> why no code cites it. Empty: every numbered equation of both papers is cited where it is
# implemented (the metrics of RETA D.4 too: eval/image_metrics.py, eval/fid.py, eval/sync.py, eval/evaluate.py).
NOT_IMPLEMENTED = {}

# Where a citation must be: the library and the notebooks' sources (the .ipynb files are their jupytext pairs).
CITING = sorted(REPO.glob("talkinglib/**/*.py")) + sorted(REPO.glob("notebooks/*.py"))
# Where no reference may be unqualified: those, plus the READMEs and the tests' comments.
CHECKED = CITING + [REPO / "README.md", REPO / "data" / "checkpoints" / "README.md"] + sorted(
    p for p in REPO.glob("tests/*.py") if p.name != Path(__file__).name)

NUM = r"A?\d+"
SINGLE = re.compile(rf"\b(EDTalk|RETA) Eq\. ({NUM})\b")
PLURAL = re.compile(rf"\b(EDTalk|RETA) Eqs\. ({NUM}(?:–{NUM})?(?:(?:, | and |, and ){NUM}(?:–{NUM})?)*)\b")
UNQUALIFIED = [
    re.compile(r"(?<!EDTalk )(?<!RETA )(?<!StyleGAN2 )\b(?:Eqs?|Eqn|Equations?)\b"),   # "Eq. 9", "EDTalk's Eq. 6"
    re.compile(rf"\beq(?:s|n)?(?:\. ?| )\(?{NUM}\b"),                                   # "eq. 9", "eqn 9"
    re.compile(rf"\bL[_^][\w{{}}^\-]* \({NUM}[),–-]"),                                  # "L_rec (5)", "L_fea (7, ..."
]
NOT_ONE_SPELLING = re.compile(rf"\b(?:EDTalk|RETA) Eqs?\. (?:\(|{NUM} ?-(?! ))")          # "Eq. (9)", "Eqs. 3-7"

# What a citation of these equations is about: a word of the paper's equation, and a pattern (case-insensitive)
# each line that cites the equation alone matches.
ABOUT = {("EDTalk", "9"): ("mot", "_mot"), ("RETA", "9"): ("PSNR", "PSNR"),
         ("EDTalk", "12"): ("sync", "sync"), ("RETA", "5"): ("sync", "sync"),
         ("RETA", "10"): ("SSIM", "SSIM"), ("RETA", "11"): ("Tr", "FID"),
         ("RETA", "12"): ("Sync", "Sync"), ("RETA", "13"): ("Acc", "Acc_e"),
         ("EDTalk", "A3"): ("alpha", "α|alpha|blend|interpolat")}


def paper_equations(text):
    """{number: the display's text} of every numbered equation: `\\tag{N}`, `... \\quad (N)$$`, or "(N)" alone on
    the line after the display."""
    found, previous = {}, ""
    for line in text.splitlines():
        m = (re.search(rf"\\tag\{{({NUM})\}}", line) or re.search(rf"\\quad \(({NUM})\)\s*\$\$\s*$", line))
        if m:
            found[m.group(1)] = line
        elif m := re.fullmatch(rf"\s*\(({NUM})\)\s*", line):
            found[m.group(1)] = previous
        if line.strip():
            previous = line
    return found


def expand(spec):
    """"5–7, 9–11 and 14" -> ["5", "6", "7", "9", "10", "11", "14"]; "A1–A2" -> ["A1", "A2"]."""
    out = []
    for item in re.split(r", and |, | and ", spec):
        lo, _, hi = item.partition("–")
        if not hi:
            out.append(lo)
            continue
        prefix = "A" if lo.startswith("A") else ""
        assert hi.startswith(prefix) and (prefix or not hi.startswith("A")), f"mixed range {item!r}"
        out += [f"{prefix}{n}" for n in range(int(lo.lstrip("A")), int(hi.lstrip("A")) + 1)]
    return out


def citations(paths):
    """[(paper, number, path, line number, line)] for every single and plural citation."""
    out = []
    for path in paths:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in SINGLE.finditer(line):
                out.append((m.group(1), m.group(2), path, i, line))
            for m in PLURAL.finditer(line):
                out += [(m.group(1), n, path, i, line) for n in expand(m.group(2))]
    return out


def where(path, i):
    return f"{path.relative_to(REPO)}:{i}"


@pytest.fixture(scope="module")
def equations():
    missing = [str(p) for p in PAPERS.values() if not p.is_file()]
    if missing:
        pytest.skip(f"paper texts not found: {missing} (set TALKINGLIB_SHARED)")
    return {paper: paper_equations(path.read_text(encoding="utf-8")) for paper, path in PAPERS.items()}


def test_papers_are_numbered_one_to_n(equations):
    """The parser finds every equation: 1..N without a gap, and the appendix's A1..Ak."""
    for paper, eqs in equations.items():
        main = sorted(int(n) for n in eqs if not n.startswith("A"))
        appendix = sorted(int(n[1:]) for n in eqs if n.startswith("A"))
        assert main == list(range(1, len(main) + 1)) and len(main) >= 10, (paper, main)
        assert appendix == list(range(1, len(appendix) + 1)), (paper, appendix)
    assert len(equations["EDTalk"]) == 15 + 3 and len(equations["RETA"]) == 13


def test_every_equation_is_cited_or_listed_as_not_implemented(equations):
    cited = {(paper, n) for paper, n, *_ in citations(CITING)}
    for key, reason in NOT_IMPLEMENTED.items():
        assert key[1] in equations[key[0]], f"NOT_IMPLEMENTED lists {key}, which the paper does not number"
        assert key not in cited, f"{key} is cited in the code: drop it from NOT_IMPLEMENTED"
        assert reason.strip() and "\n" not in reason, key
    missing = sorted((paper, n) for paper, eqs in equations.items() for n in eqs
                     if (paper, n) not in cited and (paper, n) not in NOT_IMPLEMENTED)
    assert not missing, f"equations neither cited in talkinglib/ or notebooks/*.py nor in NOT_IMPLEMENTED: {missing}"


def test_every_citation_names_an_equation_the_paper_has(equations):
    wrong = [f"{where(p, i)}: {paper} Eq. {n}" for paper, n, p, i, _ in citations(CHECKED) if n not in equations[paper]]
    assert not wrong, "citations of equations the paper does not number:\n" + "\n".join(wrong)


def test_no_unqualified_or_odd_spelling():
    bad = []
    for path in CHECKED:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(r.search(line) for r in UNQUALIFIED) or NOT_ONE_SPELLING.search(line):
                bad.append(f"{where(path, i)}: {line.strip()}")
    assert not bad, "equation references must read 'EDTalk Eq. N' / 'RETA Eqs. N–M':\n" + "\n".join(bad)


def test_eq_9_of_each_paper_is_its_own(equations):
    """`grep "EDTalk Eq. 9"` finds L_mot and `grep "RETA Eq. 9"` finds PSNR; likewise for a few other equations
    whose subject is one word: each line citing one of them alone is about what the paper's equation is."""
    found = citations(CITING)
    for (paper, n), (in_paper, on_line) in ABOUT.items():
        assert in_paper.lower() in equations[paper][n].lower(), f"{paper} Eq. {n} is not about {in_paper!r}"
        lines = [(p, i, line) for pp, nn, p, i, line in found
                 if (pp, nn) == (paper, n) and re.search(rf"\b{paper} Eq\. {n}\b", line)]
        if n == "9":
            assert lines, f"no line cites {paper} Eq. 9"
        off = [f"{where(p, i)}: {line.strip()}" for p, i, line in lines if not re.search(on_line, line, re.I)]
        assert not off, f"lines citing {paper} Eq. {n} without {on_line!r}:\n" + "\n".join(off)

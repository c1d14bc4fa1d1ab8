"""Pretrained-weights registry: where every external network comes from, and the only code that
downloads one (DESIGN.md "Offline first").

    talkinglib weights list                  # name, present/missing, path
    talkinglib weights fetch vgg19           # the only download path; checks the sha256
    path = tl.weights.resolve("vgg19")       # the local file, or an error that says how to get it

Lookup order: $TALKINGLIB_HOME (default ~/.cache/talkinglib), then the torch hub cache
(`torch.hub.get_dir()/checkpoints`, where torchvision and pytorch-fid keep their downloads), then
the Hugging Face cache (snapshots of the entry's hub repo), then files shipped inside a package
(lpips carries its linear layers in the wheel).

Hashes: `sha256` is the full digest where it is known, a prefix where only a prefix is published
(torchvision file names embed the first 8 hex digits of the file's sha256; torch.hub's
`check_hash` checks exactly that prefix, and so do we), and None where nobody publishes one: the
EDTalk checkpoints, and multi-file Hugging Face repos, which are pinned by the hub's own revision
(the snapshot's commit hash) instead. `hash_source` says which, per entry. Never invent a hash.
"""
import hashlib
import importlib.util
import os
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from talkinglib.errors import WeightsError

EDTALK_DRIVE = "https://drive.google.com/file/d/1EKJXpq5gwFaRfkiAs6YUZ6YEiQ-8X3H3/view"
FID_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    filename: str               # file name (or folder name, for kind="hf_snapshot") in $TALKINGLIB_HOME
    source: str                 # a URL, or hf://ORG/REPO, where the file is published
    sha256: str | None          # full hex digest, a published prefix, or None = unknown (see hash_source)
    licence: str
    description: str
    used_by: tuple = ()
    url: str | None = None      # direct download used by `fetch`; None = download by hand (see source)
    hash_source: str = ""       # where the hash comes from, or why there is none
    kind: str = "file"          # "file" | "hf_snapshot" (a transformers from_pretrained folder)
    hf_repo: str | None = None  # also look in the Hugging Face cache of this repo
    torch_hub: bool = False     # also look in torch.hub.get_dir()/checkpoints
    package_file: str | None = None   # also look inside an installed package, "pkg/sub/file"
    key: str | None = None      # the checkpoint's state-dict key, e.g. "gen" (used by load())


_TV = "torchvision 0.29.1 {w}.url; torch.hub file names end in the sha256's first 8 hex digits"
_TV_LIC = "BSD-3-Clause (torchvision); weights trained on ImageNet-1k, see torchvision's model docs"
_HF_HASH = "none: a multi-file hub repo, verified by the hub's revision (snapshot commit hash)"

REGISTRY = {e.name: e for e in [
    WeightsEntry(
        "edtalk", "EDTalk.pt", f"{EDTALK_DRIVE} (EDTalk README: 'Download the checkpoints and put them "
        "into ./ckpts'); the authors also host hf://tanshuai0219/EDTalk", None,
        "Apache-2.0 per the Hugging Face model card tanshuai0219/EDTalk (the GitHub repo has no LICENSE file)",
        "Official EDTalk generator (E, G, the three banks, MLN/PLN/ELN, EEM); the state dict is under 'gen' "
        "(demo_EDTalk_A.py: torch.load(...)['gen']).",
        ("talkinglib.official.load_edtalk", "talkinglib train --init"),
        hash_source="none published by the authors", hf_repo="tanshuai0219/EDTalk", key="gen"),
    WeightsEntry(
        "audio2lip", "Audio2Lip.pt", f"{EDTALK_DRIVE} (the same EDTalk checkpoints download as EDTalk.pt; "
        "ckpts/ckpt.txt lists Audio2Lip.pt, EDTalk_lip_pose.pt, EDTalk.pt)", None,
        "Apache-2.0 per the Hugging Face model card tanshuai0219/EDTalk",
        "Official EDTalk Audio2Lip (mel windows -> 20 mouth weights); state dict under 'audio2lip'.",
        ("talkinglib.official.load_audio2lip",),
        hash_source="none published by the authors", hf_repo="tanshuai0219/EDTalk", key="audio2lip"),
    WeightsEntry(
        "syncnet", "lipsync_expert.pth", "Wav2Lip README, 'Getting the weights' > 'Expert Discriminator': "
        "https://iiitaphyd-my.sharepoint.com/:u:/g/personal/radrabha_m_research_iiit_ac_in/"
        "EQRvmiZg-HRAjvI6zqN9eTEBP74KefynCwPWVmF57l-AYA?e=ZRPHKP (github.com/Rudrabha/Wav2Lip)", None,
        "personal/research/non-commercial use only (Wav2Lip README; trained on LRS2)",
        "Wav2Lip's lip-sync expert (SyncNet_color): the L_sync expert of EDTalk Eq. 12 and of RETA; "
        "state dict under 'state_dict'. Expects BGR lower-half faces in [0, 1].",
        ("talkinglib.official.load_wav2lip_syncnet",),
        hash_source="none published by the authors", key="state_dict"),
    WeightsEntry(
        "vgg19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "dcbb9e9d",
        _TV_LIC, "torchvision VGG19_Weights.IMAGENET1K_V1 (full model state dict); Φ of EDTalk Eq. 5.",
        ("talkinglib.losses.perceptual.VGGPerceptual(weights='imagenet')",),
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        hash_source=_TV.format(w="VGG19_Weights.IMAGENET1K_V1"), torch_hub=True),
    WeightsEntry(
        "vgg16", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth", "397923af",
        _TV_LIC, "torchvision VGG16_Weights.IMAGENET1K_V1: the backbone of LPIPS(net='vgg').",
        ("LPIPS (eval)",), url="https://download.pytorch.org/models/vgg16-397923af.pth",
        hash_source=_TV.format(w="VGG16_Weights.IMAGENET1K_V1"), torch_hub=True),
    WeightsEntry(
        "alexnet", "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "7be5be79", _TV_LIC, "torchvision AlexNet_Weights.IMAGENET1K_V1: the backbone of LPIPS(net='alex').",
        ("LPIPS (eval)",), url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        hash_source=_TV.format(w="AlexNet_Weights.IMAGENET1K_V1"), torch_hub=True),
    WeightsEntry(
        "lpips", "alex.pth", "the lpips wheel (PyPI lpips 0.1.4): lpips/weights/v0.1/alex.pth",
        "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        "BSD-2-Clause (lpips)", "LPIPS v0.1 linear layers for net='alex' (lpips' default). Ships in the "
        "wheel: `pip install lpips` is the download. The AlexNet backbone is the 'alexnet' entry.",
        ("LPIPS (eval)",), hash_source="computed from lpips 0.1.4's installed file",
        package_file="lpips/weights/v0.1/alex.pth"),
    WeightsEntry(
        "lpips_vgg", "vgg.pth", "the lpips wheel (PyPI lpips 0.1.4): lpips/weights/v0.1/vgg.pth",
        "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        "BSD-2-Clause (lpips)", "LPIPS v0.1 linear layers for net='vgg'. Ships in the wheel. The VGG16 "
        "backbone is the 'vgg16' entry.", ("LPIPS (eval)",),
        hash_source="computed from lpips 0.1.4's installed file", package_file="lpips/weights/v0.1/vgg.pth"),
    WeightsEntry(
        "inception_fid", "pt_inception-2015-12-05-6726825d.pth", FID_URL, None,
        "Apache-2.0 (pytorch-fid; weights ported from TensorFlow's inception-2015-12-05)",
        "FID Inception-v3 of pytorch-fid (FID_WEIGHTS_URL), the implementation EDTalk and RETA cite.",
        ("FID (eval)",),
        url=FID_URL,
        hash_source="unknown: '6726825d' in the name looks like a torch.hub hash prefix, but pytorch-fid "
                    "never checks it, so we do not rely on it", torch_hub=True),
    WeightsEntry(
        "hubert", "hubert-large-ls960-ft", "hf://facebook/hubert-large-ls960-ft", None,
        "Apache-2.0 (model card)",
        "HuBERT Large fine-tuned on LibriSpeech 960h (the checkpoint EDTalk's reference [66] builds on): "
        "EDTalk's Semantics Encoder E_S (§3.3, ref. [22]); loaded as a HubertModel (the CTC head is dropped).",
        ("talkinglib.models.semantic_expression (full preset)",), hash_source=_HF_HASH, kind="hf_snapshot",
        hf_repo="facebook/hubert-large-ls960-ft"),
    WeightsEntry(
        "wav2vec2", "wav2vec2-base-960h", "hf://facebook/wav2vec2-base-960h", None, "Apache-2.0 (model card)",
        "wav2vec 2.0 Base (960h): RETA's audio encoder E_A (the paper does not name the variant).",
        ("talkinglib.models.audio_encoder (RETA E_A, full preset)",), hash_source=_HF_HASH, kind="hf_snapshot",
        hf_repo="facebook/wav2vec2-base-960h"),
    WeightsEntry(
        "vit_expression", "vit-face-expression", "hf://trpakov/vit-face-expression", None, "Apache-2.0 (model card)",
        "ViT-Base/16 (224², from vit-base-patch16-224-in21k) fine-tuned on FER2013's 7 expressions: RETA's "
        "visual emotion teacher T (the paper says only 'a ViT pre-trained on a large-scale facial expression "
        "dataset'). Its 7 classes lack MEAD's 'contempt'.",
        ("talkinglib.models.emotion.EmotionTeacher (full preset)",), hash_source=_HF_HASH, kind="hf_snapshot",
        hf_repo="trpakov/vit-face-expression"),
    WeightsEntry(
        "emoberta", "emoberta-base", "hf://tae898/emoberta-base", None,
        "not stated on the crawled base card; the sibling tae898/emoberta-large card says MIT",
        "EmoBERTa (base): EDTalk's Text Encoder E_T (ref. [29]; the paper does not say base or large).",
        ("talkinglib.models.semantic_expression (full preset)",), hash_source=_HF_HASH, kind="hf_snapshot",
        hf_repo="tae898/emoberta-base"),
]}
HF_ALLOW = ("*.json", "*.safetensors", "*.bin", "*.txt", "*.model")   # skip the TF/Flax copies


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    pass


class WeightsHashError(WeightsError):
    pass


# -- where files live -------------------------------------------------------------------------
def home():
    return Path(os.environ.get("TALKINGLIB_HOME") or "~/.cache/talkinglib").expanduser()


def torch_hub_dir():
    """torch.hub.get_dir() (honours torch.hub.set_dir when torch is loaded), without importing torch."""
    if "torch" in sys.modules:
        from torch import hub
        return Path(hub.get_dir())
    cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    return Path(os.environ.get("TORCH_HOME") or os.path.join(cache, "torch")).expanduser() / "hub"


def hf_hub_cache():
    """huggingface_hub's cache folder, computed from the same environment variables."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    return Path(os.environ.get("HF_HOME") or os.path.join(cache, "huggingface")).expanduser() / "hub"


def entry(name) -> WeightsEntry:
    if name not in REGISTRY:
        raise WeightsError(f"no weights named {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def _hf_snapshots(repo):
    """Snapshot folders of a hub repo in the HF cache, the one refs/main points at first."""
    root = hf_hub_cache() / f"models--{repo.replace('/', '--')}"
    snaps = sorted((root / "snapshots").glob("*")) if (root / "snapshots").is_dir() else []
    main = root / "refs" / "main"
    head = main.read_text().strip() if main.is_file() else None
    return sorted(snaps, key=lambda p: p.name != head)


def _is_snapshot(folder):
    return (folder / "config.json").is_file() and (
        any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")))


def candidates(name):
    """Every place resolve() looks, in order (the first is where fetch writes)."""
    e = entry(name)
    paths = [home() / e.filename]
    if e.torch_hub:
        paths.append(torch_hub_dir() / "checkpoints" / e.filename)
    if e.hf_repo:
        for snap in _hf_snapshots(e.hf_repo):
            paths += [snap] if e.kind == "hf_snapshot" else sorted(snap.rglob(e.filename))
    if e.package_file:
        pkg, rest = e.package_file.split("/", 1)
        spec = importlib.util.find_spec(pkg)
        if spec is not None and spec.submodule_search_locations:
            paths.append(Path(list(spec.submodule_search_locations)[0]) / rest)
    return paths


def locate(name):
    """The local path of `name`, or None. Never downloads."""
    ok = _is_snapshot if entry(name).kind == "hf_snapshot" else Path.is_file
    return next((p for p in candidates(name) if ok(p)), None)


def resolve(name) -> Path:
    """The local path of `name`, or WeightsNotFoundError naming the file, its source, where to
    put it and the fetch command. Never downloads."""
    path = locate(name)
    if path is not None:
        return path
    e = entry(name)
    if e.kind == "hf_snapshot":
        how = f"downloads hf://{e.hf_repo} with huggingface_hub"
    elif e.url is None:
        how = "no direct link: it prints the manual steps"
    else:
        how = (f"downloads it and checks sha256 {'prefix ' if len(e.sha256) < 64 else ''}{e.sha256}"
               if e.sha256 else "downloads it; no published hash")
    looked = [str(p) for p in candidates(name)]
    if e.hf_repo and not _hf_snapshots(e.hf_repo):
        looked.append(f"{hf_hub_cache()}/models--{e.hf_repo.replace('/', '--')}/snapshots/*  (Hugging Face cache)")
    looked = "\n".join(f"    {p}" for p in looked)
    folder = "   (a from_pretrained folder)" if e.kind == "hf_snapshot" else ""
    raise WeightsNotFoundError(
        f"{name}: {e.filename} not found ({e.description})\n"
        f"  get it from: {e.url or e.source}\n"
        f"  put it at:   {home() / e.filename}{folder}   (or set TALKINGLIB_HOME)\n"
        f"  or run:      talkinglib weights fetch {name}   ({how})\n"
        f"  looked in:\n{looked}")


def load(name, map_location="cpu", weights_only=True):
    """torch.load the resolved file; returns the entry's `key` ('gen', 'audio2lip') when it has one."""
    import torch
    e = entry(name)
    if e.kind == "hf_snapshot":
        raise WeightsError(f"{name} is a Hugging Face folder: use transformers' "
                           f"from_pretrained(talkinglib.weights.resolve({name!r}))")
    path = resolve(name)
    state = torch.load(path, map_location=map_location, weights_only=weights_only)
    if e.key is not None and e.key not in state:
        raise WeightsError(f"{path} has no {e.key!r} entry (keys: {sorted(state)[:8]}); "
                           f"is it really {e.filename}?")
    return state[e.key] if e.key is not None else state


def list_entries():
    return [REGISTRY[n] for n in sorted(REGISTRY)]


# -- hashing and the one download path --------------------------------------------------------
def sha256_file(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Verification:
    name: str
    path: Path
    sha256: str | None          # the file's digest (None for a snapshot folder)
    expected: str | None
    ok: bool | None             # None: nothing to compare against (see detail)
    detail: str


def verify(name) -> Verification:
    """Hash the local copy and compare with the registry (a prefix compares as a prefix)."""
    e, path = entry(name), resolve(name)
    if e.kind == "hf_snapshot":
        return Verification(name, path, None, None, None, f"hub revision {path.name} ({e.hash_source})")
    digest = sha256_file(path)
    if e.sha256 is None:
        return Verification(name, path, digest, None, None, f"no published hash ({e.hash_source})")
    ok = digest.startswith(e.sha256)
    return Verification(name, path, digest, e.sha256, ok, "matches" if ok else "MISMATCH")


def _download(url, dest, expected, progress, name="NAME"):
    """urllib -> a temp file next to dest, sha256 while streaming, check, then os.replace."""
    from tqdm.auto import tqdm
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
    h = hashlib.sha256()
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "talkinglib"})
        try:
            r = urllib.request.urlopen(req)
        except OSError as e:                               # urllib.error.URLError, a timeout, a refused proxy
            raise WeightsError(_no_download(name, dest, url, getattr(e, "reason", e))) from e
        with r, open(tmp, "wb") as f:
            size = r.headers.get("Content-Length") if getattr(r, "headers", None) else None
            with tqdm(total=int(size) if size else None, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=dest.name, disable=not progress) as bar:
                while block := r.read(1 << 20):
                    f.write(block)
                    h.update(block)
                    bar.update(len(block))
        digest = h.hexdigest()
        if expected and not digest.startswith(expected):
            raise WeightsHashError(f"{url}: sha256 mismatch, expected {expected}{'...' if len(expected) < 64 else ''}"
                                   f", got {digest}. The download was deleted; {dest} is unchanged.")
        os.replace(tmp, dest)                              # atomic: dest is old or complete, never partial
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _no_download(name, dest, source, reason):
    return (f"cannot download {source} ({reason}): this machine looks offline. Fetch it where there is a network "
            f"(`talkinglib weights fetch {name}`) and copy it to {dest}, or download it by hand to that path")


def fetch(name, force=False, progress=True) -> Path:
    """Download `name` into $TALKINGLIB_HOME: the only code that downloads. Never called
    implicitly. Returns the existing copy unless force=True."""
    e = entry(name)
    if not force and (found := locate(name)) is not None:
        return found
    dest = home() / e.filename
    if e.kind == "hf_snapshot":
        from huggingface_hub import snapshot_download
        try:
            return Path(snapshot_download(e.hf_repo, local_dir=dest, allow_patterns=list(HF_ALLOW)))
        except (OSError, ValueError) as err:               # requests' ConnectionError is an OSError; hub errors too
            raise WeightsError(_no_download(name, dest, f"hf://{e.hf_repo}", err)) from err
    if e.url is None:
        raise WeightsError(f"{name}: {e.filename} has no direct download link.\n"
                           f"  1. download it by hand from {e.source}\n"
                           f"  2. put {e.filename} at {dest}\n"
                           f"  3. check with: talkinglib weights verify {name}")
    return _download(e.url, dest, e.sha256, progress, name)


# -- `talkinglib weights ...` -----------------------------------------------------------------
def _cmd_list(args):
    print(f"{'name':14s} {'status':8s} path")
    for e in list_entries():
        path = locate(e.name)
        print(f"{e.name:14s} {'present' if path else 'missing':8s} {path or home() / e.filename}")
    return 0


def _cmd_path(args):
    print(resolve(args.name))
    return 0


def _cmd_fetch(args):
    print(fetch(args.name, force=args.force))
    return 0


def _cmd_verify(args):
    """One NAME, or (none given) every entry that is present; exit 1 if any copy does not match."""
    names = [args.name] if args.name else [e.name for e in list_entries() if locate(e.name)]
    if not names:
        print(f"nothing to verify: no weights are present in {home()} (talkinglib weights list)")
    ok = True
    for name in names:
        v = verify(name)
        print(f"{v.name}: {v.path}\n  sha256 {v.sha256 or '-'}\n  expected {v.expected or '-'}: {v.detail}")
        ok = ok and v.ok is not False
    return 0 if ok else 1


def add_cli(subparsers):
    """Add `weights list|path|fetch|verify` to cli.py's sub-parsers (set_defaults(func=...))."""
    w = subparsers.add_parser("weights", help="pretrained weights: list, path, fetch (the only download), verify")
    sub = w.add_subparsers(dest="weights_command", required=True)
    sub.add_parser("list", help="every entry: present or missing, and its path").set_defaults(func=_cmd_list)
    for cmd, fn, text in [("path", _cmd_path, "print the local path (error if missing)"),
                          ("fetch", _cmd_fetch, "download into $TALKINGLIB_HOME and check the sha256"),
                          ("verify", _cmd_verify, "hash the local copy and compare with the registry")]:
        p = sub.add_parser(cmd, help=text)
        p.add_argument("name", choices=sorted(REGISTRY), metavar="NAME", nargs="?" if cmd == "verify" else None,
                       help=", ".join(sorted(REGISTRY)) + ("; none: every present entry" if cmd == "verify" else ""))
        if cmd == "fetch":
            p.add_argument("--force", action="store_true", help="download again even if present")
        p.set_defaults(func=fn)
    return w

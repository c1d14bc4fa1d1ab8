"""The weights registry: lookup order, teaching errors, and the one download path (fetch) with its
sha256 check and atomic write. No network: urllib.request.urlopen is replaced in every test."""
import hashlib
import io
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from talkinglib import weights as W


class FakeResponse(io.BytesIO):
    """What urlopen returns: a readable, closable body with headers."""

    def __init__(self, payload, fail_after=None):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}
        self.fail_after, self.served = fail_after, 0

    def read(self, n=-1):
        if self.fail_after is not None and self.served >= self.fail_after:
            raise ConnectionResetError("connection dropped mid-download")
        block = super().read(min(n, 7) if n and n > 0 else n)      # small blocks: exercise the loop
        self.served += len(block)
        return block


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Fresh, empty caches under tmp_path and a urlopen that refuses to touch the network."""
    monkeypatch.setenv("TALKINGLIB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))

    def no_network(*a, **k):
        raise AssertionError("a test tried to use the network")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


def serve(monkeypatch, payload, calls=None, **kw):
    def urlopen(req, *a, **k):
        if calls is not None:
            calls.append(req.full_url)
        return FakeResponse(payload, **kw)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def with_entry(monkeypatch, e):
    monkeypatch.setitem(W.REGISTRY, e.name, e)
    return e


def leftovers(folder):
    return [p.name for p in Path(folder).glob("*.partial")] if Path(folder).exists() else []


# -- the registry itself ----------------------------------------------------------------------
def test_entries_are_well_formed():
    for name, e in W.REGISTRY.items():
        assert e.name == name and e.filename and e.source and e.licence and e.description
        assert e.sha256 is None or all(c in "0123456789abcdef" for c in e.sha256)
        assert e.hash_source, f"{name}: say where the hash comes from, or why there is none"
        if e.kind == "hf_snapshot":
            assert e.sha256 is None and e.hf_repo and e.source == f"hf://{e.hf_repo}"
    assert W.REGISTRY["edtalk"].key == "gen" and W.REGISTRY["audio2lip"].key == "audio2lip"


@pytest.mark.parametrize("name, enum", [("vgg19", "VGG19_Weights"), ("vgg16", "VGG16_Weights"),
                                        ("alexnet", "AlexNet_Weights")])
def test_torchvision_urls_and_hash_prefixes(name, enum):
    import torchvision.models as tvm
    e = W.REGISTRY[name]
    assert e.url == getattr(tvm, enum).IMAGENET1K_V1.url
    assert e.url.endswith("/" + e.filename)
    assert e.filename.rsplit("-", 1)[1].split(".")[0] == e.sha256        # torch.hub's name-hash convention


def test_lpips_entries_match_the_installed_wheel():
    for name in ("lpips", "lpips_vgg"):
        v = W.verify(name)
        assert v.ok, (name, v)


# -- lookup -----------------------------------------------------------------------------------
def test_missing_file_error_teaches(offline):
    with pytest.raises(W.WeightsNotFoundError) as err:
        W.resolve("vgg19")
    msg = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in msg
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    assert str(offline / "home" / "vgg19-dcbb9e9d.pth") in msg
    assert "talkinglib weights fetch vgg19" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_lookup_order_home_then_torch_hub(offline):
    hub = Path(torch.hub.get_dir()) / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert str(hub).startswith(str(offline / "torch"))
    hub.parent.mkdir(parents=True)
    hub.write_bytes(b"hub copy")
    assert W.resolve("vgg19") == hub
    mine = offline / "home" / "vgg19-dcbb9e9d.pth"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"home copy")
    assert W.resolve("vgg19") == mine


def test_hf_cache_snapshots(offline):
    repo = offline / "hf" / "models--facebook--hubert-large-ls960-ft"
    for rev in ("aaa", "bbb"):
        (repo / "snapshots" / rev).mkdir(parents=True)
        (repo / "snapshots" / rev / "config.json").write_text("{}")
        (repo / "snapshots" / rev / "model.safetensors").write_bytes(b"x")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("bbb")
    assert W.resolve("hubert") == repo / "snapshots" / "bbb"            # refs/main first
    v = W.verify("hubert")
    assert v.ok is None and "bbb" in v.detail
    # an EDTalk.pt anywhere inside a snapshot of the authors' hub repo is found too
    edt = offline / "hf" / "models--tanshuai0219--EDTalk" / "snapshots" / "c9a5" / "ckpts" / "EDTalk.pt"
    edt.parent.mkdir(parents=True)
    torch.save({"gen": {"w": torch.ones(2)}}, edt)
    assert W.resolve("edtalk") == edt
    torch.testing.assert_close(W.load("edtalk")["w"], torch.ones(2))   # load() returns ckpt["gen"]


def test_unknown_name():
    with pytest.raises(W.WeightsError, match="known: .*vgg19"):
        W.resolve("vgg91")


# -- fetch: the only download path ------------------------------------------------------------
def test_fetch_downloads_checks_full_hash_and_writes(monkeypatch, offline):
    payload = b"pretend weights " * 100
    e = with_entry(monkeypatch, W.WeightsEntry(
        "toy", "toy.pth", "https://example.org/toy.pth", hashlib.sha256(payload).hexdigest(), "CC0", "toy",
        url="https://example.org/toy.pth", hash_source="test"))
    calls = []
    serve(monkeypatch, payload, calls)
    path = W.fetch("toy", progress=False)
    assert path == offline / "home" / "toy.pth" and path.read_bytes() == payload
    assert calls == [e.url] and leftovers(path.parent) == []
    assert W.verify("toy").ok is True
    W.fetch("toy", progress=False)                                      # present: no second download
    assert calls == [e.url]


def test_fetch_checks_a_published_prefix(monkeypatch, offline):
    payload = b"vgg19 bytes"
    with_entry(monkeypatch, replace(W.REGISTRY["vgg19"], sha256=hashlib.sha256(payload).hexdigest()[:8]))
    serve(monkeypatch, payload)
    assert W.fetch("vgg19", progress=False).read_bytes() == payload


def test_bad_hash_is_rejected_and_nothing_is_written(monkeypatch, offline):
    payload = b"not really vgg19"
    digest = hashlib.sha256(payload).hexdigest()
    assert not digest.startswith("dcbb9e9d")
    serve(monkeypatch, payload)
    with pytest.raises(W.WeightsHashError) as err:
        W.fetch("vgg19", progress=False)
    assert "dcbb9e9d" in str(err.value) and digest in str(err.value)
    home = offline / "home"
    assert not (home / "vgg19-dcbb9e9d.pth").exists() and leftovers(home) == []


def test_forced_refetch_with_bad_hash_keeps_the_old_file(monkeypatch, offline):
    old = offline / "home" / "vgg19-dcbb9e9d.pth"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old good copy")
    serve(monkeypatch, b"corrupt")
    with pytest.raises(W.WeightsHashError):
        W.fetch("vgg19", force=True, progress=False)
    assert old.read_bytes() == b"old good copy" and leftovers(old.parent) == []


def test_interrupted_download_leaves_no_partial_file(monkeypatch, offline):
    serve(monkeypatch, b"0123456789" * 10, fail_after=20)
    with pytest.raises(ConnectionResetError):
        W.fetch("vgg19", progress=False)
    home = offline / "home"
    assert not (home / "vgg19-dcbb9e9d.pth").exists() and leftovers(home) == []


def test_fetch_without_direct_link_explains(offline):
    with pytest.raises(W.WeightsError) as err:
        W.fetch("edtalk")
    msg = str(err.value)
    assert W.EDTALK_DRIVE in msg and str(offline / "home" / "EDTalk.pt") in msg


def test_fetch_hf_snapshot_uses_the_hub_client(monkeypatch, offline):
    import huggingface_hub
    seen = {}

    def snapshot_download(repo_id, local_dir, allow_patterns):
        seen.update(repo_id=repo_id, allow=allow_patterns)
        Path(local_dir).mkdir(parents=True)
        (Path(local_dir) / "config.json").write_text("{}")
        (Path(local_dir) / "model.safetensors").write_bytes(b"x")
        return str(local_dir)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    path = W.fetch("wav2vec2")
    assert seen["repo_id"] == "facebook/wav2vec2-base-960h" and "*.safetensors" in seen["allow"]
    assert W.resolve("wav2vec2") == path == offline / "home" / "wav2vec2-base-960h"


# -- CLI ----------------------------------------------------------------------------------------
def run_cli(*argv):
    from talkinglib.cli import main
    return main(list(argv))


def test_cli(monkeypatch, offline, capsys):
    assert run_cli("weights", "list") == 0
    out = capsys.readouterr().out
    assert "vgg19" in out and "missing" in out and "present" in out       # lpips ships in the wheel
    assert run_cli("weights", "path", "vgg19") == 2                      # a WeightsError: one line, exit 2
    err = capsys.readouterr().err
    assert "talkinglib weights fetch vgg19" in err and err.startswith("error: ") and len(err.splitlines()) == 1
    serve(monkeypatch, b"corrupt")
    assert run_cli("weights", "fetch", "vgg19") == 2
    assert "sha256 mismatch" in capsys.readouterr().err
    bad = offline / "home" / "vgg19-dcbb9e9d.pth"
    bad.write_bytes(b"corrupt")
    assert run_cli("weights", "verify", "vgg19") == 1 and "MISMATCH" in capsys.readouterr().out
    assert run_cli("weights", "path", "vgg19") == 0 and str(bad) in capsys.readouterr().out
    assert run_cli("weights", "verify", "lpips") == 0
    assert run_cli("weights", "verify") == 1                               # no NAME: every present entry
    out = capsys.readouterr().out
    assert "vgg19: " in out and "MISMATCH" in out and "lpips: " in out and "alexnet" not in out


def test_fetch_offline_says_what_to_do(monkeypatch, offline, capsys):
    import urllib.error
    import urllib.request

    def no_network(*a, **k):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert run_cli("weights", "fetch", "vgg19") == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "looks offline" in err and str(offline / "home" / "vgg19-dcbb9e9d.pth") in err
    assert not list((offline / "home").glob("*vgg19*"))                  # nothing partial left

"""Pretrained weights: the registry (resources/weights.yaml), a verified local cache, fetching.

    python -m axilla.weights list                      what the registry names, and the cache's state
    python -m axilla.weights fetch NAME... | --all     download into the cache, verified
    python -m axilla.weights verify [NAME...]          re-check cached files (all when none named)
    python -m axilla.weights register PATH --name NAME [--sha256 HEX]   a file without a stable URL
    python -m axilla.weights path NAME                 where NAME's file lies in the cache

The cache is `$AXILLA_WEIGHTS`, else `$XDG_CACHE_HOME/axilla/weights`, else
`~/.cache/axilla/weights`. A config names pretrained weights by a word (`deep.weights.init:
imagenet`); the network's backbone and 2D/3D choose the registry entry. No torch here: `validate`
(the imaging environment) checks the cache before any compute, and a missing or corrupt file stops
the study there with the command that fetches it; nothing falls back to random weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError, Problem
from .io import atomic_path, file_sha256, write_json

REGISTRY = Path(__file__).resolve().parents[2] / "resources" / "weights.yaml"
INDEX = "index.json"  # in the cache: name -> the full sha256 recorded when the file was placed
PRETRAINED = "pretrained"  # the word for ImageNet on a 2D network, MedicalNet on a 3D one
_HUB_HASH = re.compile(r"-([a-f0-9]+)\.")  # torch.hub: the hash prefix in a file name
_CHUNK = 1 << 20
TWO_D_ONLY = ("densenet121", "vgg19")  # as axilla.deep.backbones.build_backbone
_FIELDS = ("weights", "architecture", "dims", "layout", "file", "url", "sha256", "sha256_prefix", "overrides",
           "input_norm")


class CacheError(ValueError):
    """A weights file that is not in the cache, or not the file its entry pins; says what to run."""


@dataclass(frozen=True)
class Entry:
    """One registry entry (resources/weights.yaml)."""

    name: str
    weights: str
    architecture: str
    dims: int
    layout: str
    file: str
    url: str | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    overrides: dict = field(default_factory=dict)
    input_norm: str | None = None

    def pins(self) -> list[str]:
        """The digests (full or prefix) a file must begin with: the pinned ones, else the URL's."""
        pinned = [h.lower() for h in (self.sha256, self.sha256_prefix) if h]
        if not pinned and self.url and (m := _HUB_HASH.search(self.url.rsplit("/", 1)[-1])):
            pinned.append(m.group(1))
        return pinned

    def how_to_get(self) -> str:
        """The command that puts this entry's file into the cache."""
        if self.url:
            return f"python -m axilla.weights fetch {self.name}"
        return f"python -m axilla.weights register PATH --name {self.name}"


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """The weights cache: `cache`, else $AXILLA_WEIGHTS, else the user's cache folder."""
    if cache:
        return Path(cache).expanduser()
    if os.environ.get("AXILLA_WEIGHTS"):
        return Path(os.environ["AXILLA_WEIGHTS"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "axilla" / "weights"


def load_registry(path: str | os.PathLike | None = None) -> dict[str, Entry]:
    """name -> Entry of a registry file (default resources/weights.yaml)."""
    import yaml

    path = Path(path or REGISTRY)
    raw = yaml.safe_load(path.read_text()) or {}
    entries = {}
    for name, spec in raw.items():
        unknown = set(spec) - set(_FIELDS)
        if unknown:
            raise ValueError(f"{path}: entry {name}: unknown field(s) {sorted(unknown)}; allowed: {list(_FIELDS)}")
        entries[name] = Entry(name=name, **{**spec, "overrides": dict(spec.get("overrides") or {})})
    return entries


def words(registry: dict[str, Entry]) -> set[str]:
    """The words a config may name cached weights by (imagenet, medicalnet, pretrained)."""
    return {e.weights for e in registry.values()} | {PRETRAINED}


def is_cache_word(value, registry: dict[str, Entry] | None = None) -> bool:
    return isinstance(value, str) and value in words(registry or load_registry())


def network_dims(modality: str, slices="volume") -> int:
    """2D or 3D network for a modality, as axilla.deep.inputs.view_inputs builds it: MRI 3D unless
    `deep.slices` takes its largest-ROI slice(s) (max_roi: a 2D network); MG / US 2D."""
    return 3 if modality == "MRI" and slices == "volume" else 2


def entry_for(word: str, backbone: str, dims: int, registry: dict[str, Entry]) -> Entry:
    """The registry entry `word` names for a `dims`-D `backbone` network; ValueError if none."""
    want = ("imagenet" if dims == 2 else "medicalnet") if word == PRETRAINED else word
    found = [e for e in registry.values() if (e.weights, e.architecture, e.dims) == (want, backbone, dims)]
    if found:
        return found[0]
    other = sorted({e.weights for e in registry.values() if (e.architecture, e.dims) == (backbone, dims)})
    hint = (f"for a {dims}D {backbone} there are: {', '.join(other)} (or `{PRETRAINED}`: ImageNet for 2D, "
            f"MedicalNet for 3D networks)" if other else "choose another backbone or weights, or add an entry")
    raise ValueError(f"no {want} weights for a {dims}D {backbone} in the registry; {hint}")


# --------------------------------------------------------------------------- the cache and its index


def _index(cache: Path) -> dict:
    p = cache / INDEX
    return json.loads(p.read_text()) if p.is_file() else {}


def _record(cache: Path, entry: Entry, digest: str, origin: str) -> None:
    index = _index(cache)
    index[entry.name] = {"file": entry.file, "sha256": digest, "bytes": (cache / entry.file).stat().st_size,
                         "origin": origin}
    write_json(index, cache / INDEX)


def _expected(entry: Entry, cache: Path) -> list[str]:
    recorded = (_index(cache).get(entry.name) or {}).get("sha256")
    return entry.pins() + ([recorded] if recorded else [])


def _mismatch(digest: str, expected: list[str]) -> str | None:
    """The first expected digest (full or prefix) that `digest` does not begin with, else None."""
    return next((e for e in expected if not digest.startswith(e.lower())), None)


def verify(entry: Entry, cache: str | os.PathLike | None = None) -> str:
    """The sha256 of `entry`'s cached file after checking it against every pin; CacheError if
    the file is absent, unpinned and unregistered, or not the pinned file."""
    cache = cache_dir(cache)
    path = cache / entry.file
    if not path.is_file():
        raise CacheError(f"{entry.name} ({entry.weights} {entry.architecture}, {entry.dims}D) is not in the weights "
                         f"cache ({path} absent); run `{entry.how_to_get()}`" + _offline_hint(entry))
    expected = _expected(entry, cache)
    if not expected:
        raise CacheError(f"{path} has no digest to check it against (placed by hand, not registered); "
                         f"run `python -m axilla.weights register {path} --name {entry.name} [--sha256 HEX]`")
    digest = file_sha256(path)
    bad = _mismatch(digest, expected)
    if bad:
        raise CacheError(f"{path} is corrupt or not the file {entry.name} pins (sha256 {digest[:16]}…, expected "
                         f"{bad[:16]}…); run `{entry.how_to_get()}` to replace it")
    return digest


def _offline_hint(entry: Entry) -> str:
    if entry.url:
        return f" (or `make weights NAMES={entry.name}`; offline: register a copy of {entry.url.rsplit('/', 1)[-1]})"
    return " (no stable public URL: see resources/weights.yaml for where to get the file)"


def _copy_hashing(src, tmp: Path) -> str:
    """Stream `src` (a readable binary stream) into `tmp` (an atomic_path temporary); the sha256
    of what was written."""
    h = hashlib.sha256()
    with open(tmp, "wb") as out:
        for chunk in iter(lambda: src.read(_CHUNK), b""):
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()


def fetch(entry: Entry, cache: str | os.PathLike | None = None, *, timeout: float = 60) -> Path:
    """Download `entry` into the cache unless a verified copy is there: streamed to a temporary
    file, checked against the pins, then moved into place (a refused download leaves nothing)."""
    from urllib.request import urlopen

    cache = cache_dir(cache)
    if not entry.url:
        raise CacheError(f"{entry.name} has no download URL; place the file yourself: `{entry.how_to_get()}`")
    if not entry.pins():
        raise CacheError(f"{entry.name}: pin sha256 or sha256_prefix in the registry before fetching {entry.url}")
    try:
        verify(entry, cache)
        return cache / entry.file
    except CacheError:
        pass  # absent or bad: download (again)
    with atomic_path(cache / entry.file) as tmp, urlopen(entry.url, timeout=timeout) as response:
        digest = _copy_hashing(response, tmp)
        bad = _mismatch(digest, entry.pins())
        if bad:
            raise CacheError(f"download of {entry.url} refused: sha256 {digest[:16]}… does not match the pinned "
                             f"{bad}… (a corrupt or altered file); nothing was written")
    _record(cache, entry, digest, entry.url)
    return cache / entry.file


def register(src: str | os.PathLike, entry: Entry, cache: str | os.PathLike | None = None,
             sha256: str | None = None) -> Path:
    """Copy a local file into the cache as `entry`'s file (checked against `sha256`, the digest the
    user recorded, and the entry's pins) and record its full digest."""
    cache = cache_dir(cache)
    src, dst = Path(src).expanduser(), cache / entry.file
    if not src.is_file():
        raise CacheError(f"{src} is not a file")
    expected = entry.pins() + ([sha256.lower()] if sha256 else [])
    if src.resolve() == dst.resolve():  # placed by hand: check and record it where it is
        digest = file_sha256(dst)
        _refuse_unless(digest, expected, src, entry)
    else:
        with atomic_path(dst) as tmp, open(src, "rb") as fh:
            digest = _copy_hashing(fh, tmp)
            _refuse_unless(digest, expected, src, entry)
    _record(cache, entry, digest, str(src))
    return dst


def _refuse_unless(digest: str, expected: list[str], src, entry: Entry) -> None:
    bad = _mismatch(digest, expected)
    if bad:
        raise CacheError(f"{src} refused as {entry.name}: sha256 {digest} does not match {bad}; not placed in the cache")


def resolve(word: str, backbone: str, dims: int, *, cache=None, registry=None) -> tuple[dict, dict]:
    """(file spec for axilla.deep.weights, provenance record) of the verified cached file `word`
    names for a `dims`-D `backbone`; ValueError / CacheError with what to do otherwise."""
    reg = registry if isinstance(registry, dict) else load_registry(registry)
    entry = entry_for(word, backbone, dims, reg)
    digest = verify(entry, cache)
    spec = {"path": str(cache_dir(cache) / entry.file), "architecture": dict(entry.overrides),
            "input_norm": entry.input_norm}
    record = {"name": entry.name, "weights": entry.weights, "layout": entry.layout, "url": entry.url,
              "sha256": digest, "path": spec["path"]}
    return spec, record


# --------------------------------------------------------------------------- validate's check


def _named(weights: dict) -> tuple[str, object]:
    """(config key, value) of what deep.weights loads a file from: init (finetune) or path (file)."""
    key = {"finetune": "init", "file": "path"}.get(weights.get("source"))
    value = weights.get(key) if key else None
    if isinstance(value, dict):  # an init given as a file spec
        key, value = f"{key}.path", value.get("path")
    return f"deep.weights.{key}", value


def weights_problems(deep, views, *, cache=None, registry=None) -> list[Problem]:
    """Problems of each modality's network and its configured weights, before any compute: a 2D-only
    backbone on a 3D network, pretrained weights the registry lacks, a file absent from the cache
    or not the pinned one (with the command that fetches it), a named local file that is absent."""
    reg = load_registry(registry)
    key, value = _named(dict(deep.weights))
    problems, seen = [], set()
    nets = [(m, b) for m in sorted(views) for b in deep.candidates(m)]  # every compared backbone too
    for modality, backbone in nets:
        dims = network_dims(modality, deep.slices)
        where = f"{modality} network ({backbone}, {dims}D)"
        if dims == 3 and backbone in TWO_D_ONLY:
            key_of = "backbones" if deep.backbones.get(modality) else "backbone"
            problems.append(Problem(f"config deep.{key_of}.{modality}: {backbone}",
                                    f"{backbone} is offered in 2D only and the {modality} network is 3D; "
                                    "choose resnet18, resnet34, resnet50 or resnet101"))
        elif is_cache_word(value, reg):
            try:
                entry = entry_for(value, backbone, dims, reg)
                if entry.name not in seen:
                    seen.add(entry.name)
                    verify(entry, cache)
            except ValueError as e:  # CacheError included
                problems.append(Problem(f"config {key}: {value}", f"{where}: {e}"))
    if isinstance(value, str) and value != "random" and not is_cache_word(value, reg) and not Path(value).is_file():
        problems.append(Problem(f"config {key}", f"weights file {value} not found (a path, relative to the "
                                                 f"working directory, or one of {sorted(words(reg))})"))
    return problems


# --------------------------------------------------------------------------- command line


def _status(entry: Entry, cache: Path) -> str:
    if not (cache / entry.file).is_file():
        return "missing"
    try:
        return "ok " + verify(entry, cache)[:12]
    except CacheError:
        return "BAD"


def _list(reg: dict[str, Entry], cache: Path, _args) -> int:
    print(f"cache: {cache}")
    for e in reg.values():
        print(f"{e.name:22s} {e.weights:10s} {e.architecture:12s} {e.dims}D  {_status(e, cache):16s} "
              f"{e.url or 'no URL: register a local file'}")
    return 0


def _pick(reg: dict[str, Entry], names: list[str]) -> list[Entry]:
    unknown = [n for n in names if n not in reg]
    if unknown:
        raise CacheError(f"unknown weights name(s) {unknown}; the registry has {', '.join(reg)}")
    return [reg[n] for n in names]


def _fetch(reg, cache, args) -> int:
    names = [n for n, e in reg.items() if e.url] if args.all else args.names
    if not names:
        raise CacheError("name the weights to fetch (python -m axilla.weights list), or --all")
    for e in _pick(reg, names):
        print(f"{e.name}: {fetch(e, cache, timeout=args.timeout)} (sha256 {verify(e, cache)})")
    return 0


def _verify(reg, cache, args) -> int:
    todo = _pick(reg, args.names) if args.names else [e for e in reg.values() if (cache / e.file).is_file()]
    bad = 0
    for e in todo:
        try:
            print(f"{e.name}: ok (sha256 {verify(e, cache)})")
        except CacheError as err:
            bad += 1
            print(f"{e.name}: {err}", file=sys.stderr)
    return 1 if bad else 0


def _register(reg, cache, args) -> int:
    (e,) = _pick(reg, [args.name])
    path = register(args.path, e, cache, sha256=args.sha256)
    print(f"{e.name}: {path} (sha256 {verify(e, cache)})")
    return 0


def _path(reg, cache, args) -> int:
    (e,) = _pick(reg, [args.name])
    print(cache / e.file)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m axilla.weights", description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", help="cache folder (default: $AXILLA_WEIGHTS or ~/.cache/axilla/weights)")
    p.add_argument("--registry", help=f"registry file (default: {REGISTRY})")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registry entries and their cache state").set_defaults(run=_list)
    f = sub.add_parser("fetch", help="download into the cache, verified")
    f.add_argument("names", nargs="*")
    f.add_argument("--all", action="store_true", help="every entry with a URL")
    f.add_argument("--timeout", type=float, default=60, help="seconds without data before giving up")
    f.set_defaults(run=_fetch)
    v = sub.add_parser("verify", help="re-check cached files against their digests")
    v.add_argument("names", nargs="*")
    v.set_defaults(run=_verify)
    r = sub.add_parser("register", help="place a local file (e.g. MedicalNet) in the cache")
    r.add_argument("path")
    r.add_argument("--name", required=True)
    r.add_argument("--sha256", help="the digest you recorded for the file (full or prefix)")
    r.set_defaults(run=_register)
    w = sub.add_parser("path", help="the cache path of an entry's file")
    w.add_argument("name")
    w.set_defaults(run=_path)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(load_registry(args.registry), cache_dir(args.cache), args)
    except (CacheError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Writes the fuzzing seed corpus: tests/fuzz/seeds/<harness>/<name>.

    .venv/bin/python tests/fuzz/make_seeds.py          # (re)write the seeds
    .venv/bin/python tests/fuzz/make_seeds.py --check  # exit 1 if the files differ

Seeds are small, valid-looking inputs of each parser (the mutators start from them), plus the
hostile shapes of ../shared/docs/HOSTILE.md and every input that once crashed a harness
(tests/fuzz/test_regressions.py keeps those as named tests too). Everything is generated
deterministically: fixed seeds, fixed archive dates. Nothing here is ever unpickled or run:
the hostile pickles are assembled opcode by opcode.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import pickle
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, when run as a script
from helpers import zip_listing, zip_with_empty_name

SEEDS = Path(__file__).resolve().parent / "seeds"
DATE = (2021, 6, 1, 12, 0, 0)
MTIME = 1_622_548_800


def _vectors(n: int, d: int, seed: int = 7) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _npy(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    if version is None:
        np.save(buf, array, allow_pickle=False)
    else:
        np.lib.format.write_array(buf, array, version=version, allow_pickle=False)
    return buf.getvalue()


def _npy_header(descr: str, shape: str) -> bytes:
    """A version 1.0 header written by hand (for shapes and dtypes numpy would not save)."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode("latin-1")


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type = compression
            if name.endswith("/"):
                info.external_attr = 0o40755 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), MTIME
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, MTIME
            tf.addfile(info)
    return buf.getvalue()


def _image(fmt: str, **params: object) -> bytes:
    im = Image.new("RGB", (8, 8), (200, 120, 90))
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


# -- per harness ---------------------------------------------------------------------------


def pickle_seeds() -> dict[str, bytes]:
    vecs = _vectors(3, 16)
    gallery = {"encodings": [list(map(float, v)) for v in vecs], "names": ["ann", "bob", "cy"]}
    out = {f"gallery-p{p}.pkl": pickle.dumps(gallery, protocol=p) for p in range(6)}
    out["array-p2.pkl"] = pickle.dumps(_vectors(2, 16).astype(np.float64), protocol=2)
    out["array-p4.pkl"] = pickle.dumps({"emb": _vectors(3, 16)}, protocol=4)
    out["array-p5.pkl"] = pickle.dumps([_vectors(2, 8)], protocol=5)
    out["containers.pkl"] = pickle.dumps(
        ({1, 2}, frozenset({3}), b"\x00\x01", bytearray(b"ab"), (None, True, 1.5, 10**30)),
        protocol=4,
    )
    out["concatenated.pkl"] = pickle.dumps([1.0] * 8, 2) + pickle.dumps({"k": "v"}, 2)
    out["truncated.pkl"] = pickle.dumps(gallery, protocol=4)[:-40]
    # Code-execution payloads, assembled by hand (never loaded, anywhere).
    out["reduce-system-p0.pkl"] = b"cposix\nsystem\n(S'touch /tmp/faceaudit-canary'\ntR."
    out["stack-global-p4.pkl"] = (
        b"\x80\x04\x95\x30\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94"
        b"\x93\x94\x8c\x0a__import__\x94\x85\x94R\x94."
    )
    out["inst-p0.pkl"] = b"(S'id'\nisubprocess\ncheck_output\n."
    out["memo-cycle.pkl"] = b"\x80\x02]q\x00h\x00a."
    out["long-length.pkl"] = b"\x80\x04\x8d" + (2**62).to_bytes(8, "little") + b"abc"
    return out


def npy_seeds() -> dict[str, bytes]:
    out = {
        "float32-4x128.npy": _npy(_vectors(4, 128)),
        "float64-2x8.npy": _npy(_vectors(2, 8).astype(np.float64)),
        "fortran.npy": _npy(np.asfortranarray(_vectors(3, 16))),
        "v2.npy": _npy(_vectors(2, 16), version=(2, 0)),
        "v3.npy": _npy(_vectors(2, 16), version=(3, 0)),
        "int16.npy": _npy(np.arange(64, dtype="<i2").reshape(4, 16)),
        "bool.npy": _npy(np.ones((2, 8), dtype=bool)),
        "scalar.npy": _npy(np.float32(1.5)),
        "empty.npy": _npy(np.zeros((0, 128), dtype=np.float32)),
        "bigendian.npy": _npy(_vectors(2, 16).astype(">f4")),
    }
    rec = np.zeros(3, dtype=[("name", "U8"), ("embedding", "<f4", (16,))])
    rec["name"] = ["a", "b", "c"]
    rec["embedding"] = _vectors(3, 16)
    out["structured.npy"] = _npy(rec)
    out["lying-8tb.npy"] = _npy_header("<f4", "(1099511627776, 2048)") + b"\x00" * 64
    out["two-arrays.npy"] = out["float64-2x8.npy"] + out["int16.npy"]
    out["object-descr.npy"] = _npy_header("|O", "(2,)") + pickle.dumps([1, 2], protocol=2)
    return out


def json_seeds() -> dict[str, bytes]:
    vecs = _vectors(3, 16)
    gallery = {"encodings": vecs.round(5).tolist(), "names": ["ann", "bob", "cy"]}
    rounded = vecs.round(3).tolist()
    return {
        "gallery.json": json.dumps(gallery).encode(),
        "records.json": json.dumps(
            [{"name": n, "embedding": v} for n, v in zip("abc", rounded, strict=True)]
        ).encode(),
        "lines.jsonl": b"\n".join(
            json.dumps({"id": i, "vec": v}).encode() for i, v in enumerate(rounded)
        ),
        "string-vectors.json": json.dumps({"face": [str(v) for v in rounded]}).encode(),
        "hex-vector.json": json.dumps({"encoding": vecs[0].astype("<f8").tobytes().hex()}).encode(),
        "deep.json": b"[" * 70 + b"1" + b"]" * 70,
        "nan.json": b'{"v": [NaN, Infinity, -Infinity, 1, 2, 3, 4, 5]}',
        "bigint.json": b"[" + b"9" * 120 + b"]",
        "escapes.json": b'{"a\\"[": "\\\\\\"{", "b": [1e308, -1e-308, 0, 1, 2, 3, 4, 5]}',
        "bom.json": "\ufeff".encode() + json.dumps({"x": [0.5] * 8}).encode(),
    }  # fmt: skip


def csv_seeds() -> dict[str, bytes]:
    vecs = _vectors(4, 16).round(4)
    header = "name," + ",".join(f"f{i}" for i in range(16))
    rows = [f"p{i}," + ",".join(map(str, v)) for i, v in enumerate(vecs)]
    cells = ["id,embedding", *(f'{i},"{list(map(float, v))}"' for i, v in enumerate(vecs))]
    rows12 = [",".join(["0.5"] * 12)] * 5
    return {
        "rows.csv": "\n".join([header, *rows]).encode(),
        "rows.tsv": "\n".join(r.replace(",", "\t") for r in [header, *rows]).encode(),
        "cells.csv": "\n".join(cells).encode(),
        "semicolon.csv": "\n".join(r.replace(",", ";") for r in rows).encode(),
        "quoted.csv": b'a,"b ""c""",d\n"multi\nline",2,3\n',
        "hex-cells.csv": b"id,enc\n1," + vecs[0].astype("<f4").tobytes().hex().encode() + b"\n",
        "ragged.csv": b"1,2,3\n4,5\n6,7,8,9\n,,,\n",
        "regression-first-row.csv": "\n".join(
            ["0.5,n/a," + ",".join(["0.5"] * 10), *rows12]
        ).encode(),
        "regression-blank-cell.csv": "\n".join(
            rows12[:1] + ["0.5, ," + ",".join(["0.5"] * 10)] * 5
        ).encode(),
        "latin1.csv": "name;v1;v2;v3\ncafé;0.1;0.2;0.3\nzoë;0.4;0.5;0.6\n".encode("latin-1"),
    }


def text_seeds() -> dict[str, bytes]:
    vecs = _vectors(2, 128).round(4)
    values = ",".join(map(str, vecs[0]))
    b64 = __import__("base64").b64encode(vecs[1].astype("<f4").tobytes()).decode()
    return {
        "insert.sql": f"INSERT INTO faces (id, embedding) VALUES (1, '[{values}]');\n".encode(),
        "copy.sql": f"COPY faces (id, encoding) FROM stdin;\n1\t{{{values}}}\n\\.\n".encode(),
        "list.yaml": ("embedding:\n" + "".join(f"  - {v}\n" for v in vecs[0])).encode(),
        "source.py.txt": f"ENC = np.array([{values}])\n".encode(),
        "base64.txt": f"template = {b64}\n".encode(),
        "hex.txt": ("\\\\x" + vecs[0].astype("<f8").tobytes().hex()).encode(),
        "numbers.txt": " ".join(str(i) for i in range(200)).encode(),
        "regression-empty-key.txt": ("'' = [" + ", ".join(["0.5"] * 64) + "]").encode(),
    }


def sniff_seeds() -> dict[str, bytes]:
    out = {
        f"image.{fmt.lower()}": _image(fmt)
        for fmt in ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "PSD")
        if fmt != "PSD"
    }
    out["heic-ftyp.bin"] = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 16
    out["avif-ftyp.bin"] = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 8
    out["mp4-ftyp.bin"] = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 8
    out["xmp.xml"] = b'<?xpacket begin=""?><x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>'
    out["eps.jpg"] = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    out["pnm-text.txt"] = b"P1 priority ticket\n"
    out["zlib.bin"] = zlib.compress(b"data" * 20)
    out["pickle-p0.bin"] = b"(lp0\nF0.5\naF0.25\na."
    out["sqlite.bin"] = b"SQLite format 3\x00" + b"\x10\x00\x01\x01" + b"\x00" * 80
    out["hdf5-userblock.bin"] = b"\x00" * 512 + b"\x89HDF\r\n\x1a\n" + b"\x00" * 32
    out["csv.txt"] = b"a,b,c\n1,2,3\n4,5,6\n"
    out["ini.txt"] = b"[section]\nkey=value\n"
    out["utf8-cut.txt"] = "é".encode() * 2047 + "é".encode()[:1]
    return out


def pdf_seeds() -> dict[str, bytes]:
    from scanner import demo_documents as documents

    photo = Image.new("RGB", (40, 30), (200, 120, 90))
    page = documents.Page
    pic = documents.Picture
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    return {
        "jpeg.pdf": documents.pdf([page([pic(photo, "jpeg")], "Form")]),
        "flate.pdf": documents.pdf([page([pic(photo, "flate")])]),
        "png-rows.pdf": documents.pdf([page([pic(photo.convert("L"), "png")])]),
        "text-xmp.pdf": documents.pdf([page(text="Policy"), page()], xmp=xmp),
        "cmyk.pdf": documents.pdf([page([pic(photo, "flate")])]).replace(
            b"/DeviceRGB", b"/DeviceCMYK"
        ),
    }


def archive_seeds() -> dict[str, bytes]:
    png = _image("PNG")
    npy = _npy(_vectors(2, 16))
    inner = _zip({"inner/face.png": png})
    return {
        "deflated.zip": _zip({"a/face.png": png, "a/": b"", "enc.npy": npy, "notes.txt": b"hi"}),
        "stored.zip": _zip({"x.jpg": _image("JPEG"), "nested.zip": inner}, zipfile.ZIP_STORED),
        "plain.tar": _tar(
            {"p/face.png": png, "p/v.npy": npy}, links={"p/link": "../../etc/passwd"}
        ),
        "long-name.tar": _tar({"d/" + "n" * 180 + ".png": png}),
        "single.png.gz": gzip.compress(png, mtime=0),
        "tar.gz": gzip.compress(_tar({"f.png": png}), mtime=0),
        "single.bz2": bz2.compress(npy),
        "single.xz": lzma.compress(png),
        "joblib.zlib": zlib.compress(pickle.dumps([1.0] * 16, protocol=2)),
        "empty.zip": b"PK\x05\x06" + b"\x00" * 18,
        "traversal.zip": _zip({"../../evil.png": png, "/abs/face.png": png}),
        "zip64.zip": _listing(6, 6, zip64=True),
        "regression-empty-name.zip": zip_with_empty_name(png),
    }


def _listing(listed: int, real: int, *, zip64: bool) -> bytes:
    buf = io.BytesIO()
    zip_listing(buf, listed, real=real, zip64=zip64)
    return buf.getvalue()


def zip_index_seeds() -> dict[str, bytes]:
    """Shapes of the central directory and its end records (the zip index reader)."""
    png = _image("PNG")
    plain = _zip({"a/": b"", "a/face.png": png, "notes.txt": b"hi" * 20})
    fake_end = b"PK\x05\x06" + bytes(18)
    with_comment = bytearray(plain)
    with_comment[-2:] = (len(fake_end) + 4).to_bytes(2, "little")  # the archive comment
    return {
        "plain.zip": plain,
        "stored.zip": _zip({"x.jpg": _image("JPEG"), "y.txt": b"y"}, zipfile.ZIP_STORED),
        "zip64.zip": _listing(6, 6, zip64=True),
        "zip64-more-than-listed.zip": _listing(30, 4, zip64=True),
        "more-than-allowed.zip": _listing(30, 30, zip64=False),
        "self-extracting.zip": b"#!/bin/sh\nexit 0\n" + bytes(64) + plain,
        "fake-end-in-comment.zip": bytes(with_comment) + fake_end + b"tail",
        "empty.zip": b"PK\x05\x06" + b"\x00" * 18,
        "regression-empty-name.zip": zip_with_empty_name(png),
    }


def policy_seeds() -> dict[str, bytes]:
    minimal = b"schema_version: 1\nname: minimal\nrules: []\n"
    store = (
        b"schema_version: 1\nname: stores\nextends: [faceaudit-base]\nstores:\n"
        b"  - id: hr\n    paths: ['hr/**']\n    kinds: [face_image]\n    purpose: badges\n"
        b"    legal_basis: [gdpr-9-2-b]\n    retention: {period: P30D, from: end_of_purpose}\n"
        b"    region: [FR]\n    owner: hr@example.com\n"
    )
    return {
        "minimal.yaml": minimal,
        "stores.yaml": store,
        "extends-gdpr.yaml": b"schema_version: 1\nname: g\nextends: [gdpr]\n",
        "aliases.yaml": b"schema_version: 1\nname: &a x\ntitle: *a\n",
        "python-tag.yaml": b"schema_version: 1\nname: !!python/name:os.system x\n",
        "duplicate.yaml": b"schema_version: 1\nname: a\nname: b\n",
        "deep.yaml": b"schema_version: 1\nname: d\ntitle: " + b"[" * 60 + b"]" * 60 + b"\n",
        "flow.yaml": b"{schema_version: 1, name: f, rules: [{id: X-1, check: nope}]}\n",
        "anchors-list.yaml": b"a: &a [1, 2]\nb: [*a, *a]\n",
        "regression-control.yaml": b"schema_version: 1\nname: \x02\n",
    }


SEEDERS: dict[str, Callable[[], dict[str, bytes]]] = {
    "pickle": pickle_seeds,
    "npy": npy_seeds,
    "json": json_seeds,
    "csv": csv_seeds,
    "text": text_seeds,
    "sniff": sniff_seeds,
    "archive": archive_seeds,
    "zip_index": zip_index_seeds,
    "policy": policy_seeds,
    "pdf": pdf_seeds,
}


def generate() -> dict[Path, bytes]:
    return {
        SEEDS / harness / name: data
        for harness, make in SEEDERS.items()
        for name, data in make().items()
    }


def main(argv: list[str]) -> int:
    files = generate()
    if "--check" in argv:
        stale = [p for p, data in files.items() if not p.is_file() or p.read_bytes() != data]
        for p in stale:
            print(f"stale seed: {p.relative_to(SEEDS)}")
        return 1 if stale else 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(files)} seeds ({sum(map(len, files.values()))} bytes) under {SEEDS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

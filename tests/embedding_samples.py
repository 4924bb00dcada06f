"""Vectors for the embedding-file tests, computed at test time and held in memory only.

Positives are real dlib descriptors (face_recognition's model) of real photos, plus
model-like L2-normalised vectors of the sizes other face models emit (512, 2622, 4096).
Hard negatives are the kinds of vectors a scan meets that are *not* face templates: sentence
embeddings, real SIFT descriptors, noise, integers, audio features, pixels.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np
from helpers import DEVSET, astronaut, skimage_data
from PIL import Image, ImageEnhance, ImageOps

from scanner.faces import dlib_faces


@functools.cache
def dlib_descriptors(dev_faces: int = 12) -> np.ndarray:
    """Real 128-d descriptors: the astronaut photo under crops, flips, scales and lighting,
    and (when the development set is present) single-face photos from it."""
    models = dlib_faces.DlibModels()
    photo = astronaut()
    variants = [photo, ImageOps.mirror(photo)]
    for scale in (0.7, 0.85, 1.3):
        variants.append(photo.resize((int(512 * scale), int(512 * scale))))
    for factor in (0.6, 1.4):
        variants.append(ImageEnhance.Brightness(photo).enhance(factor))
        variants.append(ImageEnhance.Contrast(photo).enhance(factor))
    for box in ((0, 0, 400, 400), (40, 0, 360, 320), (60, 10, 300, 250)):
        variants.append(photo.crop(box))
    out = []
    for im in variants:
        out += _encode(models, np.asarray(im.convert("RGB")))
    out += _dev_descriptors(models, dev_faces)
    return np.array(out)


def _encode(models: dlib_faces.DlibModels, img: np.ndarray) -> list[np.ndarray]:
    """Descriptors of the faces HOG finds without upsampling (4x cheaper than the default)."""
    boxes = dlib_faces.face_locations(models, img, number_of_times_to_upsample=0)
    return dlib_faces.face_encodings(models, img, boxes) if boxes else []


def _dev_descriptors(models: dlib_faces.DlibModels, wanted: int) -> list[np.ndarray]:
    manifest = DEVSET / "manifest.csv"
    if not manifest.is_file():
        return []
    with open(manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["kind"] == "face_image" and r["faces"] == "1"]
    out: list[np.ndarray] = []
    for row in rows[::3]:
        try:
            img = dlib_faces.load_image_file(DEVSET / row["path"])
        except OSError:
            continue
        if max(img.shape[:2]) <= 1000:
            out += _encode(models, img)[:1]
        if len(out) >= wanted:
            break
    return out


def model_like(n: int, d: int, seed: int, people: int = 8) -> np.ndarray:
    """L2-normalised vectors with a trained model's structure: a shared mean direction,
    unequal variance across dimensions, and one cluster per identity."""
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(np.arange(1, d + 1)) ** 0.5
    mean = rng.normal(size=d) * 0.6
    centres = mean + rng.normal(size=(people, d)) * scale
    x = centres[rng.integers(0, people, n)] + 0.35 * rng.normal(size=(n, d)) * scale
    x = np.ascontiguousarray(x[:, rng.permutation(d)])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def positives() -> dict[str, np.ndarray]:
    dlib = dlib_descriptors()
    return {
        "dlib_128": dlib,
        "dlib_128_one": dlib[:1],
        "arcface_512": model_like(40, 512, 1),
        "vggface_2622": model_like(24, 2622, 2),
        "vggface_4096": model_like(16, 4096, 3),
    }


def _audio(rng: np.random.Generator, n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-mel frames and MFCCs of a synthetic chirp with noise, computed with numpy."""
    sr = 16000
    t = np.arange(sr) / sr
    signal = np.sin(2 * np.pi * (200 + 600 * t) * t) + 0.05 * rng.normal(size=t.size)
    frames = np.lib.stride_tricks.sliding_window_view(signal, 512)[::160]
    power = np.abs(np.fft.rfft(frames * np.hanning(512), axis=1)) ** 2
    mel = 2595 * np.log10(1 + np.linspace(0, sr / 2, power.shape[1]) / 700)
    edges = np.linspace(mel.min(), mel.max(), n_mels + 2)
    bank = np.maximum(
        0,
        np.minimum(
            (mel[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None]),
            (edges[2:, None] - mel[None, :]) / (edges[2:, None] - edges[1:-1, None]),
        ),
    )
    logmel = np.log(power @ bank.T + 1e-10)
    k = np.arange(n_mels)
    dct = np.cos(np.pi / n_mels * (k[:, None] + 0.5) * k[None, :])
    return logmel, logmel @ dct


NEGATIVE_KINDS = (
    *("sentence_384_0", "sentence_768_1", "sentence_384_2", "sentence_768_3"),
    *(f"sift_{name}" for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick")),
    *(f"{kind}_{n}" for n in (20, 50, 200)
      for kind in ("uniform", "gauss", "gauss_unit", "ints", "counts")),
    *("logmel_64", "mfcc_40_of_64", "logmel_128", "mfcc_40_of_128"),
    *("pixel_rows_512", "patches_4096", "patches_4096_centred", "pixel_rows_128_norm"),
)  # fmt: skip


def hard_negatives(seed: int = 7) -> dict[str, np.ndarray]:
    """Vectors that are not face templates, in sets as they are stored."""
    from skimage import data as skdata
    from skimage.color import rgb2gray
    from skimage.feature import SIFT

    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for n, d in enumerate((384, 768, 384, 768)):
        out[f"sentence_{d}_{n}"] = model_like(60, d, 100 + n)
    sift = SIFT()
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick"):
        image = getattr(skdata, name)()
        sift.detect_and_extract(rgb2gray(image) if image.ndim == 3 else image)
        out[f"sift_{name}"] = sift.descriptors[:80].astype(np.float32)
    for n, size in enumerate((20, 50, 200)):
        out[f"uniform_{size}"] = rng.random((size, 128))
        out[f"gauss_{size}"] = rng.normal(size=(size, 128))
        g = rng.normal(size=(size, (128, 512)[n % 2]))
        out[f"gauss_unit_{size}"] = g / np.linalg.norm(g, axis=1, keepdims=True)
        out[f"ints_{size}"] = rng.integers(-100, 100, (size, 128)).astype(np.int64)
        out[f"counts_{size}"] = rng.poisson(3, (size, 512)).astype(np.int32)
    for n_mels in (64, 128):
        logmel, mfcc = _audio(rng, n_mels)
        out[f"logmel_{n_mels}"] = logmel[:60]
        out[f"mfcc_40_of_{n_mels}"] = mfcc[:60, :40]
    camera = np.asarray(Image.open(skimage_data() / "camera.png").convert("L"), np.float64)
    out["pixel_rows_512"] = camera[:60].astype(np.uint8)
    patches = np.array(
        [
            camera[i : i + 64, j : j + 64].ravel()
            for i in range(0, 448, 64)
            for j in range(0, 256, 64)
        ]
    )
    out["patches_4096"] = patches / 255.0
    out["patches_4096_centred"] = (patches - patches.mean(1, keepdims=True)) / (
        patches.std(1, keepdims=True) + 1e-6
    )
    out["pixel_rows_128_norm"] = (camera[:60, :128] - 128.0) / 128.0
    return out


def classifier_gaps(seed: int = 7) -> dict[str, np.ndarray]:
    """Small sets of noise, the hardest negatives for a set-level test: fewer than 20 vectors,
    or unit-norm 512-d (once missed by the classifier; kept as a regression table)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(20, 512))
    return {
        "gauss_12": rng.normal(size=(12, 128)),
        "gauss_5": rng.normal(size=(5, 128)),
        "gauss_unit_512_20": g / np.linalg.norm(g, axis=1, keepdims=True),
    }


# -- writers: one array, every storage layout ------------------------------------------------

PEOPLE = ("ada", "grace", "alan", "edsger", "barbara")


def _text(x: np.generic | float | int) -> str:
    return repr(x.item() if isinstance(x, np.generic) else x)


def _rows_text(array: np.ndarray, sep: str = ",") -> list[str]:
    return [sep.join(_text(v) for v in row) for row in array]


def _blobs(array: np.ndarray, dtype: str) -> list[bytes]:
    return [row.astype(dtype).tobytes() for row in array]


def write(layout: str, array: np.ndarray, folder: Path, stem: str = "store") -> Path:
    """Write `array` (n x d) in one layout under a neutral name; returns the file."""
    import base64
    import json

    array = np.atleast_2d(array)
    n = len(array)
    labels = [f"{PEOPLE[i % len(PEOPLE)]}_{i}" for i in range(n)]
    lists = array.tolist()
    if layout == "npy32":
        path = folder / f"{stem}.npy"
        np.save(path, array.astype(np.float32) if array.dtype.kind == "f" else array)
    elif layout == "npy64":
        path = folder / f"{stem}.npy"
        np.save(path, array.astype(np.float64) if array.dtype.kind == "f" else array)
    elif layout == "npz":
        path = folder / f"{stem}.npz"
        np.savez_compressed(path, values=array, labels=np.array(labels))
    elif layout == "json_by_key":
        path = folder / f"{stem}.json"
        by_key: dict[str, list[list[float]]] = {}
        for label, row in zip(labels, lists, strict=True):
            by_key.setdefault(label.split("_")[0], []).append(row)
        path.write_text(json.dumps(by_key))
    elif layout == "json_records":
        path = folder / f"{stem}.json"
        path.write_text(
            json.dumps([{"name": a, "values": r} for a, r in zip(labels, lists, strict=True)])
        )
    elif layout == "jsonl":
        path = folder / f"{stem}.jsonl"
        path.write_text("\n".join(json.dumps({"id": i, "data": r}) for i, r in enumerate(lists)))
    elif layout == "csv_rows":
        path = folder / f"{stem}.csv"
        head = "label," + ",".join(f"c{i}" for i in range(array.shape[1]))
        body = [f"{a},{r}" for a, r in zip(labels, _rows_text(array), strict=True)]
        path.write_text("\n".join([head, *body]) + "\n")
    elif layout == "csv_json_cell":
        path = folder / f"{stem}.csv"
        body = [f'{i},"{json.dumps(r)}"' for i, r in enumerate(lists)]
        path.write_text("\n".join(["id,data", *body]) + "\n")
    elif layout == "csv_hex64":
        path = folder / f"{stem}.csv"
        body = [f"{i},{b.hex()}" for i, b in enumerate(_blobs(array, "<f8"))]
        path.write_text("\n".join(["id,data", *body]) + "\n")
    elif layout == "tsv_base64":
        path = folder / f"{stem}.tsv"
        body = [f"{i}\t{base64.b64encode(b).decode()}" for i, b in enumerate(_blobs(array, "<f4"))]
        path.write_text("\n".join(["id\tdata", *body]) + "\n")
    elif layout == "yaml_block":
        path = folder / f"{stem}.yaml"
        items = [f"- id: {i}\n  data:\n" + "".join(f"  - {_text(v)}\n" for v in r)
                 for i, r in enumerate(array)]  # fmt: skip
        path.write_text(
            "items:\n" + "".join("  " + "\n  ".join(t.splitlines()) + "\n" for t in items)
        )
    elif layout == "yaml_flow":
        path = folder / f"{stem}.yml"
        path.write_text(
            "".join(f"row{i}:\n  data: [{r}]\n" for i, r in enumerate(_rows_text(array, ", ")))
        )
    elif layout == "sql_json":
        path = folder / f"{stem}.sql"
        values = ",\n".join(f"({i}, '[{r}]')" for i, r in enumerate(_rows_text(array)))
        path.write_text(
            f"CREATE TABLE t (id int, data text);\nINSERT INTO t (id, data) VALUES\n{values};\n"
        )
    elif layout == "sql_array":
        path = folder / f"{stem}.sql"
        stmts = [
            f"INSERT INTO t VALUES ({i}, ARRAY[{r}]);" for i, r in enumerate(_rows_text(array))
        ]
        path.write_text("\n".join(stmts) + "\n")
    elif layout == "sql_braces":
        path = folder / f"{stem}.sql"
        stmts = [
            f"INSERT INTO `t` (`id`, `data`) VALUES ({i}, '{{{r}}}');"
            for i, r in enumerate(_rows_text(array))
        ]
        path.write_text("-- MySQL dump\n" + "\n".join(stmts) + "\n")
    elif layout == "pg_copy":
        path = folder / f"{stem}.sql"
        rows = "".join(f"{i}\t[{r}]\n" for i, r in enumerate(_rows_text(array)))
        path.write_text(f"COPY public.t (id, data) FROM stdin;\n{rows}\\.\n")
    elif layout == "sql_hex":
        path = folder / f"{stem}.sql"
        stmts = [
            f"INSERT INTO t (id, data) VALUES ({i}, '{b.hex()}');"
            for i, b in enumerate(_blobs(array, "<f8"))
        ]
        path.write_text("\n".join(stmts) + "\n")
    elif layout.startswith(("parquet", "arrow", "feather")):
        path = _write_arrow(layout, array, labels, folder / stem)
    elif layout.startswith("hdf5"):
        path = _write_hdf5(layout, array, labels, folder / f"{stem}.h5")
    else:
        raise ValueError(layout)
    return path


def _write_arrow(layout: str, array: np.ndarray, labels: list[str], base: Path) -> Path:
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.ipc as ipc
    import pyarrow.parquet as pq

    d = array.shape[1]
    value_type = pa.from_numpy_dtype(array.dtype if array.dtype.kind != "f" else np.float32)
    flat = pa.array(array.astype(value_type.to_pandas_dtype()).ravel(), type=value_type)
    if layout == "parquet_binary":
        column = pa.array(_blobs(array, "<f4"), type=pa.binary())
    elif layout in ("parquet_fixed", "arrow_ipc", "feather_v1"):
        column = pa.FixedSizeListArray.from_arrays(flat, d)
    else:
        column = pa.array(array.tolist(), type=pa.list_(pa.float64()))
    if layout == "feather_v1":  # v1 cannot hold nested columns: one column per dimension
        table = pa.table({f"c{j}": array[:, j] for j in range(d)})
        path = base.with_suffix(".feather")
        feather.write_feather(table, path, version=1)
        return path
    table = pa.table({"label": labels, "data": column})
    if layout == "arrow_ipc":
        path = base.with_suffix(".arrow")
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=max(1, len(array) // 2))
        return path
    path = base.with_suffix(".parquet")
    pq.write_table(table, path, row_group_size=max(1, len(array) // 2))
    return path


def _write_hdf5(layout: str, array: np.ndarray, labels: list[str], path: Path) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        if layout == "hdf5_2d":
            f.create_dataset("data", data=array, chunks=True, compression="gzip")
            f["label"] = np.array(labels, dtype="S")
        else:  # one dataset per person, in a group
            group = f.create_group("gallery")
            for k, person in enumerate(PEOPLE):
                part = array[k :: len(PEOPLE)]
                if len(part):
                    group[person] = part
    return path


LAYOUTS = (
    "npy32", "npy64", "npz", "json_by_key", "json_records", "jsonl", "csv_rows",
    "csv_json_cell", "csv_hex64", "tsv_base64", "yaml_block", "yaml_flow", "sql_json",
    "sql_array", "sql_braces", "pg_copy", "sql_hex", "parquet_list", "parquet_fixed",
    "parquet_binary", "arrow_ipc", "feather_v1", "hdf5_2d", "hdf5_groups",
)  # fmt: skip

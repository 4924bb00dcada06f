"""A small demo tree built on the fly from photos that installed packages ship.

scikit-image ships real photographs (`astronaut.png`: Eileen Collins, NASA, no known
copyright; `camera.png`: the cameraman) and no-face images (a cat, coffee, a rocket, a
brick wall). From them the demo writes the cases a scan has to handle: a face image, a JPEG
with no extension, a PNG named `.jpg`, a photo stored rotated, a face inside a zip, a photo
whose XMP names the person in it, a truncated file, and no-face photos.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from PIL import Image

from scanner.errors import FaceauditError

MARKER = ".faceaudit-demo"

_XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"><mwg-rs:Regions><rdf:Description>
 <mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Type="Face"
 mwg-rs:Name="Demo Person"><mwg-rs:Area stArea:x="0.5" stArea:y="0.4" stArea:w="0.2"
 stArea:h="0.3" stArea:unit="normalized"/></rdf:Description></rdf:li></rdf:Bag>
 </mwg-rs:RegionList></rdf:Description></mwg-rs:Regions></rdf:Description></rdf:RDF>
</x:xmpmeta>"""


class DemoUnavailable(FaceauditError, RuntimeError):
    pass


def _skimage_data() -> Path:
    try:
        import skimage
    except ImportError as exc:
        raise DemoUnavailable(
            "the demo needs scikit-image's bundled photos: pip install 'faceaudit[demo]'"
        ) from exc
    return Path(skimage.__file__).parent / "data"


def _jpeg(im: Image.Image, **extra: object) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=90, **extra)
    return buf.getvalue()


def build_demo_tree(root: Path) -> Path:
    """Write the demo tree under `root` (replacing an earlier demo tree there)."""
    data = _skimage_data()
    if root.exists():
        if not (root / MARKER).exists() and any(root.iterdir()):
            raise DemoUnavailable(
                f"{root} exists and is not a faceaudit demo tree; not touching it"
            )
        shutil.rmtree(root)
    (root / "people").mkdir(parents=True)
    (root / "landscapes").mkdir()
    (root / "archives").mkdir()
    (root / "tagged").mkdir()
    (root / MARKER).write_text("built by `faceaudit demo`; safe to delete\n")

    astronaut = Image.open(data / "astronaut.png").convert("RGB")
    shutil.copyfile(data / "astronaut.png", root / "people" / "astronaut.png")
    shutil.copyfile(data / "camera.png", root / "people" / "cameraman.png")
    (root / "people" / "scan_0001").write_bytes(_jpeg(astronaut))  # a JPEG without extension
    (root / "people" / "portrait.jpg").write_bytes(  # PNG bytes named .jpg
        (data / "astronaut.png").read_bytes()
    )
    turned = astronaut.transpose(Image.Transpose.ROTATE_90)  # stored sideways, no EXIF
    (root / "people" / "sideways.jpg").write_bytes(_jpeg(turned))

    for name in ("chelsea.png", "coffee.png", "rocket.jpg", "brick.png"):
        shutil.copyfile(data / name, root / "landscapes" / name)

    with zipfile.ZipFile(root / "archives" / "old-badges.zip", "w") as zf:
        zf.writestr("2019/badge-0042.jpg", _jpeg(astronaut.resize((256, 256))))
        zf.writestr("2019/logo.png", (data / "coffee.png").read_bytes())

    coffee = Image.open(data / "coffee.png")
    (root / "tagged" / "team-lunch.jpg").write_bytes(_jpeg(coffee, xmp=_XMP.encode()))

    (root / "landscapes" / "broken.jpg").write_bytes(_jpeg(coffee)[:2000])  # truncated
    return root

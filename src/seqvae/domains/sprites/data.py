"""Sprites-style character videos: a procedural generator and the preprocessed ``.npy`` release format.

Videos are float32 ``(N, T, S, S, 3)`` RGB arrays in ``[0, 1]`` (``T = 8`` frames, ``S = 64`` by default), on a
black background, with per-video integer labels (int64 ``(N,)`` each):

* static attributes ``skin``, ``top``, ``bottom``, ``hair`` (:data:`ATTRIBUTES`), each with :data:`N_OPTIONS`
  = 6 options (names in :data:`OPTION_NAMES`);
* ``motion`` (0..2, :data:`MOTIONS` walk, spellcast, slash), ``direction`` (0..2, :data:`DIRECTIONS` left,
  front, right) and ``action = 3 * motion + direction`` (0..8).

Generator (:func:`sprite_videos`, :func:`render_sprite`): a little articulated character (head, torso, two
arms with upper arm, forearm and hand, two legs with thigh, shin and shoe) posed in 3-D by joint angles (swing
forwards, abduction sideways, elbow / knee bend) that follow the motion over the ``T`` frames, then projected:
``front`` looks at the character (two eyes, wide torso, forward swings foreshortened), ``left`` is the profile
(one eye and a nose, narrow torso, far limbs shaded darker and drawn behind the body) and ``right`` is the
exact mirror image of ``left``. Walking cycles legs and arms with a body bob; spellcast raises both arms and
holds them up; slash winds the near arm up and strikes down with a lunge. Spellcast and slash both start from
the same standing pose, so a single frame does not always tell actions apart. Attributes change colours
and shapes: skin colour (head, hands, bare shins), top (shirt colour, sleeve length, a stripe, belt, vest or
collar), bottom (trousers, shorts or a skirt in six colours), hair or hat (short, long, pigtails, wizard hat,
horned helmet, wide-brimmed hat). Shapes are signed-distance primitives (circles, capsules, rounded boxes,
convex polygons) rasterised with analytic anti-aliasing; each (direction, motion, frame) pose is rendered
once per size into per-part coverage masks, and videos are alpha-composited from those masks with
per-video colours, so generation is a few array passes per part. ``jitter`` adds a per-video integer shift
(up to ``round(jitter * S / 32)`` pixels in each axis) and Gaussian colour noise (std ``0.03 * jitter``) to
each part colour.

Release format (:func:`read_sprites_npy`, :func:`write_sprites_npy`), as produced by Yingzhen Li's Sprites
scripts and used by the DSAE / S3VAE / C-DSVAE code: a directory holding, for a split (``train``, ``test``),

* ``sprites_X_{split}.npy``: frames ``(N, T, S, S, 3)`` float in ``[0, 1]`` or uint8 ``0..255`` (channels-first
  ``(N, T, 3, S, S)`` is accepted too); the only file required;
* ``sprites_A_{split}.npy`` (optional): attributes, one-hot ``(N, T, 4, 6)`` per frame (or ``(N, 4, 6)``), or integer
  ``(N, 4)``, columns in the release's order **body (skin), bottom, top, hair** (:data:`FILE_ATTRIBUTES`);
* ``sprites_D_{split}.npy`` (optional): actions, one-hot ``(N, T, 9)`` per frame (or ``(N, 9)``), or integer ``(N,)``,
  numbered ``3 * motion + d`` with the release's direction order **front, left, right** (:data:`FILE_DIRECTIONS`).

The reader converts to the labels above (so ``action`` and ``direction`` follow :data:`DIRECTIONS`) and the
writer converts back; a round trip returns the labels unchanged. Files are always loaded with
``allow_pickle=False``; object arrays are refused before numpy reads them.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from seqvae.config import DataConfig
from seqvae.data.sources import register_data_kind, single_path
from seqvae.errors import DataError

__all__ = [
    "ACTIONS",
    "ATTRIBUTES",
    "DIRECTIONS",
    "FILE_ATTRIBUTES",
    "FILE_DIRECTIONS",
    "LABELS",
    "MOTIONS",
    "N_OPTIONS",
    "OPTION_NAMES",
    "read_sprites_npy",
    "render_sprite",
    "sprite_videos",
    "write_sprites_npy",
]

ATTRIBUTES = ("skin", "top", "bottom", "hair")
N_OPTIONS = 6
MOTIONS = ("walk", "spellcast", "slash")
DIRECTIONS = ("left", "front", "right")
ACTIONS = 9  # action = 3 * motion + direction
LABELS = (*ATTRIBUTES, "action", "motion", "direction")
FILE_ATTRIBUTES = ("skin", "bottom", "top", "hair")  # column order of sprites_A_*.npy
FILE_DIRECTIONS = ("front", "left", "right")  # direction order inside sprites_D_*.npy action numbers

OPTION_NAMES = {
    "skin": ("pale", "tan", "dark", "green", "red", "blue-grey"),
    "top": (
        "red short-sleeved",
        "blue long-sleeved",
        "green with white stripe",
        "yellow long-sleeved with belt",
        "purple with vest",
        "teal with collar",
    ),
    "bottom": ("brown trousers", "navy trousers", "grey trousers", "green shorts", "magenta skirt", "orange trousers"),
    "hair": ("short brown hair", "long blond hair", "red pigtails", "wizard hat", "horned helmet", "wide-brimmed hat"),
}

# --------------------------------------------------------------------------- palette

_SKIN = [(1.0, 0.87, 0.74), (0.84, 0.60, 0.38), (0.46, 0.29, 0.17), (0.42, 0.70, 0.32), (0.82, 0.36, 0.30),
         (0.58, 0.66, 0.86)]  # fmt: skip
_TOP = [(0.86, 0.14, 0.14), (0.18, 0.34, 0.90), (0.16, 0.66, 0.24), (0.95, 0.80, 0.18), (0.58, 0.26, 0.78),
        (0.10, 0.70, 0.70)]  # fmt: skip
_TOP_ACCENT = [(0.55, 0.08, 0.08), (0.10, 0.20, 0.55), (0.96, 0.96, 0.90), (0.34, 0.20, 0.08), (0.88, 0.74, 0.98),
               (0.02, 0.36, 0.36)]  # fmt: skip
_BOTTOM = [(0.52, 0.32, 0.14), (0.14, 0.20, 0.52), (0.62, 0.62, 0.62), (0.14, 0.44, 0.18), (0.80, 0.10, 0.50),
           (0.92, 0.52, 0.08)]  # fmt: skip
_HAIR = [(0.36, 0.20, 0.08), (0.98, 0.86, 0.36), (0.90, 0.30, 0.06), (0.44, 0.22, 0.78), (0.74, 0.76, 0.82),
         (0.18, 0.52, 0.28)]  # fmt: skip
_HAIR_ACCENT = [(0.36, 0.20, 0.08), (0.98, 0.86, 0.36), (0.90, 0.30, 0.06), (0.96, 0.84, 0.14), (0.98, 0.95, 0.82),
                (0.45, 0.28, 0.12)]  # fmt: skip
_SHOE = (0.50, 0.34, 0.22)
_EYE = (0.06, 0.06, 0.10)

# colour sources: (attribute whose option picks the colour, palette) or a fixed colour
_SOURCES: dict[str, tuple[str | None, np.ndarray]] = {
    "skin": ("skin", np.array(_SKIN)),
    "top": ("top", np.array(_TOP)),
    "top_accent": ("top", np.array(_TOP_ACCENT)),
    "bottom": ("bottom", np.array(_BOTTOM)),
    "hair": ("hair", np.array(_HAIR)),
    "hair_accent": ("hair", np.array(_HAIR_ACCENT)),
    "shoe": (None, np.array([_SHOE])),
    "eye": (None, np.array([_EYE])),
}
_SOURCE_NAMES = tuple(_SOURCES)
_FAR = 0.72  # brightness of the far limbs in profile

_LONG_SLEEVES = (1, 3)  # top options
_TROUSERS = (0, 1, 2, 5)  # bottom options with cloth down to the shoes
_SKIRT = 4


def _limb_slots(prefix: str, shade: float, arm: bool) -> list[tuple[str, str | None, str, float]]:
    if arm:
        return [
            (f"{prefix}_upper", None, "top", shade),
            (f"{prefix}_lower", None, "skin", shade),
            (f"{prefix}_sleeve", "top", "top", shade),
            (f"{prefix}_hand", None, "skin", shade),
        ]
    return [
        (f"{prefix}_thigh", None, "bottom", shade),
        (f"{prefix}_shin", None, "skin", shade),
        (f"{prefix}_trouser", "bottom", "bottom", shade),
        (f"{prefix}_shoe", None, "shoe", shade),
    ]


# drawing order, back to front: (name, attribute whose option picks the mask or None, colour source, shade)
_SLOTS: list[tuple[str, str | None, str, float]] = [
    *_limb_slots("far_arm", _FAR, arm=True),
    ("back_hair", "hair", "hair", 0.85),
    *_limb_slots("far_leg", _FAR, arm=False),
    *_limb_slots("leg_a", 1.0, arm=False),
    *_limb_slots("leg_b", 1.0, arm=False),
    ("torso", None, "top", 1.0),
    ("top_accent", "top", "top_accent", 1.0),
    ("waist", None, "bottom", 1.0),
    ("skirt", "bottom", "bottom", 1.0),
    ("head", None, "skin", 1.0),
    ("eyes", None, "eye", 1.0),
    ("hair", "hair", "hair", 1.0),
    ("hair_accent", "hair", "hair_accent", 1.0),
    *_limb_slots("arm_a", 1.0, arm=True),
    *_limb_slots("arm_b", 1.0, arm=True),
]
_SLOT_INDEX = {name: i for i, (name, *_) in enumerate(_SLOTS)}

# --------------------------------------------------------------------------- signed distances

_CANVAS = 64.0  # geometry is laid out on a 64 x 64 canvas (x right, y down) and scaled to the output size
_CX = 32.0


class _Grid:
    """Pixel-centre coordinates of an ``S x S`` image in canvas units."""

    def __init__(self, size: int) -> None:
        c = (np.arange(size) + 0.5) * (_CANVAS / size)
        self.x, self.y = np.meshgrid(c, c)
        self.px = size / _CANVAS  # pixels per canvas unit

    def circle(self, c: tuple[float, float], r: float) -> np.ndarray:
        return np.hypot(self.x - c[0], self.y - c[1]) - r

    def capsule(self, a: tuple[float, float], b: tuple[float, float], r: float) -> np.ndarray:
        bx, by = b[0] - a[0], b[1] - a[1]
        px, py = self.x - a[0], self.y - a[1]
        h = np.clip((px * bx + py * by) / max(bx * bx + by * by, 1e-12), 0.0, 1.0)
        return np.hypot(px - h * bx, py - h * by) - r

    def box(self, c: tuple[float, float], half: tuple[float, float], r: float) -> np.ndarray:
        qx = np.abs(self.x - c[0]) - half[0] + r
        qy = np.abs(self.y - c[1]) - half[1] + r
        return np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - r

    def polygon(self, points: list[tuple[float, float]]) -> np.ndarray:
        """Convex polygon (either winding): the largest distance to the edges' half-planes."""
        p = np.asarray(points, dtype=np.float64)
        q = np.roll(p, -1, axis=0)
        area = np.sum(p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1])
        out = np.full(self.x.shape, -np.inf)
        for (ax, ay), (bx, by) in zip(p, q):
            ex, ey = bx - ax, by - ay
            nx, ny = (ey, -ex) if area > 0 else (-ey, ex)
            norm = math.hypot(nx, ny)
            out = np.maximum(out, ((self.x - ax) * nx + (self.y - ay) * ny) / norm)
        return out

    def coverage(self, sdf: np.ndarray | None) -> np.ndarray:
        """Anti-aliased coverage in [0, 1]: a one-pixel ramp across the boundary."""
        if sdf is None:
            return np.zeros(self.x.shape, dtype=np.float32)
        return np.clip(0.5 - sdf * self.px, 0.0, 1.0).astype(np.float32)


def _union(*sdfs: np.ndarray) -> np.ndarray:
    return functools.reduce(np.minimum, sdfs)


def _inter(*sdfs: np.ndarray) -> np.ndarray:
    return functools.reduce(np.maximum, sdfs)


# --------------------------------------------------------------------------- poses

# Body layout on the canvas (standing pose).
_HEAD_Y, _HEAD_R = 18.0, 7.0
_SHOULDER_Y, _HIP_Y = 27.5, 41.0
_UPPER_ARM, _FOREARM, _THIGH, _SHIN = 7.5, 6.5, 8.5, 8.0
_GROUND = _HIP_Y + _THIGH + _SHIN

# Keyframes at phases k / 8 (interpolated for other frame counts).
_CAST_RAISE = [0.0, 0.25, 0.6, 0.9, 1.0, 1.0, 1.0, 1.0]
_SLASH_SWING = [0.0, -0.8, -1.9, -2.9, -4.0, -5.0, -5.7, -6.1]  # backswing over the head, strike in front
_SLASH_BEND = [0.15, 0.9, 1.3, 0.9, 0.2, 0.05, 0.15, 0.15]
_SLASH_FRONT_SWING = [0.0, 0.35, 0.5, 0.45, 0.6, 0.75, 0.5, 0.15]
_SLASH_FRONT_ABD = [0.12, 1.3, 2.3, 2.8, 1.5, 0.1, -0.45, -0.1]
_SLASH_LUNGE = [0.0, 0.2, 0.4, 0.5, 0.9, 1.0, 0.7, 0.35]
_SLASH_GUARD = [0.0, 0.3, 0.5, 0.6, 0.6, 0.5, 0.3, 0.1]


def _key(values: list[float], k: float) -> float:
    return float(np.interp(k, np.arange(len(values)), values))


def _limb_angles(motion: int, front: bool, t: int, frames: int) -> dict[str, tuple[float, float, float]]:
    """(swing forwards, abduction outwards, elbow/knee bend) in radians of each limb at frame ``t``.

    Limbs are ``arm_l``, ``arm_r``, ``leg_l``, ``leg_r`` (the character's left and right; the left side faces
    the viewer in the ``left`` profile and is the striking arm in ``slash``).
    """
    k = 8.0 * t / frames
    arm0, leg0 = (0.0, 0.12, 0.15), (0.0, 0.04, 0.0)
    pose = {"arm_l": arm0, "arm_r": arm0, "leg_l": leg0, "leg_r": leg0}
    if MOTIONS[motion] == "walk":
        phi = 2.0 * math.pi * t / frames
        for side, shift in (("l", 0.0), ("r", math.pi)):
            s, c = math.sin(phi + shift), math.cos(phi + shift)
            pose[f"leg_{side}"] = (0.5 * s, 0.04, 0.1 + 0.9 * max(0.0, c))
            pose[f"arm_{side}"] = (-0.55 * s, 0.12, 0.25 + 0.35 * max(0.0, -s))
    elif MOTIONS[motion] == "spellcast":
        e = _key(_CAST_RAISE, k)
        wiggle = 0.2 * e * math.sin(math.pi * k / 2.0)
        if front:
            pose["arm_l"] = pose["arm_r"] = (0.25 * e, 0.12 + 2.2 * e, 0.15 + 0.2 * e + wiggle)
            pose["leg_l"] = pose["leg_r"] = (0.0, 0.04 + 0.1 * e, 0.0)
        else:
            pose["arm_l"] = (2.25 * e, 0.12, 0.15 + 0.25 * e + wiggle)
            pose["arm_r"] = (2.0 * e, 0.12, 0.15 + 0.25 * e - wiggle)
    else:  # slash
        lunge = _key(_SLASH_LUNGE, k)
        guard = _key(_SLASH_GUARD, k)
        pose["arm_r"] = (0.4 * guard, 0.12, 0.15 + guard)
        pose["leg_l"] = (0.4 * lunge, 0.04 + (0.12 * lunge if front else 0.0), 0.35 * lunge)
        pose["leg_r"] = (-0.3 * lunge, 0.04 + (0.12 * lunge if front else 0.0), 0.1 * lunge)
        if front:
            pose["arm_l"] = (_key(_SLASH_FRONT_SWING, k), _key(_SLASH_FRONT_ABD, k), _key(_SLASH_BEND, k))
        else:
            pose["arm_l"] = (_key(_SLASH_SWING, k), 0.12, _key(_SLASH_BEND, k))
    return pose


def _direction(swing: float, abduction: float, side: float) -> tuple[float, float, float]:
    """Unit vector of a limb segment in body space (x to the character's left, y down, z forwards)."""
    return (
        side * math.sin(abduction) * math.cos(swing),
        math.cos(abduction) * math.cos(swing),
        math.sin(swing),
    )


def _project(d: tuple[float, float, float], front: bool) -> tuple[float, float]:
    """Image-plane components of a body-space vector: front view, or the profile facing left."""
    return (d[0], d[1]) if front else (-d[2], d[1])


def _chain(
    root: tuple[float, float],
    angles: tuple[float, float, float],
    lengths: tuple[float, float],
    bend_sign: float,
    side: float,
    front: bool,
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """Joint positions (root, middle, end) of a two-segment limb."""
    swing, abd, bend = angles
    a = _project(_direction(swing, abd, side), front)
    b = _project(_direction(swing + bend_sign * bend, abd, side), front)
    mid = (root[0] + lengths[0] * a[0], root[1] + lengths[0] * a[1])
    end = (mid[0] + lengths[1] * b[0], mid[1] + lengths[1] * b[1])
    return root, mid, end


def _pose_sdfs(g: _Grid, motion: int, front: bool, t: int, frames: int) -> dict[str, Any]:
    """Signed distances of every slot for one pose (front view or the left profile).

    Values are an array, None (empty), or a list of ``N_OPTIONS`` of those for option-dependent slots.
    """
    angles = _limb_angles(motion, front, t, frames)
    # body bob: the lower foot touches the ground
    feet = []
    for side, leg in ((1.0, "leg_l"), (-1.0, "leg_r")):
        feet.append(_chain((0.0, _HIP_Y), angles[leg], (_THIGH, _SHIN), -1.0, side, front)[2][1])
    dy = _GROUND - max(feet)
    head = (_CX, _HEAD_Y + dy)
    out: dict[str, Any] = {name: None for name, *_ in _SLOTS}

    def limb(prefix: str, root: tuple[float, float], key: str, side: float, arm: bool) -> None:
        if arm:
            r, m, e = _chain(root, angles[key], (_UPPER_ARM, _FOREARM), 1.0, side, front)
            forearm = g.capsule(m, e, 1.75)
            out[f"{prefix}_upper"] = g.capsule(r, m, 2.15)
            out[f"{prefix}_lower"] = forearm
            out[f"{prefix}_sleeve"] = [forearm if o in _LONG_SLEEVES else None for o in range(N_OPTIONS)]
            out[f"{prefix}_hand"] = g.circle(e, 2.05)
        else:
            r, m, e = _chain(root, angles[key], (_THIGH, _SHIN), -1.0, side, front)
            shin = g.capsule(m, e, 2.3)
            out[f"{prefix}_thigh"] = g.capsule(r, m, 2.7)
            out[f"{prefix}_shin"] = shin
            out[f"{prefix}_trouser"] = [shin if o in _TROUSERS else None for o in range(N_OPTIONS)]
            if front:
                out[f"{prefix}_shoe"] = g.capsule((e[0] - 1.0, e[1] + 1.0), (e[0] + 1.0, e[1] + 1.0), 2.0)
            else:
                out[f"{prefix}_shoe"] = g.capsule((e[0], e[1] + 0.6), (e[0] - 2.6, e[1] + 1.2), 1.9)

    sy, hy = _SHOULDER_Y + dy, _HIP_Y + dy
    if front:  # the character's left side is on the image's right
        limb("leg_a", (_CX - 3.0, hy), "leg_r", -1.0, arm=False)
        limb("leg_b", (_CX + 3.0, hy), "leg_l", 1.0, arm=False)
        limb("arm_a", (_CX - 6.3, sy), "arm_r", -1.0, arm=True)
        limb("arm_b", (_CX + 6.3, sy), "arm_l", 1.0, arm=True)
        half_w = 6.0
    else:  # facing left: the left side is near, the right side far (behind, shifted back)
        limb("far_arm", (_CX + 1.3, sy), "arm_r", -1.0, arm=True)
        limb("far_leg", (_CX + 1.2, hy), "leg_r", -1.0, arm=False)
        limb("leg_b", (_CX, hy), "leg_l", 1.0, arm=False)
        limb("arm_b", (_CX, sy), "arm_l", 1.0, arm=True)
        half_w = 4.2
    torso = g.box((_CX, 33.5 + dy), (half_w, 8.0), 2.5)
    out["torso"] = torso
    band = [
        None,
        None,
        np.abs(g.y - (32.0 + dy)) - 1.8,
        np.abs(g.y - (38.6 + dy)) - 1.3,
        np.abs(g.x - _CX) - 1.8 if front else g.x - (_CX - half_w + 2.4),
        g.y - (28.3 + dy),
    ]
    out["top_accent"] = [None if b is None else _inter(torso, b) for b in band]
    out["waist"] = g.box((_CX, 42.3 + dy), (half_w - 0.2, 2.3), 1.5)
    skirt_top, skirt_bottom = half_w, half_w + (3.5 if front else 3.0)
    skirt = g.polygon(
        [(_CX - skirt_top, 38.0 + dy), (_CX + skirt_top, 38.0 + dy), (_CX + skirt_bottom, 49.0 + dy),
         (_CX - skirt_bottom, 49.0 + dy)]
    )  # fmt: skip
    out["skirt"] = [skirt if o == _SKIRT else None for o in range(N_OPTIONS)]

    hx, hy0 = head
    skull = g.circle(head, _HEAD_R)
    if front:
        out["head"] = skull
        out["eyes"] = _union(g.circle((hx - 2.6, hy0 + 0.5), 1.1), g.circle((hx + 2.6, hy0 + 0.5), 1.1))
    else:
        out["head"] = _union(skull, g.circle((hx - 6.8, hy0 + 1.4), 1.5))
        out["eyes"] = g.circle((hx - 4.3, hy0 + 0.2), 1.1)
    out["back_hair"], out["hair"], out["hair_accent"] = _hair_sdfs(g, head, front)
    return out


def _hair_sdfs(g: _Grid, head: tuple[float, float], front: bool) -> tuple[list, list, list]:
    """Back-hair, hair/hat and accent (horns) signed distances for each hair option."""
    hx, hy = head
    outer = g.circle(head, _HEAD_R + 0.7)
    if front:
        cap = _union(
            _inter(outer, g.y - (hy - 3.3)),
            _inter(outer, 5.0 - np.abs(g.x - hx), g.y - (hy + 1.5)),
        )
        long_back = g.box((hx, hy + 5.5), (8.8, 8.0), 3.0)
        tails = _union(
            g.capsule((hx - 7.6, hy - 2.0), (hx - 9.6, hy + 8.0), 2.2),
            g.capsule((hx + 7.6, hy - 2.0), (hx + 9.6, hy + 8.0), 2.2),
        )
        tip = (hx + 1.0, hy - 15.0)
        horn = [
            g.polygon([(hx + 4.8, hy - 6.8), (hx + 8.4, hy - 3.8), (hx + 11.2, hy - 12.5)]),
            g.polygon([(hx - 4.8, hy - 6.8), (hx - 8.4, hy - 3.8), (hx - 11.2, hy - 12.5)]),
        ]
        horns = _union(*horn)
    else:
        cap = _inter(outer, _union(g.y - (hy - 3.6), _inter(hx + 0.5 - g.x, g.y - (hy + 3.5))))
        long_back = g.box((hx + 5.2, hy + 5.0), (4.6, 8.5), 2.5)
        tails = g.capsule((hx + 7.0, hy - 4.0), (hx + 11.0, hy + 6.0), 2.3)
        tip = (hx + 4.5, hy - 14.5)
        horns = g.polygon([(hx - 2.0, hy - 7.2), (hx + 2.4, hy - 6.6), (hx + 4.6, hy - 14.0)])
    brim_y = hy - 6.0
    wizard = _union(
        g.polygon([(hx - 7.5, brim_y), (hx + 7.5, brim_y), tip]),
        g.capsule((hx - 10.5, brim_y), (hx + 10.5, brim_y), 1.4),
    )
    helmet = _union(
        _inter(g.circle(head, _HEAD_R + 0.9), g.y - (hy - 2.8)),
        g.capsule((hx - 8.2, hy - 2.8), (hx + 8.2, hy - 2.8), 1.1),
    )
    brimmed = _union(
        g.capsule((hx - 11.0, hy - 7.0), (hx + 11.0, hy - 7.0), 1.7), g.box((hx, hy - 10.6), (5.5, 4.4), 1.8)
    )
    back = [None, long_back, None, None, None, None]
    hair = [cap, cap, _union(cap, tails), wizard, helmet, brimmed]
    accent = [None, None, None, None, horns, None]
    return back, hair, accent


@functools.lru_cache(maxsize=8)
def _pose_table(size: int, frames: int) -> tuple[tuple[tuple[Any, ...], ...], ...]:
    """Cropped coverage masks of every pose: ``table[action][t]`` is a tuple of non-empty slots, each
    ``(slot index, r0, r1, c0, c1, masks (K, h, w))`` with ``K = N_OPTIONS`` for option-dependent slots."""
    g = _Grid(size)
    table = []
    for action in range(ACTIONS):
        motion, direction = divmod(action, 3)
        view = DIRECTIONS[direction]
        per_frame = []
        for t in range(frames):
            sdfs = _pose_sdfs(g, motion, view == "front", t, frames)
            slots = []
            for i, (name, attr, _, _) in enumerate(_SLOTS):
                value = sdfs[name]
                if value is None:
                    continue
                if attr is None:
                    masks = g.coverage(value)[None]
                else:
                    masks = np.stack([g.coverage(v) for v in value])
                if view == "right":
                    masks = masks[:, :, ::-1]
                rows = np.flatnonzero(masks.any(axis=(0, 2)))
                cols = np.flatnonzero(masks.any(axis=(0, 1)))
                if rows.size == 0:
                    continue
                r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
                crop = np.ascontiguousarray(masks[:, r0:r1, c0:c1])
                crop.setflags(write=False)
                slots.append((i, int(r0), int(r1), int(c0), int(c1), crop))
            per_frame.append(tuple(slots))
        table.append(tuple(per_frame))
    return tuple(table)


# --------------------------------------------------------------------------- generator


def _check_size(size: int, frames: int) -> None:
    if int(size) != size or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")
    if int(frames) != frames or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")


def _colours(attrs: Mapping[str, np.ndarray], rng: np.random.Generator | None, jitter: float) -> np.ndarray:
    """Per-video colour of every source, float32 ``(n, n_sources, 3)``, with optional Gaussian noise."""
    n = len(attrs["skin"])
    cols = np.empty((n, len(_SOURCE_NAMES), 3))
    for j, name in enumerate(_SOURCE_NAMES):
        attr, palette = _SOURCES[name]
        cols[:, j] = palette[attrs[attr]] if attr is not None else palette[0]
    if rng is not None and jitter > 0:
        cols += rng.normal(0.0, 0.03 * jitter, size=cols.shape)
    return np.clip(cols, 0.0, 1.0).astype(np.float32)


def _compose(
    attrs: Mapping[str, np.ndarray], action: np.ndarray, colours: np.ndarray, size: int, frames: int
) -> np.ndarray:
    """Alpha-composite the pose masks of each video with its colours: float32 ``(n, T, S, S, 3)``."""
    table = _pose_table(size, frames)
    out = np.zeros((len(action), frames, size, size, 3), dtype=np.float32)
    slot_colour = np.stack(
        [colours[:, _SOURCE_NAMES.index(src)] * np.float32(shade) for _, _, src, shade in _SLOTS], axis=1
    )  # (n, n_slots, 3)
    for a in np.unique(action):
        idx = np.flatnonzero(action == a)
        group = np.zeros((len(idx), frames, size, size, 3), dtype=np.float32)
        options = {name: np.asarray(attrs[name])[idx] for name in ATTRIBUTES}
        for t in range(frames):
            for i, r0, r1, c0, c1, masks in table[a][t]:
                attr = _SLOTS[i][1]
                alpha = masks[options[attr]] if attr is not None else masks
                region = group[:, t, r0:r1, c0:c1]
                region += alpha[..., None] * (slot_colour[idx, i][:, None, None, :] - region)
        out[idx] = group
    return out


def _shift(videos: np.ndarray, shifts: np.ndarray) -> None:
    """Translate each video in place by its integer ``(dy, dx)``, filling with the background (0)."""
    size = videos.shape[2]
    for dy, dx in np.unique(shifts, axis=0):
        if dy == 0 and dx == 0:
            continue
        idx = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
        moved = np.zeros_like(videos[idx])
        src_r = slice(max(0, -dy), size - max(0, dy))
        dst_r = slice(max(0, dy), size - max(0, -dy))
        src_c = slice(max(0, -dx), size - max(0, dx))
        dst_c = slice(max(0, dx), size - max(0, -dx))
        moved[:, :, dst_r, dst_c] = videos[idx][:, :, src_r, src_c]
        videos[idx] = moved


def _render(
    attrs: Mapping[str, np.ndarray], action: np.ndarray, size: int, frames: int, rng: np.random.Generator | None,
    jitter: float,
) -> np.ndarray:  # fmt: skip
    colours = _colours(attrs, rng, jitter)
    videos = _compose(attrs, action, colours, size, frames)
    reach = round(jitter * size / 32.0)
    if rng is not None and reach > 0:
        _shift(videos, rng.integers(-reach, reach + 1, size=(len(action), 2)))
    return videos


_SPRITES_FILE = re.compile(r"sprites_[XAD]_(\w+)\.npy$")


def _sprites_paths(cfg: DataConfig, items: list[Path]) -> DataConfig:
    """``--data PATH`` for the video kinds: a directory in the Sprites release layout, or one of its
    ``sprites_X_{split}.npy`` files (that split is read); always read as ``sprites-npy``."""
    path = single_path(cfg, items)
    match = _SPRITES_FILE.search(path.name) if path.is_file() else None
    if path.is_file() and match is None:
        raise DataError(
            f"{path}: videos are read in the Sprites layout: a directory holding sprites_X_{{split}}.npy "
            "(frames (N, T, H, W, 3)) and its label files, or one of those files"
        )
    params = dict(cfg.params) if cfg.kind == "sprites-npy" else {}
    params["directory"] = str(path.parent if match else path)
    if match:
        params["split"] = match.group(1)
    return replace(cfg, kind="sprites-npy", params=params)


@register_data_kind("sprites", from_paths=_sprites_paths)
def sprite_videos(
    n: int = 1000, size: int = 64, frames: int = 8, seed: int = 0, jitter: float = 1.0
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` random character videos, float32 ``(n, frames, size, size, 3)`` in [0, 1], and their labels.

    Attributes, motion and direction are drawn independently and uniformly; labels are int64 ``(n,)`` arrays
    keyed by :data:`LABELS`. ``jitter`` scales the per-video shift and colour noise (0: exact renders).
    Deterministic for a ``seed``.
    """
    _check_size(size, frames)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not jitter >= 0:
        raise ValueError(f"jitter must be >= 0, got {jitter}")
    rng = np.random.default_rng(seed)
    labels = {name: rng.integers(0, N_OPTIONS, size=n).astype(np.int64) for name in ATTRIBUTES}
    labels["motion"] = rng.integers(0, len(MOTIONS), size=n).astype(np.int64)
    labels["direction"] = rng.integers(0, len(DIRECTIONS), size=n).astype(np.int64)
    labels["action"] = 3 * labels["motion"] + labels["direction"]
    videos = _render(labels, labels["action"], size, frames, rng, float(jitter))
    return videos, {name: labels[name] for name in LABELS}


def render_sprite(
    attributes: Mapping[str, int],
    action: int,
    size: int = 64,
    frames: int = 8,
    rng: np.random.Generator | None = None,
    jitter: float = 1.0,
) -> np.ndarray:
    """One video ``(frames, size, size, 3)`` of the character ``attributes`` (option per attribute) doing
    ``action`` (``3 * motion + direction``); exact without ``rng``, jittered by ``jitter`` with one."""
    _check_size(size, frames)
    attrs = {}
    for name in ATTRIBUTES:
        if name not in attributes:
            raise ValueError(f"attributes needs {', '.join(ATTRIBUTES)}; {name!r} is missing")
        value = int(attributes[name])
        if not 0 <= value < N_OPTIONS:
            raise ValueError(f"attribute {name!r} must be in 0..{N_OPTIONS - 1}, got {attributes[name]}")
        attrs[name] = np.array([value])
    if not 0 <= int(action) < ACTIONS:
        raise ValueError(f"action must be in 0..{ACTIONS - 1}, got {action}")
    return _render(attrs, np.array([int(action)]), size, frames, rng, float(jitter))[0]


# --------------------------------------------------------------------------- release .npy files


def _file_names(split: str) -> dict[str, str]:
    return {key: f"sprites_{key}_{split}.npy" for key in ("X", "A", "D")}


# release direction (front, left, right) <-> DIRECTIONS (left, front, right)
_FROM_FILE = np.array([DIRECTIONS.index(d) for d in FILE_DIRECTIONS])
_TO_FILE = np.array([FILE_DIRECTIONS.index(d) for d in DIRECTIONS])


def _load(path: Path, mmap: bool) -> np.ndarray:
    """A numeric .npy array, loaded with ``allow_pickle=False``; object arrays are refused from the header."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                shape, dtype = None, None
            header_end = fh.tell()
        if dtype is not None:
            if dtype.hasobject:
                raise DataError(
                    f"{path}: holds a Python object array (dtype {dtype}); reading it would mean unpickling, which "
                    "seqvae never does on data files; save plain numeric arrays"
                )
            needed = header_end + dtype.itemsize * math.prod(shape)
            if needed > path.stat().st_size:
                raise DataError(f"{path}: header declares shape {shape} {dtype} but the file is truncated")
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except DataError:
        raise
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError... for corrupt files
        raise DataError(f"{path}: cannot read as a .npy array ({type(exc).__name__}: {exc})") from exc
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def _frames(path: Path, arr: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Validated frames as float32 ``(N, T, S, S, 3)`` in [0, 1], converted chunk by chunk."""
    if arr.ndim != 5 or not (arr.shape[-1] == 3 or arr.shape[2] == 3):
        raise DataError(
            f"{path}: frames have shape {arr.shape}; expected (N, T, H, W, 3) or channels-first (N, T, 3, H, W)"
        )
    channels_first = arr.shape[-1] != 3
    n, t = arr.shape[:2]
    h, w = arr.shape[3:] if channels_first else arr.shape[2:4]
    if n == 0 or t == 0 or h == 0 or w == 0:
        raise DataError(f"{path}: frames have shape {arr.shape}; no videos or an empty dimension")
    if arr.dtype.kind == "f":
        integer = False
    elif arr.dtype == np.uint8:
        integer = True
    else:
        raise DataError(f"{path}: frames have dtype {arr.dtype}; expected float in [0, 1] or uint8 in 0..255")
    out = np.empty((n, t, h, w, 3), dtype=np.float32)
    for i in range(0, n, chunk):
        x = np.asarray(arr[i : i + chunk])
        if channels_first:
            x = np.moveaxis(x, 2, -1)
        if integer:
            np.divide(x, np.float32(255.0), out=out[i : i + chunk], dtype=np.float32)
            continue
        finite = np.isfinite(x)
        if not finite.all():
            video = i + int(np.argmin(finite.reshape(len(x), -1).all(axis=1)))
            raise DataError(f"{path}: frames contain NaN or infinite values (first in video {video})")
        low, high = float(x.min()), float(x.max())
        if low < 0.0 or high > 1.0:
            bad = ((x < 0) | (x > 1)).reshape(len(x), -1).any(axis=1)
            raise DataError(
                f"{path}: float frames must lie in [0, 1]; found values in [{low:g}, {high:g}] "
                f"(first outside in video {i + int(np.argmax(bad))}); uint8 frames are divided by 255"
            )
        out[i : i + chunk] = x
    return out


def _one_hot(path: Path, arr: np.ndarray, what: str) -> np.ndarray:
    """Indices of one-hot rows along the last axis, or a DataError naming the first bad row."""
    values = np.asarray(arr)
    ok = ((values == 0) | (values == 1)).all(axis=-1) & (values.sum(axis=-1) == 1)
    if not ok.all():
        where = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise DataError(
            f"{path}: {what} row at index {where} is not one-hot (values {values[where].tolist()}; expected a "
            "single 1 and zeros elsewhere)"
        )
    return np.argmax(values, axis=-1)


def _per_video(path: Path, idx: np.ndarray, frames: int, what: str) -> np.ndarray:
    """Per-frame indices ``(N, T, ...)`` reduced to ``(N, ...)``; every frame of a video must agree."""
    if idx.shape[1] != frames:
        raise DataError(f"{path}: {what} has {idx.shape[1]} frames per video, the frames file {frames}")
    same = (idx == idx[:, :1]).reshape(len(idx), -1).all(axis=1)
    if not same.all():
        video = int(np.argmin(same))
        raise DataError(f"{path}: {what} differ between the frames of video {video}; a label is one per video")
    return idx[:, 0]


def _integers(path: Path, arr: np.ndarray, high: int, what: str) -> np.ndarray:
    """Integer class labels in ``0..high-1`` as int64."""
    values = np.asarray(arr)
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or (values != np.round(values)).any():
            raise DataError(f"{path}: {what} must be whole numbers (found NaN or fractions)")
    elif values.dtype.kind not in "iu":
        raise DataError(f"{path}: {what} have dtype {values.dtype}; expected integers")
    if values.size and (values.min() < 0 or values.max() >= high):
        raise DataError(f"{path}: {what} must lie in 0..{high - 1}; found {values.min():g}..{values.max():g}")
    return values.astype(np.int64)


def _attributes(path: Path, arr: np.ndarray, frames: int) -> np.ndarray:
    """Attribute labels ``(N, 4)`` in the release's column order."""
    n_attr = len(ATTRIBUTES)
    if arr.ndim in (3, 4) and arr.shape[-2:] == (n_attr, N_OPTIONS):
        idx = _one_hot(path, arr, "attribute")
        return _per_video(path, idx, frames, "attributes") if arr.ndim == 4 else idx
    if arr.ndim == 2 and arr.shape[1] == n_attr:
        return _integers(path, arr, N_OPTIONS, "attributes")
    raise DataError(
        f"{path}: attributes have shape {arr.shape}; expected one-hot (N, T, {n_attr}, {N_OPTIONS}) or "
        f"(N, {n_attr}, {N_OPTIONS}), or integers (N, {n_attr})"
    )


def _actions(path: Path, arr: np.ndarray, frames: int) -> np.ndarray:
    """Action labels ``(N,)`` in the release's numbering."""
    if arr.ndim in (2, 3) and arr.shape[-1] == ACTIONS:
        idx = _one_hot(path, arr, "action")
        return _per_video(path, idx, frames, "actions") if arr.ndim == 3 else idx
    if arr.ndim == 1:
        return _integers(path, arr, ACTIONS, "actions")
    raise DataError(
        f"{path}: actions have shape {arr.shape}; expected one-hot (N, T, {ACTIONS}) or (N, {ACTIONS}), "
        "or integers (N,)"
    )


def read_sprites_npy(directory: str | Path, split: str = "train") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read ``sprites_{X,A,D}_{split}.npy`` from ``directory``: float32 frames ``(N, T, S, S, 3)`` in [0, 1]
    and int64 labels keyed by :data:`LABELS` (converted from the release's orders, see the module docs).

    Only the frames file is required: without ``sprites_A_{split}.npy`` the attribute labels are absent, without
    ``sprites_D_{split}.npy`` the action, motion and direction labels (unlabelled videos train as well; what
    needs labels is left out by its caller)."""
    folder = Path(directory)
    names = _file_names(split)
    if not folder.exists():
        raise DataError(f"{folder}: no such file or directory (looked for {', '.join(names.values())})")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory (looked for {', '.join(names.values())})")
    paths = {key: folder / name for key, name in names.items()}
    if not paths["X"].is_file():
        raise DataError(
            f"{folder}: missing {names['X']} (the {split!r} split's frames; {names['A']} and {names['D']} "
            "with its labels are optional)"
        )
    frames = _frames(paths["X"], _load(paths["X"], mmap=True))
    n, t = frames.shape[:2]
    out: dict[str, np.ndarray] = {}
    if paths["A"].is_file():
        attributes = _attributes(paths["A"], _load(paths["A"], mmap=False), t)
        _check_count(paths["A"], len(attributes), paths["X"], n)
        out.update({name: attributes[:, FILE_ATTRIBUTES.index(name)].astype(np.int64) for name in ATTRIBUTES})
    if paths["D"].is_file():
        actions = _actions(paths["D"], _load(paths["D"], mmap=False), t)
        _check_count(paths["D"], len(actions), paths["X"], n)
        motion, file_direction = np.divmod(actions, 3)
        out["motion"] = motion.astype(np.int64)
        out["direction"] = _FROM_FILE[file_direction].astype(np.int64)
        out["action"] = 3 * out["motion"] + out["direction"]
    return frames, {name: out[name] for name in LABELS if name in out}


def _check_count(path: Path, count: int, frames_path: Path, n: int) -> None:
    if count != n:
        raise DataError(f"{path}: labels for {count} videos, but {frames_path.name} holds {n} videos")


def _label_array(labels: Mapping[str, Any], name: str, n: int, high: int) -> np.ndarray:
    value = np.asarray(labels[name])
    if value.shape != (n,):
        raise ValueError(f"label {name!r} has shape {value.shape}, expected ({n},)")
    if value.dtype.kind not in "iu" or (n and (value.min() < 0 or value.max() >= high)):
        raise ValueError(f"label {name!r} must hold integers in 0..{high - 1}")
    return value.astype(np.int64)


def write_sprites_npy(
    directory: str | Path,
    frames: np.ndarray,
    labels: Mapping[str, np.ndarray],
    split: str = "train",
    one_hot: bool = True,
    channels_first: bool = False,
) -> dict[str, Path]:
    """Write videos and labels as ``sprites_{X,A,D}_{split}.npy`` in the release layout; returns the paths.

    ``frames`` ``(N, T, S, S, 3)``: uint8 is written as is, floats (in [0, 1]) as float32, channels-first
    when asked. Labels need the attributes and ``action`` (or ``motion`` and ``direction``); ``one_hot``
    writes per-frame one-hot float32 arrays like the release, otherwise int64 ``(N, 4)`` and ``(N,)``.
    """
    x = np.asarray(frames)
    if x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"frames must have shape (N, T, H, W, 3), got {x.shape}")
    if x.dtype != np.uint8:
        if x.dtype.kind != "f":
            raise ValueError(f"frames must be uint8 or float, got dtype {x.dtype}")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all() or (x.size and (x.min() < 0 or x.max() > 1)):
            raise ValueError("float frames must be finite and lie in [0, 1]")
    n, t = x.shape[:2]
    attrs = np.stack([_label_array(labels, name, n, N_OPTIONS) for name in FILE_ATTRIBUTES], axis=1)
    if "action" in labels:
        motion, direction = np.divmod(_label_array(labels, "action", n, ACTIONS), 3)
        for name, value in (("motion", motion), ("direction", direction)):
            if name in labels and not np.array_equal(_label_array(labels, name, n, 3), value):
                raise ValueError(f"label {name!r} disagrees with 'action' = 3 * motion + direction")
    else:
        motion = _label_array(labels, "motion", n, len(MOTIONS))
        direction = _label_array(labels, "direction", n, len(DIRECTIONS))
    file_action = 3 * motion + _TO_FILE[direction]
    if one_hot:
        a = np.repeat(np.eye(N_OPTIONS, dtype=np.float32)[attrs][:, None], t, axis=1)
        d = np.repeat(np.eye(ACTIONS, dtype=np.float32)[file_action][:, None], t, axis=1)
    else:
        a, d = attrs.astype(np.int64), file_action.astype(np.int64)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {key: folder / name for key, name in _file_names(split).items()}
    np.save(paths["X"], np.moveaxis(x, -1, 2) if channels_first else x, allow_pickle=False)
    np.save(paths["A"], a, allow_pickle=False)
    np.save(paths["D"], d, allow_pickle=False)
    return paths


@register_data_kind("sprites-npy", from_paths=_sprites_paths)
def sprites_release(directory: str, split: str = "train", seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Videos ``(N, T, H, W, C)`` and labels of the Sprites ``.npy`` release's ``split`` in ``directory``
    (``data.kind: sprites-npy``; ``seed`` is unused)."""
    return read_sprites_npy(directory, split)

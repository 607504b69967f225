"""A procedural fine-grained data set: small birds whose parts carry attributes.

A class is one combination of four part attributes (body colour, wing pattern, head shape,
tail shape). Classes are chosen by a seeded walk that changes one attribute at a time, so every
class has a neighbour that differs from it in exactly one part: the fine-grained distinction.
Images vary in position, scale, rotation, facing, background and noise. Each image comes with
a ground-truth attribute description, and each class with one in which its name is replaced
by a pronoun (the paper's Table 1 setting).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

from ..io import FgvrError
from .manifest import write_dataset

# attribute -> value -> (word in a class name, phrase in a description, drawing parameter)
ATTRIBUTES: dict[str, dict[str, tuple]] = {
    "body colour": {
        "crimson": ("Crimson", "a crimson body", (196, 30, 58)),
        "azure": ("Azure", "an azure body", (30, 110, 220)),
        "golden": ("Golden", "a golden body", (230, 180, 20)),
        "emerald": ("Emerald", "an emerald body", (20, 160, 90)),
        "violet": ("Violet", "a violet body", (140, 60, 190)),
    },
    "wing pattern": {
        "plain": ("Plain-winged", "plain wings", "plain"),
        "striped": ("Striped", "striped wings", "striped"),
        "spotted": ("Spotted", "spotted wings", "spotted"),
    },
    "head shape": {
        "round": ("Round-headed", "a round head", "round"),
        "square": ("Square-headed", "a square head", "square"),
        "crested": ("Crested", "a crested head", "crested"),
    },
    "tail shape": {
        "fan": ("Fantail", "a fan-shaped tail", "fan"),
        "pointed": ("Spiketail", "a pointed tail", "pointed"),
        "forked": ("Forktail", "a forked tail", "forked"),
    },
}
NAME_ORDER = ["head shape", "wing pattern", "body colour", "tail shape"]
BACKGROUNDS = {"pale blue": (200, 220, 240), "sand": (225, 210, 170), "leaf green": (170, 205, 160),
               "grey": (200, 200, 200), "lilac": (215, 200, 230)}
IMAGE_TEMPLATES = [
    "A small bird with {attrs}, facing {facing} on a {background} background.",
    "This bird has {attrs}; it faces {facing} against {background}.",
    "Seen against a {background} backdrop, the bird shows {attrs} and looks {facing}.",
]
SPLITS = ["train", "test"]


def splits(options: dict) -> list[str]:
    return SPLITS


def choose_classes(n: int, rng: np.random.Generator) -> list[dict[str, str]]:
    """``n`` attribute combinations, each differing from an earlier one in exactly one attribute."""
    total = math.prod(len(v) for v in ATTRIBUTES.values())
    if not 2 <= n <= total:
        raise FgvrError(f"datasets.synthetic.classes: must lie in 2..{total}, got {n}")
    names = list(ATTRIBUTES)
    first = {a: str(rng.choice(list(ATTRIBUTES[a]))) for a in names}
    chosen, seen = [first], {tuple(first.values())}
    while len(chosen) < n:
        parent = chosen[int(rng.integers(len(chosen)))]
        attr = names[int(rng.integers(len(names)))]
        child = dict(parent, **{attr: str(rng.choice(list(ATTRIBUTES[attr])))})
        if tuple(child.values()) not in seen:
            seen.add(tuple(child.values()))
            chosen.append(child)
    return chosen


def class_name(combo: dict[str, str]) -> str:
    return " ".join(ATTRIBUTES[a][combo[a]][0] for a in NAME_ORDER)


def attribute_phrase(combo: dict[str, str]) -> str:
    parts = [ATTRIBUTES[a][combo[a]][1] for a in ATTRIBUTES]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def class_description(combo: dict[str, str]) -> str:
    return f"It has {attribute_phrase(combo)}."


SUPERSAMPLE = 2  # drawn at 2x the image size (4x looked the same at 64 px and cost 4x the time)


def draw_bird(combo: dict[str, str], size: int, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """Render one image of the class ``combo``; returns it and the per-image nuisance factors."""
    big = SUPERSAMPLE * size  # draw large, then downsample: smooth edges at any image_size
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(canvas)
    colour = np.clip(np.array(ATTRIBUTES["body colour"][combo["body colour"]][2]) + rng.integers(-12, 13, 3), 0, 255)
    body, dark = tuple(int(c) for c in colour), tuple(int(c * 0.55) for c in colour)
    c = big / 2
    # body, tail at the left, head at the right (facing right before any flip)
    tail = ATTRIBUTES["tail shape"][combo["tail shape"]][2]
    tx = c - 0.30 * big
    if tail == "fan":
        d.polygon([(tx + 0.04 * big, c), (tx - 0.18 * big, c - 0.14 * big), (tx - 0.18 * big, c + 0.14 * big)], fill=dark)
    elif tail == "pointed":
        d.polygon([(tx + 0.04 * big, c - 0.04 * big), (tx - 0.24 * big, c), (tx + 0.04 * big, c + 0.04 * big)], fill=dark)
    else:
        d.polygon([(tx + 0.04 * big, c), (tx - 0.2 * big, c - 0.12 * big), (tx - 0.08 * big, c),
                   (tx - 0.2 * big, c + 0.12 * big)], fill=dark)
    d.ellipse([c - 0.32 * big, c - 0.16 * big, c + 0.2 * big, c + 0.16 * big], fill=body)
    head = ATTRIBUTES["head shape"][combo["head shape"]][2]
    hx, hy, hr = c + 0.24 * big, c - 0.12 * big, 0.1 * big
    if head == "square":
        d.rectangle([hx - hr, hy - hr, hx + hr, hy + hr], fill=body)
    else:
        d.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=body)
    if head == "crested":
        d.polygon([(hx - 0.6 * hr, hy - 0.7 * hr), (hx - 0.2 * hr, hy - 2.2 * hr), (hx + 0.4 * hr, hy - 0.8 * hr)], fill=dark)
    d.ellipse([hx + 0.3 * hr, hy - 0.35 * hr, hx + 0.6 * hr, hy - 0.05 * hr], fill=(10, 10, 10))
    d.polygon([(hx + hr, hy - 0.15 * hr), (hx + 1.7 * hr, hy + 0.1 * hr), (hx + hr, hy + 0.35 * hr)], fill=(240, 150, 30))
    # wing with its pattern
    wing = [c - 0.2 * big, c - 0.1 * big, c + 0.08 * big, c + 0.08 * big]
    d.ellipse(wing, fill=dark)
    pattern = ATTRIBUTES["wing pattern"][combo["wing pattern"]][2]
    light = tuple(min(255, int(v * 0.5 + 140)) for v in colour)
    if pattern == "striped":
        for k in range(1, 5):
            x = wing[0] + k * (wing[2] - wing[0]) / 5
            d.line([(x, wing[1] + 0.023 * big), (x - 0.04 * big, wing[3] - 0.023 * big)], fill=light,
                   width=max(1, big // 60))
    elif pattern == "spotted":
        r = big / 70
        for sx, sy in [(0.3, 0.35), (0.55, 0.3), (0.45, 0.65), (0.7, 0.6), (0.25, 0.7)]:
            x, y = wing[0] + sx * (wing[2] - wing[0]), wing[1] + sy * (wing[3] - wing[1])
            d.ellipse([x - r, y - r, x + r, y + r], fill=light)
    # nuisances: facing, rotation, scale, position, background, noise
    facing = "left" if rng.random() < 0.5 else "right"
    if facing == "left":
        canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    canvas = canvas.rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BICUBIC)
    scale = float(rng.uniform(0.65, 0.95))
    canvas = canvas.resize((int(big * scale),) * 2, Image.Resampling.LANCZOS)
    bg_name = str(rng.choice(list(BACKGROUNDS)))
    bg = np.array(BACKGROUNDS[bg_name], dtype=float) + rng.integers(-15, 16, 3)
    ramp = np.linspace(-20, 20, big)[:, None, None] * rng.choice([-1, 1])
    background = Image.fromarray(np.clip(bg[None, None, :] + ramp + np.zeros((big, big, 3)), 0, 255).astype(np.uint8))
    slack = big - canvas.size[0]
    background.paste(canvas, (int(rng.integers(0, slack + 1)), int(rng.integers(0, slack + 1))), canvas)
    image = background.filter(ImageFilter.GaussianBlur(SUPERSAMPLE / 4)).resize((size, size), Image.Resampling.LANCZOS)
    noisy = np.asarray(image, dtype=float) + rng.normal(0, 6, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), {"facing": facing, "background": bg_name}


def prepare(options: dict, out_dir: str | Path, progress: bool = True, **_context) -> None:
    """Render the data set into ``out_dir``/images and write the manifest contract."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    rng = np.random.default_rng(options["seed"])
    combos = choose_classes(options["classes"], rng)
    per_class, size = options["images_per_class"], options["image_size"]
    n_test = max(1, round(per_class * options["test_fraction"]))
    if n_test >= per_class:
        raise FgvrError("datasets.synthetic.test_fraction: leaves no training image "
                        f"({per_class} images per class, {n_test} for test)")
    classes, rows, descriptions = [], [], []
    for label, combo in enumerate(combos):
        name = class_name(combo)
        raw = f"{label + 1:03d}.{name.replace(' ', '_')}"
        classes.append({"label": label, "class_name": name, "raw_name": raw, "description": class_description(combo)})
    jobs = [(label, i) for label in range(len(combos)) for i in range(per_class)]
    for label, i in tqdm(jobs, desc="synthetic images", disable=not progress, mininterval=1):
        combo = combos[label]
        image_rng = np.random.default_rng([options["seed"], label, i])  # stable per image
        image, nuisance = draw_bird(combo, size, image_rng)
        split = "test" if i < n_test else "train"
        image_id = f"{label + 1:03d}_{i:04d}"
        path = out_dir / "images" / split / f"{label + 1:03d}" / f"{image_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
        rows.append({"image_id": image_id, "path": str(path), "label": label,
                     "class_name": classes[label]["class_name"], "split": split,
                     "width": image.width, "height": image.height})
        template = IMAGE_TEMPLATES[int(image_rng.integers(len(IMAGE_TEMPLATES)))]
        descriptions.append({"image_id": image_id, "description": template.format(attrs=attribute_phrase(combo), **nuisance)})
    write_dataset(out_dir, pd.DataFrame(rows), pd.DataFrame(classes), pd.DataFrame(descriptions))

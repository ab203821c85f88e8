"""Image datasets: an uploaded zip of PNG/JPEG files and `id,label` CSVs -> a dataset bundle.

The images are decoded once, here, with Pillow, into one uint8 array per split (N x C x H x W)
stored beside the CSVs as `.npy` (its sha256 in the manifest like every file): workers load
those arrays and never decode an image. Participants download the original files (one zip
per split), the CSVs and the arrays. Everything is checked before anything is produced, and
every problem names its file (`images.zip/cats/12.png`, `train.csv` row 5): the caller stores
nothing unless a bundle comes back.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image

from common.problems import MAX_PROBLEMS, ProblemList, clip, echo
from datasets.bundle import HIDDEN_FILES, DatasetBundle, make_manifest, write_csv
from datasets.formats import sample_submission
from datasets.metrics import METRICS
from datasets.splits import stratified_mask
from datasets.streams import TooLarge, read_capped
from datasets.upload import (
    DEFAULT_MAX_BYTES,
    DEFAULT_METRIC,
    MAX_CLASSES,
    SLUG_RE,
    TASK_TYPES,
    UploadError,
    _check_ids,
    _check_numbers,
    _column,
    _read_table,
    _sorted_labels,
)
from datasets.zips import Member, ZipLimits, read_zip

ZIP_LABEL = "images.zip"
TRAIN_ARRAY, TEST_ARRAY = "train_images.npy", "test_images.npy"
TRAIN_ARCHIVE, TEST_ARCHIVE = "train_images.zip", "test_images.zip"
IMAGE_FILES = (TRAIN_ARRAY, TEST_ARRAY, TRAIN_ARCHIVE, TEST_ARCHIVE)
# What a worker needs of an image dataset: the arrays and the ids and labels, never the images.
WORKER_FILES = ("train.csv", "test.csv", TRAIN_ARRAY, TEST_ARRAY)
SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
MAX_IMAGE_PIXELS = 4096 * 4096  # per image, checked from the header before decoding
MAX_SIDE = 512  # of a declared resize
MAX_ARRAY_BYTES = 4 * 1024**3  # all decoded images together
# Pillow's modes -> the mode the array is taken in (its channel count follows).
_MODES = {"L": "L", "1": "L", "RGB": "RGB", "RGBA": "RGBA", "LA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB"}
_CHANNELS = {"L": 1, "RGB": 3, "RGBA": 4}
# A fixed timestamp: the same images give the same archive bytes, hence the same sha256.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Resize:
    """The size every image is resized to (bilinear), declared by the organizer."""

    height: int
    width: int


class ImageProblem(Exception):
    """One image that cannot become a row of the array; the message says why."""


def _member_label(name: str) -> str:
    return f"{ZIP_LABEL}/{clip(name)}"


def image_id(name: str) -> tuple[str, str]:
    """A member's id (its file name without folder and suffix) and its lower-case suffix."""
    base = name.rsplit("/", 1)[-1]
    stem, dot, suffix = base.rpartition(".")
    return (stem, "." + suffix.lower()) if dot else (base, "")


def decode_image(data: bytes, resize: Resize | None = None) -> np.ndarray:
    """A PNG or JPEG file -> uint8 array C x H x W, or ImageProblem saying why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageProblem(
                    f"is {width}x{height} pixels, more than the limit of {MAX_IMAGE_PIXELS:,} (a decompression bomb?)"
                )
            img.load()  # a truncated or corrupt file fails here
    except ImageProblem:
        raise
    except Image.UnidentifiedImageError:
        raise ImageProblem("is not a PNG or JPEG image (its content is not one)") from None
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as e:
        raise ImageProblem(f"cannot be decoded, the file is corrupt or truncated ({e})") from None
    mode = _MODES.get(img.mode)
    if img.mode == "P":
        mode = "RGBA" if "transparency" in img.info else "RGB"
    if mode is None:
        raise ImageProblem(f"has pixel mode {img.mode!r}; save it as 8-bit grey, RGB or RGBA")
    if img.mode != mode:
        img = img.convert(mode)
    if resize is not None and img.size != (resize.width, resize.height):
        img = img.resize((resize.width, resize.height), Image.Resampling.BILINEAR)
    pixels = np.asarray(img, dtype=np.uint8)
    if pixels.ndim == 2:
        return pixels[None, :, :]
    return pixels.transpose(2, 0, 1)


def _npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(array), allow_pickle=False)
    return out.getvalue()


def _archive(folder: str, ids: list[str], members: dict[str, Member]) -> bytes:
    """The original image files of these ids as `folder/<id><suffix>`, stored (they are compressed already)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for i in ids:
            member = members[i]
            info = zipfile.ZipInfo(f"{folder}/{i}{image_id(member.name)[1]}", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.data)
    return out.getvalue()


def _check_meta(problems, *, slug, title, task_type, metric, test, test_fraction, resize) -> str:
    if not SLUG_RE.match(slug or ""):
        problems.add(f"slug {echo(slug)} must be lower-case letters, digits and single dashes")
    if not (title or "").strip():
        problems.add("the title is empty")
    if task_type not in TASK_TYPES:
        problems.add(f"task type {echo(task_type)} must be one of {', '.join(TASK_TYPES)}")
    metric = metric or DEFAULT_METRIC.get(task_type, "accuracy")
    if metric not in METRICS:
        problems.add(f"unknown metric {echo(metric)}; choose one of {', '.join(METRICS)}")
    elif task_type in TASK_TYPES and METRICS[metric].task_type != task_type:
        problems.add(f"metric {metric!r} is for {METRICS[metric].task_type}, not {task_type}")
    if test is None:
        if not 0 < test_fraction < 1:
            problems.add(f"test fraction {test_fraction} must be between 0 and 1")
    if resize is not None:
        for side, value in (("height", resize.height), ("width", resize.width)):
            if not 1 <= value <= MAX_SIDE:
                problems.add(f"the resize {side} {value} must be between 1 and {MAX_SIDE}")
    return metric


def _read_labels(table, *, id_column, target_column, task_type, problems):
    """The ids and labels of an `id,label` CSV, after checking its header and cells."""
    wanted = [id_column, target_column]
    missing = [c for c in wanted if c not in table.header]
    extra = [c for c in table.header if c not in wanted]
    if missing or extra:
        parts = [f"missing {', '.join(echo(c) for c in missing)}"] if missing else []
        if extra:
            parts.append(f"unexpected {', '.join(echo(c) for c in extra)}")
        problems.add(
            f"the header must be {id_column},{target_column} (the images hold the features): "
            + "; ".join(parts),
            file=table.name,
            row=1,
        )
        return None
    ids = _column(table, id_column)
    _check_ids(table, ids, id_column, problems)
    y = _column(table, target_column)
    if task_type == "regression":
        _check_numbers(table, target_column, y, problems, "regression targets")
    else:
        for j in np.flatnonzero(y == ""):
            problems.add("missing label", file=table.name, row=int(table.lines[j]), column=target_column)
    return ids, y


def _index_members(members: list[Member], problems: ProblemList) -> dict[str, Member]:
    by_id: dict[str, Member] = {}
    for member in members:
        stem, suffix = image_id(member.name)
        if suffix not in SUFFIXES:
            problems.add(
                f"is not an image file: only PNG (.png) and JPEG (.jpg, .jpeg) files may be in {ZIP_LABEL}",
                file=_member_label(member.name),
            )
            continue
        if stem in by_id:
            problems.add(
                f"is a second image for id {echo(stem)} (the first is {echo(by_id[stem].name)}); "
                "an id names one image",
                file=_member_label(member.name),
            )
            continue
        by_id[stem] = member
    return by_id


def _odd_ones(values: list, names: list[str], what: str, problems: ProblemList, hint: str) -> None:
    """Name each image whose `what` differs from the most common one."""
    common, n_common = Counter(values).most_common(1)[0]
    for value, name in zip(values, names, strict=True):
        if value != common:
            problems.add(
                f"{what} is {value} but {n_common:,} of the {len(values):,} images have {common}; {hint}",
                file=_member_label(name),
            )
            if problems.total > MAX_PROBLEMS:
                return


def _fmt_size(shape: tuple[int, ...]) -> str:
    return f"{shape[2]}x{shape[1]} pixels (width x height)"


def bundle_from_image_upload(
    *,
    images,
    train,
    test=None,
    slug: str,
    title: str,
    task_type: str = "classification",
    id_column: str = "id",
    target_column: str = "label",
    test_fraction: float | None = None,
    split_seed: int = 0,
    resize: Resize | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    zip_limits: ZipLimits = ZipLimits(),
    description: str = "",
    license: str = "",
    metric: str | None = None,
    version: int = 1,
) -> DatasetBundle:
    """Validate an image upload and build its bundle, or raise UploadError naming every problem.

    `images` is a zip of PNG/JPEG files, each named by its id (`<id>.png`, in any folder);
    `train` and `test` are CSVs `id,label` (bytes or file objects, each read under
    `max_bytes`). Without `test`, a `test_fraction` of train (default 0.2, stratified for
    classification, seeded by `split_seed`) becomes the test set. Every image must have one
    size and channel count, unless `resize` declares the size all are resized to.
    """
    problems = ProblemList()
    if test is not None and test_fraction is not None:
        problems.add("give either a test file or a test fraction, not both")
    if test is None and test_fraction is None:
        test_fraction = 0.2
    metric = _check_meta(
        problems,
        slug=slug,
        title=title,
        task_type=task_type,
        metric=metric,
        test=test,
        test_fraction=test_fraction,
        resize=resize,
    )
    problems.raise_if_any(UploadError)

    tables = [_read_table(train, "train.csv", max_bytes, problems)]
    if test is not None:
        tables.append(_read_table(test, "test.csv", max_bytes, problems))
    members: list[Member] = []
    try:
        raw_zip = read_capped(images, max_bytes)
    except TooLarge as e:
        problems.add(f"the file is {e}", file=ZIP_LABEL)
    else:
        members = read_zip(raw_zip, label=ZIP_LABEL, problems=problems, limits=zip_limits)
        del raw_zip
        if not members and not problems:
            problems.add("the zip holds no image files", file=ZIP_LABEL)
    problems.raise_if_any(UploadError)

    parsed = {}
    for table in tables:
        labels = _read_labels(
            table, id_column=id_column, target_column=target_column, task_type=task_type, problems=problems
        )
        if labels is not None:
            parsed[table.name] = labels
    by_id = _index_members(members, problems)
    problems.raise_if_any(UploadError)

    if "test.csv" in parsed:
        train_ids = set(parsed["train.csv"][0].tolist())
        te = tables[1]
        for j, v in enumerate(parsed["test.csv"][0]):
            if v in train_ids and v != "":
                problems.add(
                    f"id {echo(v)} is also in train.csv",
                    file="test.csv",
                    row=int(te.lines[j]),
                    column=id_column,
                )
    listed: set[str] = set()
    for table in tables:
        ids = parsed[table.name][0]
        listed.update(ids.tolist())
        for j, v in enumerate(ids):
            if v != "" and v not in by_id:
                problems.add(
                    f"no image for id {echo(v)} in {ZIP_LABEL} (expected a file named {echo(v)}.png or .jpg)",
                    file=table.name,
                    row=int(table.lines[j]),
                    column=id_column,
                )
    for stem, member in by_id.items():
        if stem not in listed:
            where = "train.csv or test.csv" if test is not None else "train.csv"
            problems.add(
                f"has no row in {where} (its id would be {echo(stem)})", file=_member_label(member.name)
            )
    classes = None
    if task_type == "classification":
        y_tr = parsed["train.csv"][1]
        present = set(y_tr.tolist()) - {""}
        if len(present) < 2:
            problems.add("has fewer than two classes; classification needs at least two", file="train.csv")
        elif len(present) > MAX_CLASSES:
            problems.add(f"has {len(present)} classes (at most {MAX_CLASSES})", file="train.csv")
        if "test.csv" in parsed:
            y_te = parsed["test.csv"][1]
            for j in np.flatnonzero(~np.isin(y_te, list(present))):
                problems.add(
                    f"label {echo(y_te[j])} does not occur in train.csv",
                    file="test.csv",
                    row=int(tables[1].lines[j]),
                    column=target_column,
                )
        classes = _sorted_labels(present)
    problems.raise_if_any(UploadError)

    order = [i for table in tables for i in parsed[table.name][0].tolist()]
    pixels = _decode_all(order, by_id, resize, problems)
    problems.raise_if_any(UploadError)

    tr_ids, tr_y = parsed["train.csv"]
    n_train = len(tr_ids)
    tr_x, te_x = pixels[:n_train], pixels[n_train:]
    if test is None:
        mask = stratified_mask(
            n_train,
            fraction=test_fraction,
            rng=np.random.default_rng(split_seed),
            labels=tr_y if classes is not None else None,
        )
        te_ids, te_y, te_x = tr_ids[mask], tr_y[mask], tr_x[mask]
        tr_ids, tr_y, tr_x = tr_ids[~mask], tr_y[~mask], tr_x[~mask]
    else:
        te_ids, te_y = parsed["test.csv"]
    return assemble_image_bundle(
        train_ids=tr_ids.tolist(),
        train_labels=tr_y.tolist(),
        train_pixels=tr_x,
        test_ids=te_ids.tolist(),
        test_labels=te_y.tolist(),
        test_pixels=te_x,
        archives={
            "train": _archive("train", tr_ids.tolist(), by_id),
            "test": _archive("test", te_ids.tolist(), by_id),
        },
        id_column=id_column,
        target_column=target_column,
        classes=classes,
        split_seed=split_seed if test is None else None,
        resize=resize,
        meta={
            "slug": slug,
            "version": version,
            "title": title.strip(),
            "description": description,
            "license": license,
            "task_type": task_type,
            "metric": metric,
        },
    )


def _decode_all(order: list[str], by_id: dict[str, Member], resize: Resize | None, problems: ProblemList):
    """Decode every image in row order into one uint8 array, or None after naming each bad image."""
    decoded: list[np.ndarray | None] = []
    for i in order:
        try:
            decoded.append(decode_image(by_id[i].data, resize))
        except ImageProblem as e:
            problems.add(str(e), file=_member_label(by_id[i].name))
            decoded.append(None)
    if problems:
        return None
    names = [by_id[i].name for i in order]
    channels = [a.shape[0] for a in decoded]
    if len(set(channels)) > 1:
        _odd_ones(
            [f"{c} channel{'s' if c > 1 else ''}" for c in channels],
            names,
            "the channel count",
            problems,
            "save every image as grey, RGB or RGBA alike",
        )
        return None
    sizes = [a.shape for a in decoded]
    if len(set(sizes)) > 1:
        _odd_ones(
            [_fmt_size(s) for s in sizes],
            names,
            "the size",
            problems,
            "all images need one size, or choose a resize",
        )
        return None
    shape = decoded[0].shape
    if len(decoded) * int(np.prod(shape)) > MAX_ARRAY_BYTES:
        problems.add(
            f"the {len(decoded):,} images of {_fmt_size(shape)} decode to more than {MAX_ARRAY_BYTES:,} bytes; "
            "choose a smaller resize",
            file=ZIP_LABEL,
        )
        return None
    out = np.empty((len(decoded), *shape), dtype=np.uint8)
    for k, a in enumerate(decoded):
        out[k] = a
    return out


def assemble_image_bundle(
    *,
    train_ids: list[str],
    train_labels: list[str],
    train_pixels: np.ndarray,
    test_ids: list[str],
    test_labels: list[str],
    test_pixels: np.ndarray,
    archives: dict[str, bytes],
    id_column: str,
    target_column: str,
    classes: list[str] | None,
    split_seed: int | None,
    resize: Resize | None,
    meta: dict,
) -> DatasetBundle:
    """The files and manifest of an image dataset (uploads and the built-in catalog alike)."""
    files = {
        "train.csv": write_csv([id_column, target_column], zip(train_ids, train_labels, strict=True)),
        "test.csv": write_csv([id_column], ([i] for i in test_ids)),
        "test_labels.csv": write_csv([id_column, target_column], zip(test_ids, test_labels, strict=True)),
        TRAIN_ARRAY: _npy_bytes(train_pixels),
        TEST_ARRAY: _npy_bytes(test_pixels),
        TRAIN_ARCHIVE: archives["train"],
        TEST_ARCHIVE: archives["test"],
    }
    partial = {
        "id_column": id_column,
        "target": target_column,
        "classes": classes,
        "task_type": meta["task_type"],
    }
    files["sample_submission.csv"] = sample_submission(partial, meta["metric"], test_ids)
    hidden = set(HIDDEN_FILES)
    manifest = make_manifest(
        **meta,
        id_column=id_column,
        target=target_column,
        features=[],
        input_shape=list(train_pixels.shape[1:]),
        classes=classes,
        rows={"train": len(train_ids), "test": len(test_ids)},
        split_seed=split_seed,
        files=files,
        hidden=hidden,
        extra={
            "modality": "image",
            "images": {
                "train": TRAIN_ARRAY,
                "test": TEST_ARRAY,
                "archives": {"train": TRAIN_ARCHIVE, "test": TEST_ARCHIVE},
                "dtype": "uint8",
                "layout": "NCHW",
                "resize": None if resize is None else [resize.height, resize.width],
            },
        },
    )
    return DatasetBundle(files=files, manifest=manifest, hidden=hidden)


def is_image_manifest(manifest) -> bool:
    return isinstance(manifest.get("images"), dict)


def worker_files(manifest) -> tuple[str, ...] | None:
    """The files a worker needs of this dataset (None: every public file)."""
    return WORKER_FILES if is_image_manifest(manifest) else None

"""Answer keys, the predictions validator (both paths), scores and bootstrap intervals."""

import io

import numpy as np
import pytest
from sklearn import metrics as skm

from datasets import catalog
from datasets.answer_key import AnswerKey, make_answer_key
from datasets.formats import sample_submission
from datasets.metrics import METRICS, metric_problems
from datasets.predictions import PredictionError, Predictions, parse_predictions
from datasets.scoring import bootstrap_ci, score
from datasets.upload import bundle_from_upload


@pytest.fixture(scope="module")
def iris():
    b = catalog.build("iris")
    return b, make_answer_key(b.files["test_labels.csv"], b.manifest, seed=7, public_fraction=0.4)


def parse(data, key, manifest, metric, **kw):
    return parse_predictions(data, answer_key=key, manifest=manifest, metric=metric, **kw)


def errors(data, key, manifest, metric, **kw) -> list[str]:
    """Problems from both paths, which must agree."""
    out = []
    for fast in (True, False):
        with pytest.raises(PredictionError) as info:
            parse(data, key, manifest, metric, _fast=fast, **kw)
        out.append([str(p) for p in info.value.problems])
    assert out[0] == out[1]
    return out[0]


def csv_bytes(header, rows) -> bytes:
    return (",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)).encode()


def label_rows(key, classes, order=None, values=None):
    order = range(len(key)) if order is None else order
    values = key.targets if values is None else values
    return [(key.ids[i], classes[values[i]]) for i in order]


# --- the answer key ---------------------------------------------------------------------


def test_answer_key_partition_is_seeded_stratified_and_round_trips(iris):
    b, key = iris
    again = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=7, public_fraction=0.4)
    other = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=8, public_fraction=0.4)
    assert (key.public == again.public).all() and not (key.public == other.public).all()
    for c in range(3):
        in_class = key.targets == c
        assert abs(key.public[in_class].mean() - 0.4) < 0.1
    assert key.ids.tolist() == [
        line.split(",")[0] for line in b.files["test_labels.csv"].decode().split()[1:]
    ]
    loaded = AnswerKey.from_bytes(key.to_bytes(), b.manifest)
    assert loaded.ids.tolist() == key.ids.tolist()
    assert (loaded.targets == key.targets).all() and (loaded.public == key.public).all()
    assert key.to_bytes().startswith(b"id,target,split\n")


def test_regression_answer_key_round_trips():
    b = catalog.build("diabetes")
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=1, public_fraction=0.3)
    loaded = AnswerKey.from_bytes(key.to_bytes(), b.manifest)
    assert loaded.targets.dtype == np.float64 and (loaded.targets == key.targets).all()
    assert round(key.public.mean(), 1) == 0.3


def test_a_tiny_test_set_keeps_a_row_on_each_side():
    b = bundle_from_upload(
        train=b"id,a,y\n1,1,x\n2,2,y\n",
        test=b"id,a,y\n5,1,x\n6,1,y\n",
        slug="t",
        title="T",
        task_type="classification",
        target_column="y",
    )
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.1)
    assert key.public.sum() == 1


# --- valid files ------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["iris", "breast-cancer", "diabetes", "waveforms"])
def test_every_sample_submission_parses_for_every_metric(slug):
    b = catalog.build(slug)
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.5)
    n_classes = len(b.manifest["classes"]) if b.manifest.get("classes") else None
    for name, metric in METRICS.items():
        if metric_problems(metric, n_classes=n_classes, task_type=b.manifest["task_type"]):
            continue
        data = sample_submission(b.manifest, name, key.ids)
        preds = parse(data, key, b.manifest, name)
        public, private = score(key, preds, name)
        if name in ("pearson", "spearman"):
            # A sample submission predicts one constant: no correlation is defined (docs/leaderboard.md).
            assert np.isnan(public) and np.isnan(private)
        else:
            assert np.isfinite(public) and np.isfinite(private)
    assert parse(b.files["sample_submission.csv"], key, b.manifest, b.manifest["metric"])


def test_scores_equal_sklearn_on_each_split_and_row_order_does_not_matter(iris):
    b, key = iris
    classes = b.manifest["classes"]
    rng = np.random.default_rng(0)
    guess = np.where(rng.random(len(key)) < 0.7, key.targets, rng.integers(0, 3, len(key)))
    order = rng.permutation(len(key))
    data = csv_bytes(["id", "target"], label_rows(key, classes, order, guess))
    preds = parse(data, key, b.manifest, "macro_f1")
    assert (preds.values == guess).all()
    public, private = score(key, preds, "macro_f1")
    assert public == pytest.approx(
        skm.f1_score(key.targets[key.public], guess[key.public], average="macro"), abs=1e-12
    )
    assert private == pytest.approx(
        skm.f1_score(key.targets[~key.public], guess[~key.public], average="macro"), abs=1e-12
    )


def test_probabilities_score_like_sklearn(iris):
    b, key = iris
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(3), len(key))
    rows = [(key.ids[i], *[repr(float(v)) for v in p[i]]) for i in range(len(key))]
    preds = parse(csv_bytes(["id", *b.manifest["classes"]], rows), key, b.manifest, "log_loss")
    public, private = score(key, preds, "log_loss")
    assert public == pytest.approx(
        skm.log_loss(key.targets[key.public], p[key.public], labels=[0, 1, 2]), abs=1e-9
    )
    public, _ = score(key, preds, "roc_auc")
    expected = skm.roc_auc_score(key.targets[key.public], p[key.public], multi_class="ovr", labels=[0, 1, 2])
    assert public == pytest.approx(expected, abs=1e-9)


def test_fast_and_reference_paths_agree_on_valid_files(iris):
    b, key = iris
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(3), len(key))
    rows = [(key.ids[i], *[f"{v:.17g}" for v in p[i]]) for i in rng.permutation(len(key))]
    data = csv_bytes(["id", *b.manifest["classes"]], rows)
    fast = parse(data, key, b.manifest, "log_loss", _fast=True)
    slow = parse(data, key, b.manifest, "log_loss", _fast=False)
    np.testing.assert_allclose(fast.values, slow.values, rtol=0, atol=1e-15)
    # quoting, CRLF and blank lines are fine; they only send the file to the reference parser
    quoted = data.replace(b"\n", b"\r\n").replace(b"setosa", b'"setosa"') + b"\r\n\r\n"
    np.testing.assert_allclose(
        parse(quoted, key, b.manifest, "log_loss", _fast=True).values, slow.values, atol=1e-15
    )


def test_string_ids_and_whitespace_and_a_byte_order_mark():
    b = bundle_from_upload(
        train=b"id,a,y\nq1,1,x\nq2,2,y\n", test=b"id,a,y\nz9,1,x\nz8,1,y\nz7,2,y\n", slug="t", title="T",
        task_type="classification", target_column="y",
    )  # fmt: skip
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.5)
    data = b"\xef\xbb\xbfid,y\nz7,y\n z9 , x \nz8,x\n"
    preds = parse(data, key, b.manifest, "accuracy")
    assert preds.values.tolist() == [0, 0, 1]  # aligned to the key's order z9, z8, z7


def test_file_object_input_is_read_in_chunks(iris):
    b, key = iris
    preds = parse(io.BytesIO(b.files["test_labels.csv"]), key, b.manifest, "accuracy")
    assert score(key, preds, "accuracy") == (1.0, 1.0)


# --- invalid files: exact messages ------------------------------------------------------


def test_header_must_match_the_sample_submission(iris):
    b, key = iris
    assert errors(b"ID,target\n112,setosa\n", key, b.manifest, "accuracy") == [
        "row 1: the header must be 'id,target'; found 'ID,target'"
    ]
    assert errors(b"id,target\n112,setosa\n", key, b.manifest, "log_loss") == [
        "row 1: the header must be 'id,setosa,versicolor,virginica'; found 'id,target'"
    ]


def test_empty_not_utf8_and_too_large(iris):
    b, key = iris
    assert errors(b"", key, b.manifest, "accuracy") == ["the file is empty"]
    assert errors(b"id,target\n112,s\xe9tosa\n", key, b.manifest, "accuracy") == [
        "row 2: the file is not UTF-8 text (first bad byte at offset 15); save it as UTF-8"
    ]
    stream = io.BytesIO(b"id,target\n" + b"112,setosa\n" * 100_000)
    assert errors(stream, key, b.manifest, "accuracy", max_bytes=1000)[0] == (
        "the file is larger than the limit of 1,000 bytes"
    )


def test_id_problems_name_row_and_id(iris):
    b, key = iris
    rows = label_rows(key, b.manifest["classes"])
    first, second = rows[0][0], rows[1][0]
    body = [rows[0], rows[0], ("999", "setosa"), ("1.0", "setosa"), ("", "setosa"), *rows[2:]]
    assert errors(csv_bytes(["id", "target"], body), key, b.manifest, "accuracy") == [
        f"row 3, column 'id', id '{first}': duplicate id (first on row 2)",
        "row 4, column 'id', id '999': unknown id: it is not in the test set",
        "row 5, column 'id', id '1.0': unknown id: it is not in the test set",
        "row 6, column 'id': missing id",
        f"column 'id': 1 test id has no prediction: '{second}'",
    ]


def test_integer_ids_are_compared_as_numbers(iris):
    b, key = iris
    rows = label_rows(key, b.manifest["classes"])
    first = rows[0][0]
    rows[0] = ("+" + first, rows[0][1])
    rows[1] = (rows[1][0] + ".0", rows[1][1])
    preds = parse(csv_bytes(["id", "target"], rows), key, b.manifest, "accuracy")
    assert (preds.values == key.targets).all()
    rows.append((f"{first}.00", rows[0][1]))
    assert errors(csv_bytes(["id", "target"], rows), key, b.manifest, "accuracy") == [
        f"row {len(rows) + 1}, column 'id', id '{first}.00': duplicate id (first on row 2)"
    ]


def test_label_problems(iris):
    b, key = iris
    rows = label_rows(key, b.manifest["classes"])
    rows[0] = (rows[0][0], "rose")
    rows[1] = (rows[1][0], "")
    assert errors(csv_bytes(["id", "target"], rows), key, b.manifest, "accuracy") == [
        f"row 2, column 'target', id '{rows[0][0]}': 'rose' is not a class of this dataset (setosa, versicolor, virginica)",
        f"row 3, column 'target', id '{rows[1][0]}': missing label",
    ]


def test_probability_problems(iris):
    b, key = iris
    ids = key.ids
    rows = [(i, "0.2", "0.3", "0.5") for i in ids]
    rows[0] = (ids[0], "0.5", "0.6", "-0.1")
    rows[1] = (ids[1], "0.5", "0.6", "0.1")
    rows[2] = (ids[2], "nan", "0.5", "0.5")
    rows[3] = (ids[3], "0.5", "half", "0.5")
    rows[4] = (ids[4], "0.5", "0.5")
    assert errors(csv_bytes(["id", *b.manifest["classes"]], rows), key, b.manifest, "log_loss") == [
        f"row 2, column 'virginica', id '{ids[0]}': probability -0.1 is outside [0, 1]",
        f"row 3, id '{ids[1]}': the probabilities sum to 1.2; they must sum to 1 (within 0.01: each row is divided by its sum)",
        f"row 4, column 'setosa', id '{ids[2]}': 'nan' is not a finite number",
        f"row 5, column 'versicolor', id '{ids[3]}': 'half' is not a finite number",
        "row 6: the row has 3 values but the header has 4 columns",
        f"column 'id': 1 test id has no prediction: '{ids[4]}'",
    ]
    # within the tolerance is fine
    ok = [(i, "0.2", "0.3", "0.5000001") for i in ids]
    assert parse(csv_bytes(["id", *b.manifest["classes"]], ok), key, b.manifest, "log_loss")


def test_regression_values_must_be_finite():
    b = catalog.build("diabetes")
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.5)
    rows = [(i, "100.5") for i in key.ids]
    rows[0] = (key.ids[0], "inf")
    rows[1] = (key.ids[1], "1_000")
    assert errors(csv_bytes(["id", "target"], rows), key, b.manifest, "rmse") == [
        f"row 2, column 'target', id '{key.ids[0]}': 'inf' is not a finite number",
        f"row 3, column 'target', id '{key.ids[1]}': '1_000' is not a finite number",
    ]


def test_only_the_first_twenty_problems_are_listed_but_all_are_counted(iris):
    b, key = iris
    rows = [(i, "rose") for i in key.ids]
    with pytest.raises(PredictionError) as info:
        parse(csv_bytes(["id", "target"], rows), key, b.manifest, "accuracy")
    err = info.value
    assert len(err.problems) == 20 and err.total == len(key)
    assert str(err).splitlines()[0] == f"{len(key)} problems in the predictions file:"
    assert str(err).splitlines()[-1] == f"- … and {len(key) - 20} more"
    assert err.problems[0].as_dict() == {
        "row": 2,
        "column": "target",
        "id": key.ids[0],
        "message": err.problems[0].message,
    }


def test_a_metric_for_the_other_task_is_refused(iris):
    b, key = iris
    with pytest.raises(ValueError, match="metric 'rmse' is for regression, the dataset is classification"):
        parse(b.files["sample_submission.csv"], key, b.manifest, "rmse")


# --- bootstrap --------------------------------------------------------------------------


def _reference_ci(key, preds, name, n, seed):
    idx = np.flatnonzero(key.public)
    draws = np.random.default_rng(seed).integers(0, idx.size, size=(n, idx.size), dtype=np.int32)
    stats = [METRICS[name](key.targets[idx][d], preds.values[idx][d], key.n_classes) for d in draws]
    return tuple(np.nanquantile(stats, [0.025, 0.975]))


@pytest.mark.parametrize("name", list(METRICS))
def test_bootstrap_equals_a_loop_over_the_same_resamples(name):
    slug = "diabetes" if METRICS[name].task_type == "regression" else "hard-classification"
    b = catalog.build(slug)
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=3, public_fraction=0.3)
    rng = np.random.default_rng(4)
    if METRICS[name].needs_proba:
        p = rng.dirichlet(np.ones(4) * 0.5, len(key))
        p[np.arange(len(key)), key.targets] += 0.5
        rows = [(key.ids[i], *(f"{v:.17g}" for v in p[i] / p[i].sum())) for i in range(len(key))]
        header = ["id", *b.manifest["classes"]]
    elif METRICS[name].task_type == "classification":
        guess = np.where(rng.random(len(key)) < 0.6, key.targets, rng.integers(0, 4, len(key)))
        rows, header = label_rows(key, b.manifest["classes"], values=guess), ["id", "target"]
    else:
        rows = [(key.ids[i], f"{v + rng.normal(0, 40):.6f}") for i, v in enumerate(key.targets)]
        header = ["id", "target"]
    preds = parse(csv_bytes(header, rows), key, b.manifest, name)
    low, high = bootstrap_ci(key, preds, name, n=200, seed=9)
    ref = _reference_ci(key, preds, name, 200, 9)
    assert low == pytest.approx(ref[0], abs=1e-9) and high == pytest.approx(ref[1], abs=1e-9)
    public, _ = score(key, preds, name)
    assert low <= public <= high
    assert bootstrap_ci(key, preds, name, n=200, seed=9) == (low, high)


def _synthetic(name, rows, seed=0, *, k=3, round_to=None):
    """An answer key of `rows` rows (30 % public) and plausible predictions for `name`."""
    rng = np.random.default_rng(seed)
    ids = np.array([str(i) for i in range(rows)], dtype=object)
    public = rng.random(rows) < 0.3
    metric = METRICS[name]
    if metric.task_type == "regression":
        y = rng.normal(size=rows)
        guess = y + rng.normal(scale=0.8, size=rows)
        if name in ("rmsle", "mape"):  # positive targets, away from 0 (MAPE divides by them)
            y, guess = np.exp(y / 2) + 1, np.abs(np.exp(y / 2) + 1 + rng.normal(scale=0.4, size=rows))
        key = AnswerKey(ids, y, public, "regression", None)
        return key, Predictions(guess, "value", name)
    k = min(max(k, metric.min_classes), metric.max_classes or 10**6)  # as many classes as it needs
    y = rng.integers(0, k, rows)
    key = AnswerKey(ids, y, public, "classification", [f"c{c}" for c in range(k)])
    if metric.needs_proba:
        p = rng.dirichlet(np.ones(k), rows)
        # Top-k metrics get no boost of the true class: they would hit on every row.
        p[np.arange(rows), y] += 0.4 if metric.min_classes == 2 else 0.0
        p /= p.sum(axis=1, keepdims=True)
        if round_to is not None:
            p = np.round(p, round_to)  # many equal scores: ties between positives and negatives
        return key, Predictions(p, "proba", name)
    guess = np.where(rng.random(rows) < 0.7, y, rng.integers(0, k, rows))
    return key, Predictions(guess, "label", name)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("round_to", [None, 1])
def test_bootstrap_auc_of_counts_equals_a_loop_of_sorts(k, round_to):
    """The AUC of a resample from its draw counts, ties included, is the metric's own."""
    key, preds = _synthetic("roc_auc", 900, seed=k, k=k, round_to=round_to)
    low, high = bootstrap_ci(key, preds, "roc_auc", n=150, seed=2)
    ref = _reference_ci(key, preds, "roc_auc", 150, 2)
    assert low == pytest.approx(ref[0], abs=1e-12) and high == pytest.approx(ref[1], abs=1e-12)


@pytest.mark.parametrize("name", list(METRICS))
def test_bootstrap_of_a_large_split_matches_the_full_bootstrap(name):
    """Past max_rows the interval comes from a subsample, rescaled: it must tell the
    same story as resampling every public row (here 12,000 rows against a 2,000 cap)."""
    key, preds = _synthetic(name, 40_000, seed=5)
    public, _ = score(key, preds, name)
    full = bootstrap_ci(key, preds, name, n=400, seed=1, max_rows=10**9)
    capped = bootstrap_ci(key, preds, name, n=400, seed=1, max_rows=2_000)
    width = full[1] - full[0]
    assert width > 0
    assert capped[0] < public < capped[1]
    # Within a quarter of the interval's width at each end: the Monte-Carlo error of 400
    # resamples alone is ~10 % of it.
    assert capped[0] == pytest.approx(full[0], abs=0.25 * width)
    assert capped[1] == pytest.approx(full[1], abs=0.25 * width)
    assert bootstrap_ci(key, preds, name, n=400, seed=1, max_rows=2_000) == capped


def test_bootstrap_interval_narrows_with_the_public_split():
    """More public rows, a narrower interval: the rescaling follows 1/sqrt(rows)."""
    widths = []
    for rows in (20_000, 80_000):
        key, preds = _synthetic("accuracy", rows, seed=3)
        low, high = bootstrap_ci(key, preds, "accuracy", n=400, seed=1, max_rows=2_000)
        widths.append(high - low)
    assert widths[1] == pytest.approx(widths[0] / 2, rel=0.25)


TOKENS = [
    "",
    " ",
    "nan",
    "inf",
    "-0",
    "1e0",
    "+1",
    "0x1",
    "1_0",
    "٣",
    "１",
    "1.",
    ".5",
    "1e400",
    "NA",
    "a,b",
    "\t7",
]


@pytest.mark.parametrize("metric", ["accuracy", "log_loss", "rmse"])
@pytest.mark.parametrize("seed", range(6))
def test_fast_path_never_accepts_what_the_reference_parser_refuses(metric, seed):
    """Mutated files: the fast path either agrees with the reference parser or defers to it."""
    slug = "diabetes" if metric == "rmse" else "iris"
    b = catalog.build(slug)
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.5)
    rng = np.random.default_rng(seed)
    good = sample_submission(b.manifest, metric, key.ids).decode().splitlines()
    for _ in range(15):
        lines = list(good)
        for _ in range(int(rng.integers(1, 3))):
            i = int(rng.integers(1, len(lines)))
            cells = lines[i].split(",")
            j = int(rng.integers(0, len(cells)))
            cells[j] = str(rng.choice([*TOKENS, cells[j] + str(rng.choice(TOKENS))]))
            lines[i] = ",".join(cells)
        data = ("\n".join(lines) + "\n").encode()
        outcomes = []
        for fast in (True, False):
            try:
                outcomes.append(parse(data, key, b.manifest, metric, _fast=fast).values)
            except PredictionError as e:
                outcomes.append([str(p) for p in e.problems])
        if isinstance(outcomes[1], list):
            assert outcomes[0] == outcomes[1], data
        else:
            np.testing.assert_array_equal(outcomes[0], outcomes[1])


@pytest.mark.parametrize("name", list(METRICS))
def test_score_is_the_metric_on_each_split(name):
    slug = "diabetes" if METRICS[name].task_type == "regression" else "hard-classification"
    b = catalog.build(slug)
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=5, public_fraction=0.3)
    rng = np.random.default_rng(6)
    if METRICS[name].needs_proba:
        values, kind = rng.dirichlet(np.ones(4), len(key)), "proba"
    elif METRICS[name].task_type == "classification":
        values, kind = (
            np.where(rng.random(len(key)) < 0.5, key.targets, rng.integers(0, 4, len(key))),
            "label",
        )
    else:
        values, kind = key.targets + rng.normal(0, 30, len(key)), "value"
        if METRICS[name].values_above is not None:
            values = np.abs(values)
    preds = Predictions(values, kind, name)
    public, private = score(key, preds, name)
    m, k = METRICS[name], key.n_classes
    assert public == pytest.approx(m(key.targets[key.public], values[key.public], k), abs=1e-12)
    assert private == pytest.approx(m(key.targets[~key.public], values[~key.public], k), abs=1e-12)


@pytest.mark.parametrize("slug", ["digits", "iris", "waveforms", "diabetes"])
def test_well_formed_files_take_the_fast_path(slug):
    from datasets.predictions import _fast_parse

    b = catalog.build(slug)
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.5)
    labels = b.files["test_labels.csv"]
    body = labels[labels.index(b"\n") + 1 :]
    kind = "value" if b.manifest["task_type"] == "regression" else "label"
    values = _fast_parse(body, ["id", b.manifest["target"]], kind, key)
    assert values is not None and np.array_equal(values, key.targets)


def test_numeric_class_names_are_compared_as_text():
    b = catalog.build("digits")
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.5)
    rows = [(i, b.manifest["classes"][t]) for i, t in zip(key.ids, key.targets, strict=True)]
    rows[0] = (rows[0][0], "0" + rows[0][1])
    assert errors(csv_bytes(["id", "label"], rows), key, b.manifest, "accuracy") == [
        f"row 2, column 'label', id '{rows[0][0]}': '{rows[0][1]}' is not a class of this dataset "
        "(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)"
    ]


def test_only_ascii_digits_are_numbers():
    b = catalog.build("diabetes")
    key = make_answer_key(b.files["test_labels.csv"], b.manifest, seed=0, public_fraction=0.5)
    rows = [(i, "100") for i in key.ids]
    rows[0] = (key.ids[0], "１")
    rows[1] = ("٣" + key.ids[1][1:], "100")
    assert errors(csv_bytes(["id", "target"], rows), key, b.manifest, "rmse")[:2] == [
        f"row 2, column 'target', id '{key.ids[0]}': '１' is not a finite number",
        f"row 3, column 'id', id '{rows[1][0]}': unknown id: it is not in the test set",
    ]


def test_small_files_are_read_by_the_reference_parser_and_large_ones_by_pandas(iris, monkeypatch):
    """Below FAST_PARSE_MIN_BYTES pandas' setup would cost more than the whole parse."""
    import datasets.predictions as predictions

    b, key = iris
    small = sample_submission(b.manifest, "accuracy", key.ids)
    assert len(small) < predictions.FAST_PARSE_MIN_BYTES
    calls = []
    real = predictions.pd.read_csv
    monkeypatch.setattr(predictions.pd, "read_csv", lambda *a, **k: calls.append(1) or real(*a, **k))
    reference = parse(small, key, b.manifest, "accuracy", _fast=False).values
    np.testing.assert_array_equal(parse(small, key, b.manifest, "accuracy").values, reference)
    assert calls == []
    # The same rows padded with spaces past the threshold take the vectorised path.
    header, *rows = small.decode().splitlines()
    padded = "\n".join([header, *[r.replace(",", " " * 60 + ",") for r in rows]]).encode() + b"\n"
    assert len(padded) >= predictions.FAST_PARSE_MIN_BYTES
    np.testing.assert_array_equal(parse(padded, key, b.manifest, "accuracy").values, reference)
    assert calls == [1]

"""Categorical columns: declared at upload, categories from the training rows, codes in the
arrays (an unseen test category reads as unknown, 0), never standardised, and trained on
through the embedding layer."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.arrays import load_arrays
from datasets.upload import UploadError, bundle_from_upload

TRAIN = b"id,size,color,label\n" + b"".join(
    f"{i},{i % 7 * 0.5},{['red', 'blue', 'green'][i % 3]},{'a' if i % 3 == 0 else 'b'}\n".encode()
    for i in range(60)
)
TEST = b"id,size,color,label\n100,1.5,purple,a\n101,2.5,red,a\n102,0.5,blue,b\n"


def upload(**kw):
    args = dict(
        train=TRAIN,
        test=TEST,
        slug="shapes",
        title="Shapes",
        task_type="classification",
        target_column="label",
        categorical_columns=["color"],
    )
    args.update(kw)
    return bundle_from_upload(**args)


def test_codes_in_the_arrays_and_unknown_category_is_zero():
    bundle = upload()
    assert bundle.manifest["inputs"]["categorical"]["color"] == {
        "index": 1,
        "categories": ["blue", "green", "red"],
    }
    arrays = load_arrays(bundle.files, bundle.manifest, verify=True)
    np.testing.assert_array_equal(arrays.X_test[:, 1], [0.0, 3.0, 1.0])  # purple unseen: unknown
    assert set(np.unique(arrays.X_train[:, 1])) == {1.0, 2.0, 3.0}


def test_missing_category_is_named():
    with pytest.raises(UploadError) as e:
        upload(train=TRAIN + b"200,1.0,,a\n")
    assert [(p["file"], p["row"], p["column"]) for p in e.value.as_dicts()] == [("train.csv", 62, "color")]


def test_embedding_trains_on_codes_that_are_not_standardised():
    torch = pytest.importorskip("torch")
    from workers.data import TrainData
    from workers.spec import parse_config
    from workers.training import COMPLETED, train

    bundle = upload()
    a = load_arrays(bundle.files, bundle.manifest)
    data = TrainData(a.X_train, a.y_train, a.X_test, a.test_ids, bundle.manifest, slug="shapes")
    np.testing.assert_array_equal(data.raw_features, [False, True])
    config = parse_config(
        "version: 1\nmodel:\n  layers:\n    - embedding: {dim: 4}\n    - linear: 8\n    - relu\n"
        "    - linear: auto\ntrain:\n  epochs: 30\n  batch_size: 16\n  optimizer: {name: adam, lr: 0.05}\n"
    )
    torch.set_num_threads(1)
    result = train(config, data)
    assert result.stopped_reason == COMPLETED
    # The label is the colour (red -> a): the embedding learns it from the codes.
    assert result.val_metric["value"] == 1.0
    assert list(result.predictions[1:]) == ["a", "b"]

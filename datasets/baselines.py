"""Classical (scikit-learn) baselines of a built-in dataset, scored on its hidden test rows:
what a deep model must beat for a claim about it to mean anything.

- `bag_of_words`: logistic regression on word counts of a text dataset, the best of unigram and
  unigram+bigram counts with C in {0.1, 1, 10}, picked by test score. Picking on the test rows
  favours the baseline, so a model's margin over it is a lower bound.
- `logistic_regression`, `svc_rbf`, `random_forest`: on the standardised raw features (an
  image's pixels flattened), with scikit-learn's customary settings, not tuned.

Only the platform's own studies and benchmarks call these (they read the test labels);
nothing here is served to a participant.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from datasets.arrays import load_arrays
from datasets.bundle import DatasetBundle
from datasets.metrics import get_metric

BASELINES = ("bag_of_words", "logistic_regression", "svc_rbf", "random_forest")


def _test_labels(bundle: DatasetBundle, ids) -> np.ndarray:
    manifest = bundle.manifest
    labels = pd.read_csv(io.BytesIO(bundle.files["test_labels.csv"]), dtype=str, keep_default_na=False)
    return labels.set_index(manifest["id_column"]).loc[list(ids), manifest["target"]].to_numpy()


def _score(bundle: DatasetBundle, truth: np.ndarray, predicted: np.ndarray, metric: str) -> float:
    """The metric of predicted labels against true labels, both as the manifest's class
    indices (what `datasets.metrics` reads)."""
    classes = pd.Index(bundle.manifest["classes"])
    return get_metric(metric)(classes.get_indexer(truth), classes.get_indexer(predicted), len(classes))


def bag_of_words(bundle: DatasetBundle, metric: str = "accuracy") -> tuple[float, str]:
    """(test score, which setting won) of the bag-of-words logistic regression of a text set."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    manifest = bundle.manifest
    text = (manifest.get("inputs") or {}).get("text_column", "text")
    train = pd.read_csv(io.BytesIO(bundle.files["train.csv"]), dtype=str, keep_default_na=False)
    test = pd.read_csv(io.BytesIO(bundle.files["test.csv"]), dtype=str, keep_default_na=False)
    truth = _test_labels(bundle, test[manifest["id_column"]])
    best, how = -np.inf, ""
    for ngrams in ((1, 1), (1, 2)):
        vec = CountVectorizer(ngram_range=ngrams, token_pattern=r"[^ ]+")
        x_train, x_test = vec.fit_transform(train[text]), vec.transform(test[text])
        for c in (0.1, 1.0, 10.0):
            model = LogisticRegression(C=c, max_iter=2000).fit(x_train, train[manifest["target"]])
            score = _score(bundle, truth, model.predict(x_test), metric)
            if get_metric(metric).better(score, best):
                best, how = score, f"ngrams {ngrams}, C={c}"
    return float(best), how


def feature_baseline(bundle: DatasetBundle, name: str, *, seed: int = 0, metric: str = "accuracy") -> float:
    """The test score of one classical classifier on the standardised raw features."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    models = {
        "logistic_regression": lambda: LogisticRegression(max_iter=2000),
        "svc_rbf": lambda: SVC(C=1.0, gamma="scale"),
        "random_forest": lambda: RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=1),
    }
    if name not in models:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(models)}")
    manifest = bundle.manifest
    arrays = load_arrays(bundle.files, manifest)
    x_train = arrays.X_train.reshape(len(arrays.X_train), -1).astype(np.float32)
    x_test = arrays.X_test.reshape(len(arrays.X_test), -1).astype(np.float32)
    scaler = StandardScaler().fit(x_train)
    classes = np.asarray(manifest["classes"], dtype=object)
    model = models[name]().fit(scaler.transform(x_train), arrays.y_train)
    predicted = classes[model.predict(scaler.transform(x_test))]
    return float(_score(bundle, _test_labels(bundle, arrays.test_ids), predicted, metric))


def baseline_score(bundle: DatasetBundle, name: str, *, seed: int = 0, metric: str = "accuracy") -> float:
    if name == "bag_of_words":
        return bag_of_words(bundle, metric)[0]
    return feature_baseline(bundle, name, seed=seed, metric=metric)

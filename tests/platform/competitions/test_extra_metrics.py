"""Choosing a competition's metrics: the primary and the others are checked against the
dataset and the answer key, every problem is named by field, nothing is stored; the
metric list of `GET /api/metrics/`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from datasets.metrics import BUILT_IN
from podium.competitions.models import Competition
from podium.competitions.services import competition_create, competition_update, dataset_create_from_upload
from tests.factories.competitions import make_competition, make_dataset

pytestmark = pytest.mark.django_db


def _create(dataset, metric, extra_metrics=(), slug="metrics-cup"):
    now = timezone.now()
    return competition_create(
        dataset=dataset,
        slug=slug,
        title="Metrics",
        metric=metric,
        extra_metrics=extra_metrics,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=5),
    )


def _refused(dataset, metric, extra_metrics=()) -> dict:
    with pytest.raises(ValidationError) as info:
        _create(dataset, metric, extra_metrics)
    assert not Competition.objects.filter(slug="metrics-cup").exists()
    return {field: " ".join(messages) for field, messages in info.value.message_dict.items()}


def test_every_problem_with_the_metrics_is_named_by_field_and_nothing_is_stored():
    iris = make_dataset("iris")  # three classes
    assert _refused(iris, "f1") == {"metric": "metric 'f1' needs exactly 2 classes; the dataset has 3"}
    assert (
        _refused(iris, "rmse")["metric"] == "metric 'rmse' is for regression, the dataset is classification"
    )
    problems = _refused(iris, "accuracy", ["roc_auc", "nope", "accuracy", "top_5_accuracy", "macro_f1"])
    assert problems == {
        "extra_metrics": "metric 'roc_auc' needs class probabilities, but entries hold class labels (the "
        "format of the primary metric 'accuracy'); make 'roc_auc' the primary metric or choose another; "
        "unknown metric 'nope'; choose one of accuracy, balanced_accuracy, top_3_accuracy, top_5_accuracy, "
        "f1, macro_f1, micro_f1, weighted_f1, precision, recall, log_loss, roc_auc, average_precision, "
        "matthews_corrcoef, quadratic_kappa, rmse, mae, rmsle, r2, mape, pearson, spearman; metric "
        "'accuracy' is listed twice (the primary metric is shown already); metric 'top_5_accuracy' needs "
        "at least 6 classes; the dataset has 3"
    }
    assert _refused(iris, "accuracy", "macro_f1") == {"extra_metrics": "a list of metric names"}


def test_a_probability_primary_takes_label_metrics_as_columns():
    competition = _create(make_dataset("iris"), "log_loss", ["accuracy", "macro_f1", "roc_auc"])
    assert competition.extra_metrics == ["accuracy", "macro_f1", "roc_auc"]
    # Fixed at creation: the entries' stored scores depend on them.
    with pytest.raises(ValidationError, match="fixed at creation"):
        competition_update(competition=competition, extra_metrics=["accuracy"])


def _upload(slug, task_type, train: str, test: str, target: str):
    return dataset_create_from_upload(
        train_file=train.encode(),
        test_file=test.encode(),
        slug=slug,
        title=slug,
        task_type=task_type,
        target_column=target,
    )


def test_a_metric_the_answer_key_leaves_undefined_is_refused_at_creation():
    # Two classes in train, one in the test set: no ROC AUC on either split.
    train = "id,a,label\n" + "".join(f"r{i},{i},{'yes' if i % 2 else 'no'}\n" for i in range(40))
    test = "id,a,label\n" + "".join(f"t{i},{i}.5,yes\n" for i in range(20))
    one_class = _upload("one-class", "classification", train, test, "label")
    assert _refused(one_class, "log_loss", ["roc_auc"]) == {
        "extra_metrics": "metric 'roc_auc' is undefined on the public split of the answer key: it holds "
        "one class only"
    }
    # Constant targets: no correlation; negative targets: no RMSLE.
    train = "id,x,y\n" + "".join(f"{i},{i},{i * 0.5}\n" for i in range(40))
    test = "id,x,y\n" + "".join(f"{100 + i},{i}.25,-3\n" for i in range(20))
    constant = _upload("constant", "regression", train, test, "y")
    assert _refused(constant, "rmse", ["pearson", "rmsle"]) == {
        "extra_metrics": "metric 'pearson' is undefined on the public split of the answer key: its targets "
        "are all equal; metric 'rmsle' needs targets greater than -1; the test set has -3"
    }


def test_the_admin_form_offers_the_metrics_as_columns(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/admin/competitions/competition/add/").content.decode()
    assert 'name="extra_metrics" value="quadratic_kappa"' in page


def test_the_metric_list_describes_every_metric(anon_api, alice_api):
    for api in (anon_api, alice_api):
        answer = api.get("/api/metrics/")
        assert answer.status_code == 200
    listed = {m["name"]: m for m in answer.json()}
    assert set(listed) == {m.name for m in BUILT_IN}
    assert listed["rmsle"] == {
        "name": "rmsle",
        "title": "Root mean squared log error",
        "description": listed["rmsle"]["description"],
        "task_type": "regression",
        "higher_is_better": False,
        "prediction_formats": ["value"],
        "min_classes": None,
        "max_classes": None,
        "values_above": -1.0,
        "interval": listed["rmsle"]["interval"],
        "source": "built-in",
    }
    assert listed["f1"]["prediction_formats"] == ["label", "proba"] and listed["f1"]["max_classes"] == 2
    assert all(m["description"] and m["interval"] for m in listed.values())
    index = anon_api.get("/api/").json()
    assert index["metrics"].endswith("/api/metrics/")


def test_the_schema_documents_the_metric_list(anon_api):
    schema = anon_api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/metrics/"]["get"]
    item = operation["responses"]["200"]["content"]["application/json"]["schema"]["items"]["$ref"]
    assert item.endswith("/MetricOutput")
    assert "values_above" in schema["components"]["schemas"]["MetricOutput"]["properties"]


def test_existing_competitions_keep_no_extra_metrics():
    competition = make_competition("plain-cup")
    assert competition.extra_metrics == []

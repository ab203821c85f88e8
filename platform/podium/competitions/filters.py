"""Query filters of the competition list (django-filter), applied inside the selector."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils import timezone

from podium.competitions.models import Competition, TaskType, metric_choices


class CompetitionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[("open", "Open"), ("upcoming", "Upcoming"), ("past", "Past")], method="filter_status"
    )
    task_type = django_filters.ChoiceFilter(choices=TaskType.choices)
    metric = django_filters.ChoiceFilter(choices=metric_choices)
    dataset = django_filters.CharFilter(field_name="dataset__slug")
    search = django_filters.CharFilter(method="filter_search", max_length=100)

    class Meta:
        model = Competition
        fields = ["status", "task_type", "metric", "dataset", "search"]

    def filter_status(self, queryset, name, value):
        now = timezone.now()
        if value == "open":
            # No end: a permanent benchmark, open for good.
            return queryset.filter(Q(ends_at__gt=now) | Q(ends_at__isnull=True), starts_at__lte=now)
        if value == "upcoming":
            return queryset.filter(starts_at__gt=now)
        return queryset.filter(ends_at__lte=now)

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(title__icontains=value)
            | Q(slug__icontains=value)
            | Q(overview__icontains=value)
            | Q(dataset__title__icontains=value)
            | Q(dataset__slug__icontains=value)
        )

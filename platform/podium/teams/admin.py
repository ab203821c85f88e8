from __future__ import annotations

from django.contrib import admin

from podium.teams.models import Team, TeamMembership


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    fields = ["user", "competition", "joined_at"]
    readonly_fields = ["joined_at"]
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "competition", "created_by", "created_at"]
    list_filter = ["competition"]
    search_fields = ["name"]
    readonly_fields = ["join_code", "created_at"]
    inlines = [TeamMembershipInline]

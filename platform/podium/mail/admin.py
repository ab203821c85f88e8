from django.contrib import admin

from podium.mail.models import MailPreferences, SentMail


@admin.register(MailPreferences)
class MailPreferencesAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "verified_email",
        "verified_at",
        "entry_scored",
        "entry_failed",
        "closing_soon",
        "reveal",
    )
    search_fields = ("user__username", "user__email", "verified_email")
    raw_id_fields = ("user",)


@admin.register(SentMail)
class SentMailAdmin(admin.ModelAdmin):
    list_display = ("sent_at", "kind", "to", "subject")
    list_filter = ("kind",)
    search_fields = ("to", "subject", "user__username")
    raw_id_fields = ("user",)

    def has_add_permission(self, request):
        return False  # a record of what was sent, not a way to send

    def has_change_permission(self, request, obj=None):
        return False

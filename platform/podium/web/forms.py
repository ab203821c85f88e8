from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=True, help_text="For password resets; never shown publicly.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists.")
        return email


class TokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What the token is for, e.g. “laptop CLI”.")


class TeamJoinForm(forms.Form):
    code = forms.CharField(max_length=32, label="Join code")


class MailPreferencesForm(forms.Form):
    """One box per mail kind a person may switch off (podium.mail.models.SWITCHABLE)."""

    def __init__(self, *args, **kwargs):
        from podium.mail.models import SWITCHABLE

        super().__init__(*args, **kwargs)
        for kind in SWITCHABLE:
            self.fields[kind.value] = forms.BooleanField(required=False, label=kind.label)

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import ApiKey, Event, Membership, normalize_email

SIDE_CHOICES = [
    ("creator", "Creator: we license our data"),
    ("buyer", "Buyer: we license data"),
    ("both", "Both"),
]


def side_flags(side: str) -> tuple[bool, bool]:
    return side in ("creator", "both"), side in ("buyer", "both")


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    def clean_username(self):
        return normalize_email(self.cleaned_data["username"])


class SignUpForm(forms.Form):
    full_name = forms.CharField(label="Your name", max_length=150)
    email = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label="Password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        min_length=10,
    )
    organization_name = forms.CharField(label="Organization", max_length=120)
    side = forms.ChoiceField(
        label="Your organization is a", choices=SIDE_CHOICES, widget=forms.RadioSelect
    )


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    side = forms.ChoiceField(
        label="This organization is a", choices=SIDE_CHOICES, widget=forms.RadioSelect
    )


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, help_text="What will use this key, e.g. 'procurement sync'."
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=ApiKey.Scope.choices,
        initial=[ApiKey.Scope.ALL.value],
        widget=forms.CheckboxSelectMultiple,
    )
    expires_at = forms.DateTimeField(
        label="Expires",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class MemberForm(forms.Form):
    email = forms.EmailField(label="Email of an existing account")
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices)


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        label="URL", max_length=500, assume_scheme="https", help_text="Where we POST signed events."
    )
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[("*", "All events")]
        + [(value, value) for value in Event.Type.values if value != Event.Type.PING],
        initial=["*"],
        widget=forms.CheckboxSelectMultiple,
    )

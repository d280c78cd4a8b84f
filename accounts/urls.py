from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views
from accounts.forms import EmailAuthenticationForm

app_name = "accounts"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html", authentication_form=EmailAuthenticationForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
            success_url=reverse_lazy("accounts:password-reset-done"),
        ),
        name="password-reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            success_url=reverse_lazy("accounts:password-reset-complete"),
        ),
        name="password-reset-confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password-reset-complete",
    ),
    path("organization/", views.organization_detail, name="organization"),
    path("organization/new/", views.organization_new, name="organization-new"),
    path("organization/switch/", views.switch_organization, name="organization-switch"),
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/<str:key_id>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("webhooks/", views.webhook_endpoints, name="webhook-endpoints"),
    path("webhooks/<str:endpoint_id>/", views.webhook_endpoint, name="webhook-endpoint"),
    path(
        "webhooks/<str:endpoint_id>/<str:verb>/",
        views.webhook_endpoint_action,
        name="webhook-endpoint-action",
    ),
    path(
        "webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>/redeliver/",
        views.webhook_redeliver,
        name="webhook-redeliver",
    ),
]

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from marketplace import health, staff_views, views
from payouts import staff_views as payout_staff_views
from payouts import views as payout_views
from reputation import flag_views
from tasks.urls import staff_urlpatterns as task_report_urls

# Staff sign in through the site's login page, where failed sign-ins are throttled
# (marketplace.login_throttle); the admin's own form would check passwords unthrottled.
admin.site.login = login_required(admin.site.login)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("worker/", views.worker_home, name="worker_home"),
    path("worker/apply/", views.worker_apply, name="worker_apply"),
    path("terms/", views.terms_of_work, name="terms_of_work"),
    path("privacy/", views.privacy_notice, name="privacy_notice"),
    path("work/quality/", include("reputation.urls")),
    path("work/", include("tasks.work_urls")),
    path("setup/", views.setup_account, name="setup_account"),
    path("setup/<str:token>/", views.setup_account, name="setup_account_link"),
    path("centre/<slug:slug>/", views.centre_home, name="centre_home"),
    path("centre/<slug:slug>/enrol/", views.centre_enrol, name="centre_enrol"),
    path(
        "centre/<slug:slug>/workers/<int:profile_id>/code/",
        views.centre_reissue_code,
        name="centre_reissue_code",
    ),
    path(
        "centre/<slug:slug>/workers/<int:profile_id>/unlock/",
        views.centre_unlock_sign_in,
        name="centre_unlock_sign_in",
    ),
    path("requester/", views.requester_home, name="requester_home"),
    path("requester/sets/", include("tasks.urls")),
    path("staff/", staff_views.staff_home, name="staff_home"),
    path("staff/payouts/", payout_staff_views.staff_payout_runs, name="staff_payout_runs"),
    path("staff/vetting/", views.vetting_queue_view, name="vetting_queue"),
    path("staff/vetting/cohort/", views.vetting_approve_cohort, name="vetting_approve_cohort"),
    path("staff/vetting/<int:profile_id>/", views.vetting_detail, name="vetting_detail"),
    path(
        "staff/vetting/<int:profile_id>/unlock/",
        views.vetting_unlock_sign_in,
        name="vetting_unlock_sign_in",
    ),
    path("staff/appeals/", include("reputation.staff_urls")),
    path("staff/flags/", include("reputation.flag_urls")),
    path(
        "worker/decisions/<int:flag_id>/appeal/",
        flag_views.worker_flag_appeal,
        name="worker_flag_appeal",
    ),
    path("staff/reports/", include(task_report_urls)),
    path("staff/credit/", payout_views.credit_organization_view, name="staff_credit"),
    path(
        "requester/<slug:slug>/members/",
        views.organization_add_member,
        name="organization_add_member",
    ),
    path("api/v1/", include("tasks.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path(
        "api/docs/",
        # Redoc (self-hosted) writes <style> elements at run time, draws icons from data:
        # URLs and searches in a blob: worker: this page alone allows those. Its scripts
        # are still only our own files, and its logo from Redocly's CDN stays blocked.
        csp_update({"style-src": [UNSAFE_INLINE], "img-src": ["data:"], "worker-src": ["blob:"]})(
            SpectacularRedocView.as_view(url_name="api_schema")
        ),
        name="api_docs",
    ),
    path("requester/<slug:slug>/keys/", views.api_key_create, name="api_key_create"),
    path("requester/keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("", include("payouts.urls")),
    path("", include("payouts.funding_urls")),
    path("", include("payouts.connect_urls")),
    path("admin/", admin.site.urls),
]

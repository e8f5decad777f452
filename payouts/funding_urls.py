from django.urls import path

from payouts import funding_views, webhooks

urlpatterns = [
    path("requester/billing/fund/", funding_views.fund, name="funding_start"),
    path("requester/billing/fund/<int:pk>/", funding_views.funding_status, name="funding_status"),
    path("requester/billing/refund/", funding_views.refund, name="refund_start"),
    path("requester/billing/refund/<int:pk>/", funding_views.refund_status, name="refund_status"),
    path("stripe/webhook/", webhooks.stripe_webhook, name="stripe_webhook"),
]

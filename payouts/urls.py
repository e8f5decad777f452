from django.urls import path

from payouts import views

urlpatterns = [
    path("worker/earnings/", views.worker_earnings, name="worker_earnings"),
    path("requester/billing/", views.requester_billing, name="requester_billing"),
    path(
        "requester/billing/<slug:slug>/statement.csv",
        views.requester_statement_csv,
        name="requester_statement_csv",
    ),
    path("centre/<slug:slug>/payouts/", views.centre_payouts, name="centre_payouts"),
    path(
        "centre/<slug:slug>/payouts/<int:batch_id>/<str:which>/",
        views.centre_payout_file,
        name="centre_payout_file",
    ),
]

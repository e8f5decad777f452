from django.urls import path

from payouts import connect_views

urlpatterns = [
    path("worker/earnings/stripe/", connect_views.connect_start, name="connect_start"),
    path("worker/earnings/stripe/refresh/", connect_views.connect_refresh, name="connect_refresh"),
    path("worker/earnings/stripe/return/", connect_views.connect_return, name="connect_return"),
]

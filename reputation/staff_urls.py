from django.urls import path

from reputation import views

urlpatterns = [
    path("", views.appeal_queue, name="appeal_queue"),
    path("<int:appeal_id>/", views.appeal_detail, name="appeal_detail"),
    path("<int:appeal_id>/image", views.appeal_image, name="appeal_image"),
]

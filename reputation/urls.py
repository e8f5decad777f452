from django.urls import path

from reputation import views

urlpatterns = [
    path("", views.quality_page, name="quality_page"),
    path("appeal/<int:assignment_id>/", views.quality_appeal, name="quality_appeal"),
    path("check/", views.quality_show_check, name="quality_show_check"),
    path("check/<int:assignment_id>/", views.quality_check, name="quality_check"),
]

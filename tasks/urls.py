from django.urls import path

from tasks import views

urlpatterns = [
    path("", views.task_set_list, name="task_set_list"),
    path("new/", views.task_set_create, name="task_set_create"),
    path("<int:task_set_id>/", views.task_set_detail, name="task_set_detail"),
    path("<int:task_set_id>/edit/", views.task_set_edit, name="task_set_edit"),
    path("<int:task_set_id>/upload/", views.task_set_upload, name="task_set_upload"),
    path(
        "<int:task_set_id>/examples/",
        views.task_set_example_upload,
        name="task_set_example_upload",
    ),
    path(
        "<int:task_set_id>/results.<str:fmt>",
        views.task_set_export,
        name="task_set_export",
    ),
    path(
        "<int:task_set_id>/answers/<int:assignment_id>/reject/",
        views.task_set_reject_answer,
        name="task_set_reject_answer",
    ),
    path(
        "<int:task_set_id>/gold/<int:task_id>/correct/",
        views.task_set_correct_gold,
        name="task_set_correct_gold",
    ),
    path(
        "<int:task_set_id>/tasks/<int:task_id>/image",
        views.task_set_task_image,
        name="task_set_task_image",
    ),
    path("<int:task_set_id>/<slug:action>/", views.task_set_action, name="task_set_action"),
]

# Mounted at /staff/reports/ (marketplace/urls.py).
staff_urlpatterns = [
    path("", views.staff_reports, name="staff_reports"),
    path("tasks/<int:task_id>/image", views.staff_report_image, name="staff_report_image"),
]

from django.urls import path

from reputation import flag_views

urlpatterns = [
    path("", flag_views.flag_queue, name="flag_queue"),
    path("bulk/", flag_views.flag_bulk, name="flag_bulk"),
    path("<int:flag_id>/", flag_views.flag_detail, name="flag_detail"),
    path("<int:flag_id>/keep/", flag_views.flag_keep_decision, name="flag_keep_decision"),
    path("answers/<int:assignment_id>/", flag_views.flag_answer, name="flag_answer"),
    path(
        "answers/<int:assignment_id>/image", flag_views.flag_answer_image, name="flag_answer_image"
    ),
]

from django.urls import path

from tasks import work_views

urlpatterns = [
    path("", work_views.work_page, name="work_page"),
    path("claim/", work_views.work_claim, name="work_claim"),
    path("submit/", work_views.work_submit, name="work_submit"),
    path("release/", work_views.work_release, name="work_release"),
    path("a/<int:assignment_id>/image", work_views.work_image, name="work_image"),
    path("sets/<int:task_set_id>/", work_views.work_instructions, name="work_instructions"),
    path(
        "sets/<int:task_set_id>/examples/<int:example_id>",
        work_views.example_image,
        name="example_image",
    ),
]

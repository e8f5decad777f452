from django.urls import path

from tasks import api

urlpatterns = [
    path("task-sets/", api.TaskSetListView.as_view(), name="api_task_sets"),
    path("task-sets/<int:task_set_id>/", api.TaskSetDetailView.as_view(), name="api_task_set"),
    path(
        "task-sets/<int:task_set_id>/tasks/", api.TaskUploadView.as_view(), name="api_task_upload"
    ),
    path(
        "task-sets/<int:task_set_id>/uploads/<int:job_id>/",
        api.UploadJobView.as_view(),
        name="api_upload_job",
    ),
    path(
        "task-sets/<int:task_set_id>/publish/", api.TaskSetPublishView.as_view(), name="api_publish"
    ),
    path("task-sets/<int:task_set_id>/pause/", api.TaskSetPauseView.as_view(), name="api_pause"),
    path("task-sets/<int:task_set_id>/resume/", api.TaskSetResumeView.as_view(), name="api_resume"),
    path("task-sets/<int:task_set_id>/cancel/", api.TaskSetCancelView.as_view(), name="api_cancel"),
    path(
        "task-sets/<int:task_set_id>/results/", api.TaskSetResultsView.as_view(), name="api_results"
    ),
    path(
        "task-sets/<int:task_set_id>/reports/", api.TaskSetReportsView.as_view(), name="api_reports"
    ),
    path(
        "task-sets/<int:task_set_id>/results.<str:fmt>",
        api.TaskSetResultsExportView.as_view(),
        name="api_results_export",
    ),
]

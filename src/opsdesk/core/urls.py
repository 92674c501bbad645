from django.urls import path

from . import pages, views

urlpatterns = [
    path("", pages.DashboardView.as_view(), name="dashboard"),
    path("search/", pages.SearchView.as_view(), name="search"),
    path("notifications/", pages.NotificationsView.as_view(), name="notifications"),
    path("jobs/", pages.JobsView.as_view(), name="jobs"),
    path("attachments/<int:pk>/", views.AttachmentDownloadView.as_view(), name="attachment_download"),
    path("saved-filters/", views.SavedFilterView.as_view(), name="saved_filters"),
]

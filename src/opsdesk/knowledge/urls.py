"""The knowledge base pages, under /knowledge/ (namespace "knowledge")."""

from . import views

app_name = "knowledge"
urlpatterns = [*views.urlpatterns]

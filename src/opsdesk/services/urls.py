from .views import ServiceUI

app_name = "services"
urlpatterns = ServiceUI.urls()

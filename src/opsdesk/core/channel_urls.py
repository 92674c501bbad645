from django.urls import path

from .channels import ChannelTestView, ChannelUI

app_name = "channels"
urlpatterns = [*ChannelUI.urls(), path("<int:pk>/test/", ChannelTestView.as_view(), name="test")]

"""Unused (HTTP is answered by Channels consumers), but Django wants it."""

urlpatterns = []

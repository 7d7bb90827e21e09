"""Unused (all HTTP is answered by the raw http.request consumer), but Django wants it."""
urlpatterns = []

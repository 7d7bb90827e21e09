#!/usr/bin/env python
"""Django 2.2 manage.py for the Channels 1.1.8 anchor (use `python manage.py runworker`)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench_c1.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

"""The tablet app: an offline-first web app for recording visits, served at ``/app``."""

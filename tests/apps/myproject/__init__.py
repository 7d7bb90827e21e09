"""The project that docs/deploying.md deploys (``app = "myproject.routing:routes"``)."""

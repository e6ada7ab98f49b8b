# No models. The module exists because Django sends post_migrate only to apps that have
# one, and the role sync in apps.py listens for this app's post_migrate.

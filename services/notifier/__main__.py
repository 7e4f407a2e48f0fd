"""`python -m services.notifier`: run the notifier service alone (what `vigil serve notifier` does)."""

from services.cli import serve_one

if __name__ == "__main__":
    serve_one("notifier")

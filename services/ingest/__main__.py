"""`python -m services.ingest`: run ingest alone (what `vigil serve ingest` does)."""

from services.cli import serve_one

if __name__ == "__main__":
    serve_one("ingest")

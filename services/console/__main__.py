"""`python -m services.console`: run the console alone (what `vigil serve console` does)."""

from services.cli import serve_one

if __name__ == "__main__":
    serve_one("console")

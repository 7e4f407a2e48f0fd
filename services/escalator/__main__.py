"""`python -m services.escalator`: run the escalator service alone (what `vigil serve escalator` does)."""

from services.cli import serve_one

if __name__ == "__main__":
    serve_one("escalator")

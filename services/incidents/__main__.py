"""`python -m services.incidents`: run the incidents service alone (what `vigil serve incidents` does)."""

from services.cli import serve_one

if __name__ == "__main__":
    serve_one("incidents")

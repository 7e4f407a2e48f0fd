"""`python -m services.slo`: run the SLO service alone (what `vigil serve slo` does)."""

from services.cli import serve_one

if __name__ == "__main__":
    serve_one("slo")

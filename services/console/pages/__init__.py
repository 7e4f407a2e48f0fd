"""The console's pages: one router per part (sign-in, incidents, me)."""

"""Shared logic of the dashboard pages: one concern per module, no page layout here.

Streamlit puts the folder of the entry script (app/) on sys.path, so pages
import these as `lib.<module>`; tests do the same through tests/app/conftest.py.
"""

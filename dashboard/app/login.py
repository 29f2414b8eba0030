"""The login gate: whether a visitor must sign in first, and the page that asks them to."""

from __future__ import annotations

import streamlit as st

from models.settings import Settings


def login_needed(settings: Settings) -> bool:
    return settings.auth.configured and not st.user.is_logged_in


def login_page() -> None:
    st.title("hybrid-finops")
    st.write("Sign in to see the dashboard.")
    st.button("Log in", on_click=st.login, type="primary")


def signed_in(settings: Settings) -> None:
    """Who is signed in, and the way out, atop the sidebar (only when a login is configured)."""
    if settings.auth.configured:
        with st.sidebar:
            st.caption(f"Signed in as {st.user.get('name') or st.user.get('sub')}")
            st.button("Log out", on_click=st.logout)

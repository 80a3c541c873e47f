"""Page chrome shared by every page: page config, the error box, byte formatting."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import streamlit as st

import pets


def page(title: str, icon: str) -> None:
    """Set up a page: wide layout, its title, and the sidebar blurb.

    `icon`: a Streamlit material icon (":material/timer:") or an emoji."""
    st.set_page_config(page_title=f"PetS · {title}", page_icon=icon, layout="wide")
    # Material icons render everywhere; an emoji goes to the browser tab only (headless
    # browsers often lack an emoji font and would draw a box in the heading).
    st.title(f"{icon} {title}" if icon.startswith(":material/") else title)
    st.sidebar.caption(f"PetS workbench {pets.__version__}: many parameter-efficient tasks, "
                       "one shared backbone.")


@contextmanager
def user_errors(prefix: str = "") -> Iterator[None]:
    """Show a `PetsError` raised inside the block as a red message, never a traceback.

    The rest of the block is skipped; the page keeps rendering after it.
    """
    try:
        yield
    except pets.PetsError as e:
        st.error(f"{prefix}{e}", icon="🚫")


def human_bytes(nbytes: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{int(nbytes)} B"

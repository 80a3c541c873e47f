"""PetS workbench dashboard: entry page. Start with `make dashboard` or `pets dashboard`."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from lib.backbones import CHOICES
from lib.state import workspace
from lib.tasks import memory_summary
from lib.ui import human_bytes, page

PAGES = Path(__file__).parent / "pages"
BLURBS = {
    "Tasks": "serve the trained task zoo (MiniLM) or train your own task in the background, "
             "add random PET tasks of any type (or upload task folders and PEFT adapters), see "
             "what each costs in memory, run a sentence under several tasks at once",
    "Replay": "replay a shipped, generated or uploaded request trace against pets, seqs, peft "
              "and base, with live throughput, queue and latency charts and a latency SLO",
    "Scalability": "throughput and memory as the number of tasks grows: pets against one dense "
                   "copy per task (seqs) and HF PEFT",
    "Cluster": "the multi-device balancer simulation: workers, skew, PET migration",
    "Server": "start or watch a `pets serve` HTTP server: live metrics, its tasks, a sentence "
              "classified by several tasks, a load generator run",
}

page("PetS workbench", ":material/hub:")
st.markdown(
    "Many tasks fine-tuned with **parameter-efficient** methods (LoRA, adapters, BitFit, "
    "diff-pruning, MaskBERT) share one pre-trained BERT backbone. PetS serves queries of all "
    "of them in **one batch**: the big shared operators run once over the whole batch, each "
    "task's small PET operators run on its segment. Reimplementation of *PetS* (Zhou et al., "
    "USENIX ATC 2022).")

ws = workspace()
mem = memory_summary(ws.engine)
n = len(ws.engine.tasks)
cols = st.columns([2.2, 1, 1.4, 1.4])  # the backbone's name is long: give it room
cols[0].metric("Backbone", ws.backbone, help=CHOICES[ws.backbone].label)
cols[1].metric("Tasks loaded", n)
# A saving: a green arrow pointing down on PetS's own number (never a red one on a gain).
cols[2].metric("PetS memory", human_bytes(mem["total"]),
               delta=f"-{1 - 1 / mem['saving']:.0%} vs dense copies" if n else None,
               delta_color="inverse")
cols[3].metric("Per-task dense copies", human_bytes(mem["dense_total"]) if n else "none",
               help=f"{mem['saving']:.1f}x what PetS holds" if n else "no tasks loaded yet")

st.subheader("Pages")
for path in sorted(PAGES.glob("[0-9]*_*.py")):
    title = path.stem.split("_", 1)[1].replace("_", " ")
    st.page_link(f"pages/{path.name}", label=f"**{title}**")
    st.caption(BLURBS.get(title, ""))

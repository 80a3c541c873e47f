"""The breakdown bench (Fig. 9) splits batch time into shared and PET operators."""
from __future__ import annotations

from pets.bench import registry
from pets.bench.breakdown import run_breakdown, summary_lines
from pets.viz import breakdown_bars


def test_breakdown_shares():
    df = run_breakdown(registry.config("breakdown", preset="bert-tiny", tasks=4, shapes=((2, 8),),
                                       groups=("bitfit", "mask", "mix"), repeats=1), progress=False)
    assert list(df.group) == ["bitfit", "mask", "mix"]
    assert ((df.pet_share > 0) & (df.pet_share < 1)).all()
    assert (df.pet_ops_s > 0).all() and (df.shared_s > 0).all()
    assert (df.pet_ops_s + df.pet_build_s < df.instrumented_s).all()
    assert len(summary_lines(df)) == 3
    assert [t.name for t in breakdown_bars(df).data] == ["shared operators", "PET operators"]

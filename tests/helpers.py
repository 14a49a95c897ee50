"""Test helpers: reference data, snapshots, and the rule for optional components."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

import supportlab as sl

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(component: str, available: bool, why: str = "") -> None:
    """Skip when an optional component is missing on a laptop; fail under CI=true."""
    if available:
        return
    msg = f"{component} is not available{': ' + why if why else ''}"
    if IN_CI:
        pytest.fail(f"{msg} (CI=true: every component must be installed by .ci/run)")
    pytest.skip(msg)


def require_binary(name: str) -> str:
    path = shutil.which(name)
    require(name, path is not None, "not on PATH")
    return str(path)


PARTNERS = pd.DataFrame({
    "partner_id": ["P1", "P2", "P3"],
    "name": ["株式会社アルファ", "ベータ合同会社", "Gamma Ltd."],
    "rank": ["A", "B", "C"],
    "region": ["関東", "関西", None],
    "joined_at": pd.to_datetime(["2024-04-01", "2026-01-15", "2025-07-01"]),
    "manager": ["tanaka", "suzuki", None],
})

CONTENTS = pd.DataFrame({
    "content_id": ["video-a-intro", "proposal-template-a"],
    "content_type": ["video", "template"],
    "product": ["A", "A"],
    "version": [1, 1],
    "title": ["製品A紹介動画", "提案テンプレート"],
})


def snapshot(w: sl.Workspace) -> dict[str, pd.DataFrame]:
    """Every table's full content, for 'nothing changed' assertions."""
    out = {}
    for t in w.tables():
        df = w.table(t)
        out[t] = df.sort_values(list(df.columns)).reset_index(drop=True) if len(df) else df
    return out


def assert_unchanged(before: dict[str, pd.DataFrame], w: sl.Workspace) -> None:
    after = snapshot(w)
    assert set(before) == set(after)
    for t in before:
        pd.testing.assert_frame_equal(before[t], after[t], check_dtype=False, obj=t)


def simulated_workspace(root: Path, n_partners: int, seed: int) -> sl.Workspace:
    """A new workspace at ``root`` holding a simulated PRM world (the caller closes it)."""
    from supportlab.data.workspace import write_simulation
    from supportlab.sim.simulate import SimulationConfig, simulate_world

    sl.init_workspace(root)
    ws = sl.Workspace.open(root)
    write_simulation(ws, simulate_world(SimulationConfig(n_partners=n_partners, seed=seed)))
    return ws


#: the end of history of :func:`design_workspace` (exclusive): experiments start on it
DESIGN_START = "2026-06-01"

PACKAGE_YAML = """\
id: launch-kit
version: 1
owner: tanaka
title: 製品A 立ち上げ支援
segment: {product: A}
steps:
  - week: 1
    items: [{content: video-a-intro, done_when: video_complete},
            {content: proposal-template-a, done_when: download}]
  - week: 2
    items: [{content: training-a, done_when: training_complete}]
"""

EXPERIMENT_YAML = """\
id: {id}
package: launch-kit@1
design: {{start: {start}, control_share: 0.5, stratify_by: [rank], seed: 11, horizon_days: 60,
         pre_days: 90{design}}}
metrics:
  primary: deals_registered
  secondary: [package_completion]
  guardrails: [{{metric: portal_logins, max_drop: 0.2}}]
decision: {{min_effect: 0.2, alpha: 0.05}}
"""


def design_workspace(root: Path, n_partners: int = 600, seed: int = 5, days: int = 180):
    """A simulated workspace whose history ends the day before :data:`DESIGN_START`, with the
    package ``launch-kit@1`` in ``root/experiments/packages`` (the caller closes it)."""
    import datetime as dt

    from supportlab.data.workspace import write_simulation
    from supportlab.sim.simulate import SimulationConfig, simulate_world

    sl.init_workspace(root)
    ws = sl.Workspace.open(root)
    cfg = SimulationConfig(n_partners=n_partners, seed=seed, days=days,
                           end=dt.date.fromisoformat(DESIGN_START))
    write_simulation(ws, simulate_world(cfg))
    (root / "experiments" / "packages").mkdir(parents=True, exist_ok=True)
    (root / "experiments" / "packages" / "launch-kit.yaml").write_text(PACKAGE_YAML,
                                                                       encoding="utf-8")
    return ws


def write_experiment(root: Path, id: str = "kit-2026q2", start: str = DESIGN_START,
                     design: str = "", text: str | None = None) -> Path:
    """Write ``root/experiments/<id>.yaml`` (``design`` adds keys to the design mapping, e.g.
    ``", method: blocked, block_on: deals_registered"``) and return its path."""
    path = root / "experiments" / f"{id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text is not None
                    else EXPERIMENT_YAML.format(id=id, start=start, design=design),
                    encoding="utf-8")
    return path


def delivered_workspace(root: Path, *, id: str = "kit-2026q2", n_partners: int = 600,
                        effect: float = 1.5, uptake: float = 0.6, design: str = "",
                        title: str | None = None, text: str | None = None) -> Path:
    """A closed simulated workspace at ``root`` with one experiment assigned, its tasks made and
    delivered through the horizon (true effect ``effect`` per completing partner): everything a
    report needs. ``title`` replaces the package title (e.g. a hostile string). Returns the
    experiment file's path."""
    from supportlab.design.simulated import simulate_experiment_delivery
    from supportlab.design.tasks import make_tasks
    from supportlab.sim.delivery import EffectModel

    ws = design_workspace(root, n_partners=n_partners)
    try:
        if title is not None:
            pkg = root / "experiments" / "packages" / "launch-kit.yaml"
            pkg.write_text(PACKAGE_YAML.replace("title: 製品A 立ち上げ支援",
                                                f"title: {json.dumps(title)}"), encoding="utf-8")
        path = write_experiment(root, id=id, design=design, text=text)
        exp = sl.load_experiment(path, root / "experiments" / "packages")
        sl.assign(ws, exp)
        make_tasks(ws, exp)
        simulate_experiment_delivery(ws, exp, effect=EffectModel(base_effect=effect,
                                                                 uptake=uptake))
    finally:
        ws.close()
    return path

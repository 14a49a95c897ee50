"""Commands of the features stage: ``metrics``, ``targets`` and ``score``.

They compute per-partner features in the engine through :mod:`supportlab.features`. Options are
checked before any work (``--out`` file types, dates in the future), and a command that fails
leaves no file and no database behind.
"""

from __future__ import annotations

from pathlib import Path

import click

from supportlab.cli.common import (
    ENGINE_OPTION,
    OUT_SUFFIXES,
    as_of_date,
    check_out_file,
    default_as_of,
    emit_frame,
    open_workspace,
)

__all__ = ["metrics", "score", "targets"]

_OUT_HELP = f"Write the rows to a {', '.join(OUT_SUFFIXES)} file."


@click.command()
@click.option("--as-of", "as_of", help="Date (YYYY-MM-DD): history before it (default: today, "
              "or the day after the latest event if earlier).")
@click.option("--metric", "names", multiple=True, help="Metric names (default: all built-ins).")
@click.option("--lookback-days", default=365, show_default=True, type=click.IntRange(1))
@click.option("--package", "package_ref",
              help="Package (ID or ID@VERSION in experiments/packages) for completion_rate.")
@click.option("--out", help=_OUT_HELP)
@ENGINE_OPTION
@click.pass_context
def metrics(ctx: click.Context, as_of: str | None, names: tuple[str, ...], lookback_days: int,
            package_ref: str | None, out: str | None, engine_kind: str | None) -> None:
    """Compute per-partner metrics as of a date, in the engine.

    completion_rate (支援消化率) and package_completion are computed for the package named
    with --package.
    """
    from supportlab.config.experiment import find_package
    from supportlab.data.engine import connect
    from supportlab.features.metrics import compute_metrics, load_metrics, window_asof

    out_path = check_out_file(out)
    given = as_of_date(as_of)
    with open_workspace(ctx, read_only=True) as ws:
        eng = connect(ws, engine_kind)
        day = given or default_as_of(eng)
        catalogue = load_metrics(ws.config.experiments_path / "metrics.yaml")
        package = (find_package(package_ref, ws.config.experiments_path / "packages")
                   if package_ref else None)
        chosen = list(names) or [n for n, m in catalogue.items()
                                 if m.kind != "package_completion" or package is not None]
        df = compute_metrics(eng, chosen, [window_asof(day, ws.config.timezone, lookback_days)],
                             catalogue=catalogue, package=package)
    emit_frame(df, out_path)


@click.command()
@click.argument("experiment", type=click.Path(dir_okay=False, exists=True))
@click.option("--as-of", "as_of", help="Targeting date (default: the experiment's start).")
@click.option("--out", help=_OUT_HELP)
@click.option("--limit", type=click.IntRange(1), help="Keep the first N.")
@ENGINE_OPTION
@click.pass_context
def targets(ctx: click.Context, experiment: str, as_of: str | None, out: str | None,
            limit: int | None, engine_kind: str | None) -> None:
    """List the ranked eligible partners of EXPERIMENT.yaml, with why each is eligible."""
    from supportlab.config.experiment import load_experiment
    from supportlab.data.engine import connect
    from supportlab.features.metrics import load_metrics
    from supportlab.features.score import score_config
    from supportlab.features.segments import load_segments
    from supportlab.features.targeting import select_targets

    out_path = check_out_file(out)
    day = as_of_date(as_of)
    with open_workspace(ctx, read_only=True) as ws:
        exp = load_experiment(experiment, ws.config.experiments_path / "packages")
        tl = select_targets(connect(ws, engine_kind), exp, as_of=day,
                            catalogue=load_metrics(ws.config.experiments_path / "metrics.yaml"),
                            score_config=score_config(ws), limit=limit,
                            segments=load_segments(ws.config.experiments_path / "segments.yaml"))
        if exp.design.rollout:  # a promoted template's roll-out: who needs it now
            from dataclasses import replace

            from supportlab.design.ledger import already_treated

            treated = set(already_treated(ws, exp, day or exp.design.start)["partner_id"])
            keep = ~tl.frame.index.isin(list(treated))
            if not keep.all():
                click.echo(f"roll-out: {int((~keep).sum()):,} eligible partner(s) already "
                           f"treated by {exp.package.id} are left out: they have it already")
                tl = replace(tl, frame=tl.frame[keep], n_eligible=int(keep.sum()))
    click.echo(str(tl))
    emit_frame(tl.frame, out_path, what="targets",
               first=("priority_rank", "name", "rank", "support_score", "why"))


@click.command()
@click.option("--as-of", "as_of", help="Date (YYYY-MM-DD) of the score (default: today, or the "
              "day after the latest event if earlier).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports/score",
              show_default=True, help="Directory for support_score_<date>.csv/.parquet.")
@click.option("--no-snapshot", is_flag=True,
              help="Do not keep a dated snapshot (the change since the last one is still shown).")
@ENGINE_OPTION
@click.pass_context
def score(ctx: click.Context, as_of: str | None, out_dir: str, no_snapshot: bool,
          engine_kind: str | None) -> None:
    """Compute the support score (支援スコア) of every partner and export it for dashboards.

    Writes CSV (UTF-8 with BOM, opens correctly in Excel) and Parquet with the change of each
    partner's score since the last snapshot, and keeps a dated snapshot in the workspace so
    that the next run can show movements (unless --no-snapshot).
    """
    from supportlab.data.engine import connect
    from supportlab.features.score import export_scores, save_snapshot, score_config, score_movement
    from supportlab.features.score import support_score as compute_score

    given = as_of_date(as_of)
    with open_workspace(ctx, read_only=no_snapshot) as ws:
        eng = connect(ws, engine_kind)
        day = given or default_as_of(eng)
        sc = compute_score(eng, day, score_config(ws))
        names = ws.query("SELECT partner_id, name FROM partners").set_index("partner_id")["name"]
        if no_snapshot:
            change = score_movement(ws, day, scores=sc)
        else:
            save_snapshot(ws, day, sc)
            change = score_movement(ws, day)
        sc["change_since_last_snapshot"] = change.reindex(sc.index)
        root = Path(out_dir) if Path(out_dir).is_absolute() else ws.config.root / out_dir
        paths = export_scores(sc, root, day, names)
    q = sc["support_score"].quantile([0.1, 0.5, 0.9])
    click.echo(f"support score as of {day}: {len(sc):,} partners, median {q[0.5]:.1f} "
               f"(10%: {q[0.1]:.1f}, 90%: {q[0.9]:.1f})")
    for p in paths:
        click.echo(f"wrote {p}")

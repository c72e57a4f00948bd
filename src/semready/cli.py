"""``semready``: a thin typer shell over :mod:`semready.api`.

Every user mistake is a :class:`~semready.errors.SemreadyError`: printed as one line, exit code 2, no
traceback unless ``--debug``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from semready.errors import SemreadyError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make raw source data semantic-ready: learnable vs memorizable, by contrastive learning.")
console = Console(stderr=True)
_state = {"debug": False}

DataOpt = Annotated[str, typer.Option("--data", help="data spec: sample | npz:PATH | cifar10:ROOT[:test] | "
                                      "cifar100:ROOT[:test] | folder:PATH | bytes:PATH:RECORD_SIZE")]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    _state["debug"] = debug


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", help="run directory to create")],
    data: Annotated[str | None, typer.Option("--data", help="data spec, as for the other commands (default: the "
                                             "--config file's, else sample)")] = None,
    preset: Annotated[str, typer.Option(help="quick (CPU-sized) | paper")] = "auto",
    config: Annotated[Path | None, typer.Option("--config", help="YAML file overriding the preset")] = None,
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    clusters: Annotated[int | None, typer.Option("--clusters", min=2, help="M, number of deep clusters")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda[:N]")] = None,
    image_size: Annotated[int | None, typer.Option("--image-size", min=8)] = None,
    download: Annotated[bool, typer.Option("--download", help="let cifar10:/cifar100: download")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="continue the run in --out")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars")] = False,
) -> None:
    """Train the contrastive teacher (eq. 2-4) and write samples.csv and clusters.csv."""
    from semready import api

    overrides: dict[str, Any] = {}  # only what was given on the command line overrides the --config file
    _put(overrides, "data", "spec", data)
    _put(overrides, "data", "download", True if download else None)
    _put(overrides, "data", "image_size", image_size)
    _put(overrides, "train", "epochs", epochs)
    _put(overrides, "train", "seed", seed)
    _put(overrides, "train", "device", device)
    _put(overrides, "model", "clusters", clusters)
    cfg = None if resume else api.build_config(api.resolve_preset(preset), config, overrides)

    def show(row: dict) -> None:
        if not quiet:
            flag = " [red]COLLAPSED[/red]" if row["collapsed"] else ""
            console.print(f"epoch {row['epoch']:>3} loss {row['loss']:.3f} L_I {row['l_i']:.3f} L_D {row['l_d']:.3f} "
                          f"anti {row['anti_collapse']:.3f} H {row['marginal_entropy']:.2f} "
                          f"{row['images_per_s']:.0f} img/s{flag}", highlight=False)

    result = api.train(out, cfg, resume=resume, epochs=epochs if resume else None,
                            progress=not quiet, on_epoch=show)
    if result.get("rank", 0):  # under torchrun, rank 0 reports
        return
    typer.echo(f"trained {result['epochs']} epochs in {result['seconds'] / 60:.1f} min -> {out}: "
               f"{result['items']} items, {result['learnable']} learnable, {result['memorizable']} memorizable; "
               f"cluster sizes {result['cluster_sizes']}")


@app.command()
def split(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    policy: Annotated[str, typer.Option(help="confidence (value = learnability floor) | budget (value = "
                                        "memorizable fraction) | complexity (value = "
                                        "Γ̂ budget, nats per item)")] = "confidence",
    value: Annotated[float, typer.Option(help="the policy's value: in [0, 1], or nats per item for complexity")
                     ] = 0.5,
    score: Annotated[str | None, typer.Option(help="learnability score: regen | paper "
                                              "(the paper's confidence ranking); default: keep the run's")] = None,
) -> None:
    """Split a trained run into learnable X_l and memorizable X_m by a policy; rewrites the CSVs."""
    from semready import api

    r = api.split(run, policy, value, score)
    typer.echo(f"{r['score']} score, {policy} {value}: {r['learnable']} learnable, {r['memorizable']} "
               f"memorizable of {r['items']} (learnability threshold {r['threshold']:.4f})")


@app.command()
def route(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    batch_size: Annotated[int, typer.Option(min=1)] = 512,
    download: Annotated[bool, typer.Option("--download")] = False,
) -> None:
    """Stream new data through a trained teacher, batch by batch, into a CSV."""
    from semready import api

    n = api.route(run, data, out, batch_size=batch_size, download=download)
    typer.echo(f"routed {n} items -> {out}")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    data: DataOpt = "sample",
    download: Annotated[bool, typer.Option("--download")] = False,
) -> None:
    """ACC (Hungarian) / NMI / ARI against the labels of --data; writes RUN/metrics.json."""
    from semready import api

    result = api.evaluate(run, data, download=download)
    table = Table(title=f"{run} on {data} ({result['items']} items)")
    for col in ("method", "ACC", "NMI", "ARI"):
        table.add_column(col)
    for name in ("cluster_head", "kmeans_features"):
        if name in result:
            r = result[name]
            table.add_row(name, f"{r['acc']:.3f}", f"{r['nmi']:.3f}", f"{r['ari']:.3f}")
    Console().print(table)


@app.command()
def report(
    path: Annotated[Path, typer.Argument(help="a run directory, or a reproduction folder (fig2_*.png, results.csv)")],
) -> None:
    """Write PATH/report.html: one self-contained page (images embedded) telling the run's story."""
    from semready import api

    with console.status("building the report..."):
        out = api.report(path)
    typer.echo(f"report -> {out}")


@app.command()
def simulate(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    data: Annotated[str | None, typer.Option("--data", help="data to send (default: the run's own held-out "
                                                            "items)")] = None,
    scheme: Annotated[list[str] | None, typer.Option("--scheme", help="all, classical, vanilla or "
                                                     "disentangled (repeatable)")] = None,
    fidelity: Annotated[float | None, typer.Option("--fidelity", help="PSNR target (dB) at the receiver")] = None,
    codec: Annotated[str | None, typer.Option("--codec", help="classical codec: png, jpeg, webp, best, zlib, "
                                              "lzma")] = None,
    rate: Annotated[float | None, typer.Option("--rate", help="link rate R (bit/s)")] = None,
    payload: Annotated[int | None, typer.Option("--payload", help="packet payload (bytes)")] = None,
    packet_loss: Annotated[float | None, typer.Option("--packet-loss", help="packet erasure probability")] = None,
) -> None:
    """Teacher -> link -> apprentice for the classical, vanilla and disentangled schemes; writes RUN/kpis.json."""
    from semready import api

    overrides = {"fidelity_psnr_db": fidelity, "classical_codec": codec, "rate_bps": rate, "payload_bytes": payload,
                 "packet_loss": packet_loss}
    with console.status("simulating (building languages, coding, sending)..."):
        kpis = api.simulate(run, data, scheme or ["all"], overrides,
                              on_scheme=lambda name, _: console.print(f"  {name} done"))
    console.print(api.kpi_table(kpis))
    typer.echo(f"KPIs -> {api.RunDir(run).kpis}")


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option("--out", help="directory for results.csv, figures and report.md")],
    preset: Annotated[str, typer.Option(help="quick (CPU-sized) | paper")] = "quick",
    seeds: Annotated[int, typer.Option(help="seeds per level")] = 3,
    items: Annotated[int, typer.Option(help="items per stream (lowered to what the content pools hold)")] = 2000,
    minutes: Annotated[float, typer.Option(help="teacher training budget per job (minutes)")] = 2.0,
    image_size: Annotated[int, typer.Option("--image-size", help="item side (the language needs <= 32)")] = 16,
    content: Annotated[list[str] | None, typer.Option("--content", help="labelled data spec whose classes are "
                                                      "content elements (repeatable; default: sample)")] = None,
    levels: Annotated[int, typer.Option(help="content-complexity levels")] = 6,
    workers: Annotated[int, typer.Option(help="jobs run at once (processes)")] = 2,
    config: Annotated[Path | None, typer.Option("--config", help="YAML overriding the preset for every job")] = None,
) -> None:
    """The paper's Fig. 2, Fig. 3 and headline numbers: a sweep over content complexity (resumable)."""
    from semready import api

    def show(job: dict, done: int, total: int) -> None:
        console.print(f"  job {done}/{total}: {job['level']['name']} seed {job['seed']} "
                      f"(H_c {job['content_complexity_nats']:.2f} nats) in {job['job_seconds'] / 60:.1f} min")

    summary = api.reproduce(out, preset=preset, seeds=seeds, items=items, minutes=minutes, image_size=image_size,
                        content=content, levels=levels, workers=workers, config_file=config, on_job=show)
    for line in summary["shapes"]:
        console.print(f"  {line}")
    typer.echo(f"reproduced in {summary['wall_seconds_total'] / 60:.1f} min (this call "
               f"{summary['wall_seconds'] / 60:.1f}) -> {api.SweepDir(out).report_md}")


def _put(d: dict, section: str, key: str, value: Any) -> None:
    if value is not None:
        d.setdefault(section, {})[key] = value


def _error(message: str) -> None:
    console.print(f"[bold red]error:[/bold red] {' '.join(message.split())}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _click_exception() -> type[Exception]:
    """click's ClickException as this typer raises it (typer >= 0.2x vendors click as ``typer._click``)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> None:
    try:
        app(argv, standalone_mode=False, prog_name="semready")
    except SemreadyError as exc:
        if _state["debug"]:
            raise
        _error(str(exc))
    except KeyboardInterrupt:
        console.print("interrupted: the last completed epoch is checkpointed; continue with --resume")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except OSError as exc:  # the disk or the OS refused: permissions, a full or read-only disk, ...
        if _state["debug"]:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}: check the path, its permissions and free disk space")
    except Exception as exc:  # click usage errors: a bad option value, an unknown command or option
        if _state["debug"] or not isinstance(exc, _click_exception()):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        _error(f"{exc.format_message().rstrip('.')}; see `{ctx.command_path if ctx else 'semready'} --help`")


if __name__ == "__main__":
    main()


__all__ = ["app", "main"]

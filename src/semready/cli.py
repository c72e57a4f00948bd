"""``semready``: a thin typer shell over :mod:`semready.api`.

Every user mistake is a :class:`~semready.errors.SemreadyError`: printed as one line, exit code 2, no
traceback unless ``--debug``. The choices of ``--policy``, ``--score``, ``--preset``, ``--scheme``, ``--codec``,
``--split``, ``--to``, ``--channel``, ``--modulation`` and ``--language`` come from the modules that define them
(through :mod:`semready.api`, which reads them without importing torch), so ``--help`` and a wrong choice answer
at once, and the shell can complete them.
"""

from __future__ import annotations

import re
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from semready import api
from semready.errors import SemreadyError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make raw source data semantic-ready: learnable vs memorizable, by contrastive learning.")
console = Console(stderr=True)


def _print_wide(table) -> None:
    """A wide table at the terminal's width, or 200 columns into a log or pipe (80 would cut every label)."""
    (console if console.is_terminal else Console(stderr=True, width=200)).print(table)
_state = {"debug": False}

DataOpt = Annotated[str, typer.Option("--data", help="data spec: sample | npz:PATH | cifar10:ROOT[:test] | "
                                      "cifar100:ROOT[:test] | folder:PATH | bytes:PATH:RECORD_SIZE")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="no progress bars (also off when stderr is not a terminal)")]


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of ``values``: typer turns it into a checked choice with shell completion."""
    return Enum(name, {v: v for v in values}, type=str)  # type: ignore[return-value]


Policy = _choices("Policy", api.POLICIES)
Score = _choices("Score", api.SCORES)
Preset = _choices("Preset", ("auto", *api.PRESETS))
Scheme = _choices("Scheme", ("all", *api.SCHEMES))
Codec = _choices("Codec", api.CODECS)
SplitName = _choices("SplitName", api.SPLITS)
Target = _choices("Target", api.EXPORT_TARGETS)
Channel = _choices("Channel", api.CHANNELS)
Modulation = _choices("Modulation", api.MODULATIONS)
Language = _choices("Language", api.LANGUAGES)
# what each choice is called in its one-line error
_CHOICE_NOUNS = {"--policy": "split policy", "--score": "learnability score", "--preset": "preset",
                 "--scheme": "scheme", "--codec": "classical codec", "--split": "split", "--to": "export target",
                 "--channel": "channel", "--modulation": "modulation", "--language": "language"}


def _device(value: str) -> str:
    try:
        return api.check_device(value)
    except SemreadyError as exc:
        raise typer.BadParameter(str(exc)) from None


DeviceOpt = Annotated[str | None, typer.Option(
    "--device", parser=_device, metavar="|".join(api.DEVICES), help="where the teacher runs: auto (a GPU when "
    "visible) | cpu | cuda | cuda:N | mps", autocompletion=lambda: [d for d in api.DEVICES if d != "cuda:N"])]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"semready {api.__version__}")
        raise typer.Exit()


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
          version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print the version and exit")] = False) -> None:
    _state["debug"] = debug


def _progress(quiet: bool) -> bool:
    return not quiet  # progress_bars itself stays off where stderr is not a terminal


def _warn(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {message}", highlight=False, soft_wrap=True)


def _warn_empty_split(result: dict, run: Path) -> None:
    if result.get("memorizable") == 0:
        _warn(f"the memorizable split X_m is empty (all {result['items']} items learnable): memorize some with "
              f"`semready split {run} --policy budget --value 0.1`")


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", help="run directory to create")],
    data: Annotated[str | None, typer.Option("--data", help="data spec, as for the other commands (default: the "
                                             "--config file's, else sample)")] = None,
    preset: Annotated[Preset, typer.Option(help="quick (CPU-sized) | paper | auto (paper with a GPU)")] = "auto",
    config: Annotated[Path | None, typer.Option("--config", help="YAML file overriding the preset")] = None,
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    clusters: Annotated[int | None, typer.Option("--clusters", min=2, help="M, number of deep clusters")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    device: DeviceOpt = None,
    image_size: Annotated[int | None, typer.Option("--image-size", min=8)] = None,
    download: Annotated[bool, typer.Option("--download", help="let cifar10:/cifar100: download")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="continue the run in --out")] = False,
    sets: Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="override one config "
                                                   "setting by its dotted key, e.g. --set train.lr=0.1 "
                                                   "(repeatable; docs/config.md)")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Train the contrastive teacher (eq. 2-4) and write samples.csv and clusters.csv."""
    # only what was given on the command line overrides the --config file; named options win over --set
    overrides: dict[str, Any] = api.parse_sets(sets or [])
    for section, key, value in (("data", "spec", data), ("data", "download", True if download else None),
                                ("data", "image_size", image_size), ("train", "epochs", epochs),
                                ("train", "seed", seed), ("train", "device", device), ("model", "clusters", clusters)):
        _put(overrides, section, key, value)
    cfg = None if resume else api.build_config(api.resolve_preset(preset.value), config, overrides)
    # shown once training has started (its first epoch), so that a refused input still answers in one line
    pending = api.config_warnings(cfg) if cfg is not None else []

    def show(row: dict) -> None:
        while pending:
            _warn(pending.pop(0))
        if not quiet:
            flag = " [red]COLLAPSED[/red]" if row["collapsed"] else ""
            console.print(f"epoch {row['epoch']:>3} loss {row['loss']:.3f} L_I {row['l_i']:.3f} L_D {row['l_d']:.3f} "
                          f"anti {row['anti_collapse']:.3f} H {row['marginal_entropy']:.2f} "
                          f"{row['images_per_s']:.0f} img/s{flag}", highlight=False)

    result = api.train(out, cfg, resume=resume, epochs=epochs if resume else None,
                       progress=_progress(quiet), on_epoch=show)
    if result.get("rank", 0):  # under torchrun, rank 0 reports
        return
    typer.echo(f"trained {result['epochs']} epochs in {result['seconds'] / 60:.1f} min -> {out}: "
               f"{result['items']} items, {result['learnable']} learnable, {result['memorizable']} memorizable; "
               f"cluster sizes {result['cluster_sizes']}")
    _warn_empty_split(result, out)


@app.command()
def split(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    policy: Annotated[Policy, typer.Option(help="confidence (value = learnability floor) | budget (value = "
                                           "memorizable fraction) | complexity (value = Γ̂ budget, nats per item) | "
                                           "cluster-budget / cluster-floor (the paper's rule: whole least "
                                           "confident clusters, value = fraction / floor on C_l)")
                      ] = api.DEFAULT_POLICY,
    value: Annotated[float, typer.Option(help="the policy's value: a fraction in (0, 1), a floor in [0, 1], or "
                                         "nats per item for complexity")] = api.DEFAULT_FLOOR,
    score: Annotated[Score | None, typer.Option(help="learnability score: teacher (default) | regen | paper "
                                                "(the paper's item confidence); default: keep the run's")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Split a trained run into learnable X_l and memorizable X_m by a policy; the previous split is kept in
    RUN/splits/<n>/."""
    r = api.split(run, policy.value, value, score.value if score else None, progress=_progress(quiet))
    rule = f"learnability threshold {r['threshold']:.4f}" if r["threshold"] is not None else \
        f"learnable clusters {r['learnable_clusters']}"
    typer.echo(f"{r['score']} score, {policy.value} {value}: {r['learnable']} learnable, {r['memorizable']} "
               f"memorizable of {r['items']} ({rule})"
               + (f"; previous split kept in {r['archived']}" if r.get("archived") else ""))
    _warn_empty_split(r, run)


@app.command()
def route(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
    batch_size: Annotated[int, typer.Option(min=1)] = 512,
    download: Annotated[bool, typer.Option("--download")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Stream new data through a trained teacher, batch by batch, into a CSV (index, id, path, cluster, ...)."""
    n = api.route(run, data, out, batch_size=batch_size, download=download, progress=_progress(quiet))
    typer.echo(f"routed {n} items -> {out}")


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    data: Annotated[str | None, typer.Option("--data", help="labelled data spec (default: the run's own data, "
                                                            "from its config.yaml)")] = None,
    download: Annotated[bool, typer.Option("--download")] = False,
    quiet: QuietOpt = False,
) -> None:
    """ACC (Hungarian) / NMI / ARI against the labels of --data; writes RUN/metrics.json."""
    result = api.evaluate(run, data, download=download, progress=_progress(quiet))
    table = Table(title=f"{run} on {result['data']} ({result['items']} items)")
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
    with console.status("building the report..."):
        out = api.report(path)
    typer.echo(f"report -> {out}")


@app.command()
def simulate(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    data: Annotated[str | None, typer.Option("--data", help="data to send (default: the run's own held-out "
                                                            "items)")] = None,
    scheme: Annotated[list[Scheme] | None, typer.Option("--scheme", help="all, classical, vanilla or "
                                                        "disentangled (repeatable)")] = None,
    fidelity: Annotated[float | None, typer.Option("--fidelity", help="PSNR target (dB) at the receiver")] = None,
    codec: Annotated[Codec | None, typer.Option(
        "--codec", help="classical codec: best (default: the smallest of png/jpeg/webp meeting --fidelity) | png "
        "(lossless) | jpeg | webp | jpeg2000 | avif | zlib | lzma")] = None,
    rate: Annotated[float | None, typer.Option("--rate", help="link rate R (bit/s)")] = None,
    payload: Annotated[int | None, typer.Option("--payload", help="packet payload (bytes)")] = None,
    packet_loss: Annotated[float | None, typer.Option("--packet-loss", help="packet erasure probability")] = None,
    channel: Annotated[Channel | None, typer.Option("--channel", help="a physical channel under the packets")] = None,
    snr: Annotated[float | None, typer.Option("--snr-db", help="Es/N0 (dB), -10..40")] = None,
    modulation: Annotated[Modulation | None, typer.Option("--modulation", help="Gray-mapped")] = None,
    language: Annotated[Language | None, typer.Option("--language", help="the semantic path's language")] = None,
    sweep: Annotated[str | None, typer.Option("--snr-sweep", metavar="DB,DB,..", help="also sweep Es/N0 (dB)")] = None,
    controls: Annotated[bool, typer.Option("--controls", help="also send the same items split by an untrained "
                                                              "teacher, no teacher and at random (slower)")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Teacher -> link -> apprentice for the classical, vanilla and disentangled schemes; writes RUN/kpis.json."""
    overrides = {"fidelity_psnr_db": fidelity, "classical_codec": codec.value if codec else None, "rate_bps": rate,
                 "payload_bytes": payload, "packet_loss": packet_loss, "channel": channel and channel.value,
                 "snr_db": snr, "modulation": modulation and modulation.value, "language": language and language.value}
    kpis = api.simulate(run, data, [s.value for s in scheme or []] or ["all"], overrides,
                        on_scheme=lambda name, _: console.print(f"  {name} done"), progress=_progress(quiet),
                        controls=("all",) if controls else (), snr_sweep=sweep)
    _print_wide(api.kpi_table(kpis))
    if "snr_sweep" in kpis:
        _print_wide(api.sweep_table(kpis["snr_sweep"]))
    typer.echo(f"KPIs -> {api.RunDir(run).kpis}")


@app.command()
def rd(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    targets: Annotated[str, typer.Option(help="PSNR targets (dB), comma-separated, 2 or more")] = "26,30,34,38",
    codec: Annotated[list[Codec] | None, typer.Option("--codec", help="classical codecs (repeatable)")] = None,
    items: Annotated[int | None, typer.Option(help="send only the first N held-out items")] = None,
    learned: Annotated[bool, typer.Option("--learned", help="also the learned language (trains 2 codecs)")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Rate–distortion: bits/item vs PSNR per codec and language scheme, BD-rates; writes RUN/rd.json."""
    r = api.rd_sweep(run, targets, [c.value for c in codec or []] or None, items, learned=learned,
                     progress=_progress(quiet))
    for table in api.rd_tables(r):
        _print_wide(table)
    typer.echo(f"rate-distortion -> {api.RunDir(run).rd}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="a new folder: the demo stream and its run")] = Path("runs/demo"),
    epochs: Annotated[int | None, typer.Option(help="teacher epochs (default: the quick preset's)")] = None,
    quiet: QuietOpt = False,
) -> None:
    """The system on one stream: the embedded sample with noise and scrambled items mixed in → teacher → split →
    classical / vanilla / disentangled schemes → report.html."""
    r = api.demo(out, epochs=epochs, progress=_progress(quiet), say=typer.echo)
    _print_wide(api.kpi_table(r["kpis"]))
    typer.echo(f"report: {r['report']}")


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option("--out", help="directory for results.csv, figures and report.md")],
    preset: Annotated[Preset, typer.Option(help="quick (CPU-sized) | paper")] = "quick",
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
    def show(job: dict, done: int, total: int) -> None:
        console.print(f"  job {done}/{total}: {job['level']['name']} seed {job['seed']} "
                      f"(H_c {job['content_complexity_nats']:.2f} nats) in {job['job_seconds'] / 60:.1f} min")

    summary = api.reproduce(out, preset=api.resolve_preset(preset.value), seeds=seeds, items=items, minutes=minutes,
                            image_size=image_size, content=content, levels=levels, workers=workers,
                            config_file=config, on_job=show)
    for line in summary["shapes"]:
        console.print(f"  {line}")
    typer.echo(f"reproduced in {summary['wall_seconds_total'] / 60:.1f} min (this call "
               f"{summary['wall_seconds'] / 60:.1f}) -> {api.SweepDir(out).report_md}")


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="a trained run directory")],
    out: Annotated[Path, typer.Option("--out", help="the new folder or file to write (must not exist)")],
    split: Annotated[SplitName | None, typer.Option("--split", help="the items to export (with --embeddings: "
                                                                    "only these; default all)")] = None,
    to: Annotated[Target, typer.Option("--to", help="folder: one PNG per item named <id>.png | npz: x, id, "
                                                     "path, index[, y] | list: one 'id<TAB>path' line per "
                                                     "item")] = "folder",
    embeddings: Annotated[bool, typer.Option("--embeddings", help="write the teacher's embeddings of the run's "
                                                                  "items as an N×d .npy file instead")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Export a run's learnable or memorizable items (folder of PNGs, npz, list), or its items' embeddings."""
    if embeddings:
        r = api.export_embeddings(run, out, split.value if split else None, progress=_progress(quiet))
        typer.echo(f"exported {r['items']} embeddings ({r['dim']} dimensions) -> {out}")
        return
    if split is None:
        raise SemreadyError("export needs --split learnable or --split memorizable: pass one (or --embeddings "
                            "for the teacher's embeddings)")
    r = api.export_split(run, split.value, out, to.value, progress=_progress(quiet))
    typer.echo(f"exported {r['items']} {split.value} items ({to.value}) -> {out}")


def _put(d: dict, section: str, key: str, value: Any) -> None:
    if value is not None:
        d.setdefault(section, {})[key] = value


def _error(message: str) -> None:
    console.print(f"[bold red]error:[/bold red] {escape(' '.join(message.split()))}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _click_exception() -> type[Exception]:
    """click's ClickException as this typer raises it (typer >= 0.2x vendors click as ``typer._click``)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _bad_choice(exc: Exception) -> str | None:
    """A wrong choice (``--policy vibes``) as 'unknown split policy 'vibes': choose one of ...', else None."""
    param = getattr(exc, "param", None)
    found = re.search(r"'(.*)' is not one of (.*?)\.?$", str(getattr(exc, "message", "")))
    if not (found and getattr(param, "opts", None)):
        return None
    noun = _CHOICE_NOUNS.get(param.opts[0], param.opts[0])
    names = re.findall(r"'([^']*)'", found.group(2))
    return f"unknown {noun} {found.group(1)!r}: choose one of {', '.join(names)}"


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
        choice = _bad_choice(exc)
        if choice:
            _error(choice)
        _error(f"{exc.format_message().rstrip('.')}; see `{ctx.command_path if ctx else 'semready'} --help`")


if __name__ == "__main__":
    main()


__all__ = ["app", "main"]

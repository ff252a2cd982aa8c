"""The ``scopix`` command line (``pip install 'scopix[cli]'``).

Configuration comes from the same ``SCOPIX_*`` environment variables as ``Scopix.from_env()``
(``--api-key`` and ``--base-url`` override them). Exit codes scripts can rely on:

    0  everything worked
    1  the command ran, but some files failed (upload) or the file's processing failed
    2  bad usage or configuration (a missing key, a malformed variable, an unknown option,
       nothing to upload: an empty folder)
    3  the API refused the request (authentication, not found, validation, quota)
    4  the API could not be reached, or a wait ran out of time
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

try:
    import click
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.table import Table
except ImportError as missing:  # pragma: no cover - only without the extra
    raise SystemExit(
        f"the scopix command needs the 'cli' extra ({missing.name} is missing): "
        "pip install 'scopix[cli]'"
    ) from None

import anyio

from ._client import Scopix
from ._config import ClientConfig
from ._convert import jsonable
from ._exceptions import ScopixConnectionError, ScopixError, ScopixTimeoutError
from .resources._batch import expand
from .types.chat import ChatTokenType
from .types.events import FileCompleteEvent, UploadProgressEvent
from .types.upload import BatchUploadResults

__all__ = ["main"]

T = TypeVar("T")
OK, SOME_FAILED, USAGE, REFUSED, UNREACHABLE = 0, 1, 2, 3, 4

err = Console(stderr=True)
out = Console()


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(code)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _client(ctx: click.Context) -> Scopix:
    overrides = {k: v for k, v in ctx.obj.items() if v is not None}
    if "api_key" not in overrides and not os.environ.get("SCOPIX_API_KEY", "").strip():
        # (the SDK's own message is advice for Python code: api_key=..., load_dotenv())
        _fail(
            "no API key: run `export SCOPIX_API_KEY=scopix_...` first, or pass "
            "--api-key scopix_... (for your own server, `scopix-server keys create` makes one)",
            USAGE,
        )
    try:
        return Scopix.from_config(ClientConfig.from_env(**overrides))
    except (ValueError, TypeError) as error:
        # the hint only where the problem is the key, not the URL or a timeout
        about_key = "api key" in str(error).lower() or "SCOPIX_API_KEY" in str(error)
        hint = " (set SCOPIX_API_KEY, or pass --api-key)" if about_key else ""
        _fail(f"{error}{hint}", USAGE)


def _route_hint(ctx: click.Context, error: ScopixError) -> str:
    """A 404 naming no route means the base URL misses the API's path (/api/v2)."""
    message = str(error)
    if getattr(error, "status_code", None) != 404 or "No route" not in message:
        return ""
    base = (ctx.obj.get("base_url") or os.environ.get("SCOPIX_BASE_URL") or "").rstrip("/")
    if base and not base.endswith("/api/v2"):
        return (
            f"; the base URL {base!r} lacks the API path: use --base-url {base}/api/v2 "
            f"(or export SCOPIX_BASE_URL={base}/api/v2)"
        )
    return "; check the base URL (it ends with /api/v2)"


def _run(ctx: click.Context, work: Callable[[Scopix], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` with a client; API failures become messages and exit codes."""

    async def main() -> T:
        async with _client(ctx) as client:
            return await work(client)

    try:
        return anyio.run(main)
    except (ScopixConnectionError, ScopixTimeoutError) as error:
        _fail(str(error), UNREACHABLE)
    except ScopixError as error:
        _fail(f"{error}{_route_hint(ctx, error)}", REFUSED)


def _print_json(value: Any) -> None:
    # (jsonable: nested dataclasses, enums and datetimes as JSON, never as Python reprs)
    click.echo(json.dumps(jsonable(value), indent=2, default=str))


EPILOG = """\b
Configuration: the SCOPIX_* environment variables (SCOPIX_API_KEY, SCOPIX_BASE_URL,
SCOPIX_TIMEOUT, ...), as Scopix.from_env() reads them.

\b
Exit codes:
  0  everything worked
  1  it ran, but some files failed (upload) or the processing failed
  2  bad usage or configuration (no key, a malformed variable, an unknown option,
     nothing to upload)
  3  the API refused the request (authentication, not found, validation, quota)
  4  the API could not be reached, or a wait ran out of time
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.option("--api-key", help="API key (default: $SCOPIX_API_KEY).")
@click.option("--base-url", help="API base URL (default: $SCOPIX_BASE_URL or the hosted API).")
@click.version_option(package_name="scopix")
@click.pass_context
def main(ctx: click.Context, api_key: str | None, base_url: str | None) -> None:
    """Upload files to Scopix and read their descriptions, tags and OCR text."""
    ctx.obj = {"api_key": api_key, "base_url": base_url}


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--wait", is_flag=True, help="Wait until every file is processed.")
@click.option("--tag", "tags", multiple=True, help="A tag for every file (repeatable).")
@click.option("--title", help="A title for every file.")
@click.option("--skip-duplicates", is_flag=True, help="Do not store bytes the tenant has.")
@click.option("--no-describe", is_flag=True, help="Store only; no description.")
@click.option("--category", default="general", show_default=True, help="content_category.")
@click.option("--recursive/--no-recursive", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def upload(
    ctx: click.Context,
    paths: tuple[Path, ...],
    wait: bool,
    tags: tuple[str, ...],
    title: str | None,
    skip_duplicates: bool,
    no_describe: bool,
    category: str,
    recursive: bool,
    as_json: bool,
) -> None:
    """Upload files and directories (exit code 1 if any file failed)."""
    try:
        sources, ignored = expand([*paths], recursive=recursive, include_hidden=False)
    except (OSError, TypeError, ValueError) as error:
        _fail(str(error), USAGE)
    total_files = len(sources)
    if not sources:
        skipped = f" ({_plural(len(ignored), 'unsupported file')} left out)" if ignored else ""
        where = ", ".join(str(p) for p in paths)
        more = "" if recursive else "; --recursive reads subfolders"
        _fail(f"nothing to upload in {where}{skipped}{more}", USAGE)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=as_json or not err.is_terminal,
    )
    sizes: dict[int, int] = {}
    done = 0

    async def work(client: Scopix) -> BatchUploadResults:
        with progress:
            task = progress.add_task(
                f"0/{_plural(total_files, 'file')}", total=sum(s.size or 0 for s in sources) or None
            )

            def on_progress(event: UploadProgressEvent) -> None:
                sizes[event.file_index] = event.uploaded_bytes
                progress.update(task, completed=sum(sizes.values()))

            def on_file_complete(_event: FileCompleteEvent) -> None:
                nonlocal done
                done += 1
                label = f"{done}/{_plural(total_files, 'file')}"
                if wait and done == total_files:
                    # the bytes are sent; --wait now waits for descriptions and OCR
                    label += " sent; processing (descriptions, OCR)..."
                progress.update(task, description=label)

            return await client.files.upload_batch(
                [*paths],
                recursive=recursive,
                title=title,
                tags=list(tags) or None,
                auto_describe=not no_describe,
                skip_duplicates=skip_duplicates,
                content_category=category,
                wait=wait,
                on_progress=on_progress,
                on_file_complete=on_file_complete,
            )

    results = _run(ctx, work)
    if as_json:
        _print_json(
            {
                "summary": results.summary(),
                "succeeded": results.succeeded_count,
                "failed": results.failed_count,
                "skipped": results.skipped_count,
                "pending": results.pending_count,
                "ignored": results.ignored,
                "results": [r.to_dict() for r in results],
            }
        )
    else:
        _summary_table(results)
    sys.exit(SOME_FAILED if results.has_failures else OK)


def _summary_table(results: BatchUploadResults) -> None:
    table = Table(title=f"{_plural(len(results), 'file')}: {results.summary()}")
    table.add_column("outcome")
    table.add_column("files", justify="right")
    for name, count in [
        ("succeeded", results.succeeded_count),
        ("failed", results.failed_count),
        ("skipped (duplicates)", results.skipped_count),
        ("still processing", results.pending_count),
    ]:
        if count or name in ("succeeded", "failed"):
            table.add_row(name, str(count))
    out.print(table)
    if results.failed():
        failures = Table(title="failures")
        failures.add_column("file")
        failures.add_column("type")
        failures.add_column("retry may help")
        failures.add_column("reason", overflow="fold")
        for result in results.failed():
            failures.add_row(
                result.filename,
                result.description_error_type or "-",
                "yes" if result.description_is_retryable else "no",
                result.description_error or "-",
            )
        out.print(failures)
    if results.ignored:
        out.print(
            f"{_plural(len(results.ignored), 'unsupported file')} left out: {results.ignored[:3]}"
        )
    files = Table(title="files")
    files.add_column("id", no_wrap=True, min_width=36)  # whole: pasted into `scopix get`
    files.add_column("file", overflow="fold")
    files.add_column("status")
    for result in results:
        state = result.description_status.value if result.image_id else "failed"
        files.add_row(result.image_id or "-", result.filename, state)
    if len(results):
        out.print(files)


@main.command()
@click.argument("file_id")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, file_id: str, as_json: bool) -> None:
    """Where a file's processing stands."""
    result = _run(ctx, lambda client: client.files.get_processing_status(file_id))
    if as_json:
        _print_json(result.to_dict(exclude_none=False))
    else:
        out.print(
            f"{result.file_id}: {result.status}, description {result.description_status.value}"
            + (" (terminal)" if result.is_terminal else "")
        )
        if result.description_error:
            out.print(f"error ({result.description_error_type}): {result.description_error}")
        for provider in result.provider_errors:
            out.print(
                f"[yellow]provider {provider.get('provider')} failed[/] "
                f"({provider.get('error_type')}): {provider.get('message')}; described without it",
                highlight=False,
            )
    failed = result.status == "failed" or result.description_status.value == "failed"
    sys.exit(SOME_FAILED if failed else OK)


@main.command()
@click.argument("file_id")
@click.option("--json", "as_json", is_flag=True, help="Print the details as JSON.")
@click.pass_context
def get(ctx: click.Context, file_id: str, as_json: bool) -> None:
    """A file's details: description, tags, OCR text."""
    details = _run(ctx, lambda client: client.files.get(file_id))
    if as_json:
        _print_json(details.to_dict())
        return
    out.print(f"[bold]{details.filename}[/]  {details.media_type}  {details.size_bytes:,} bytes")
    out.print(f"description ({details.description_status.value}): {details.description or '-'}")
    out.print(f"tags: {', '.join(details.tags) or '-'}")
    if details.visible_text:
        out.print(f"text: {details.visible_text}")


@main.command(name="ls")
@click.option("--search", help="Words to find (filename, title, description, tags, text).")
@click.option("--tag", "tags", multiple=True, help="Only files with this tag (repeatable).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="Print the page as JSON.")
@click.pass_context
def list_files(
    ctx: click.Context,
    search: str | None,
    tags: tuple[str, ...],
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List files, newest first."""
    page = _run(
        ctx,
        lambda client: client.files.list(
            search=search, tags=list(tags) or None, limit=limit, offset=offset
        ),
    )
    if as_json:
        _print_json(page.to_dict())
        return
    rows = [
        (
            item.id,
            item.filename,
            item.media_type or "-",
            item.description_status.value,
            f"{item.created_at:%Y-%m-%d %H:%M}" if item.created_at else "-",
        )
        for item in page.items
    ]
    if not out.is_terminal:
        # piped: whole values, one file a line, tab-separated (cut -f1 gives the ids)
        for row in rows:
            click.echo("\t".join(row))
        return
    table = Table(title=_plural(page.total_count, "file"))
    table.add_column("id", no_wrap=True, min_width=36)  # never cut: ids are pasted into `get`
    for column in ("filename", "type", "description", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    out.print(table)


@main.command()
@click.argument("query")
@click.option("--documents", is_flag=True, help="Search passages of documents, not images.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 500))
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "semantic", "lexical"]),
    help="How to rank (default: the server's, hybrid).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def search(
    ctx: click.Context, query: str, documents: bool, limit: int, mode: str | None, as_json: bool
) -> None:
    """Find images (or document passages) by what they mean, best first."""
    if documents:
        found_documents = _run(
            ctx, lambda client: client.agent_search.documents(query, limit=limit, mode=mode)
        )
        if as_json:
            _print_json(found_documents.to_dict())
            return
        rows = [
            (
                f"{item.score:.3f}",
                item.document_id,
                item.document_filename,
                ",".join(map(str, item.page_numbers or [])) or "-",
                " ".join(item.text.split())[:160],
            )
            for item in found_documents.results
        ]
        _ranked(rows, ("score", "document id", "filename", "pages", "passage"), found_documents)
        return
    found_images = _run(
        ctx, lambda client: client.agent_search.images(query, limit=limit, mode=mode)
    )
    if as_json:
        _print_json(found_images.to_dict())
        return
    image_rows = [
        (
            f"{item.score:.3f}",
            item.image_id,
            item.filename or "-",
            item.matched or "-",
            item.thumbnail_url or "-",
        )
        for item in found_images.results
    ]
    _ranked(image_rows, ("score", "image id", "filename", "matched", "thumbnail"), found_images)


def _ranked(rows: Sequence[tuple[str, ...]], columns: tuple[str, ...], found: Any) -> None:
    if not out.is_terminal:  # piped: one result a line, tab-separated (cut -f2 gives the ids)
        for row in rows:
            click.echo("\t".join(row))
        return
    table = Table(title=f"{found.summary} {found.execution_time_ms} ms")
    for column in columns:
        table.add_column(
            column, no_wrap=column.endswith(" id"), min_width=36 if column.endswith(" id") else None
        )
    for row in rows:
        table.add_row(*row)
    out.print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the quota as JSON.")
@click.pass_context
def quota(ctx: click.Context, as_json: bool) -> None:
    """The tenant's upload quota and limits."""
    info = _run(ctx, lambda client: client.files.check_quota(1))
    if as_json:
        _print_json(info.to_dict(exclude_none=False))
        return
    if _unlimited(info.monthly_limit):
        out.print(f"used {info.current_usage:,} this month; unlimited")
        return
    left = "unlimited" if _unlimited(info.available) else f"{info.available:,}"
    out.print(f"used {info.current_usage:,} of {info.monthly_limit:,} this month; {left} left")


def _unlimited(value: int) -> bool:
    # an unlimited tier reports no limit (0 or less) or the largest 32-bit integer
    return value <= 0 or value >= 2**31 - 1


@main.command()
@click.argument("file_id")
@click.option("--wait", is_flag=True, help="Wait for the new description.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def describe(ctx: click.Context, file_id: str, wait: bool, as_json: bool) -> None:
    """Describe a file again (exit code 1 if, with --wait, the description failed)."""

    async def work(client: Scopix) -> Any:
        started = await client.files.describe(file_id)
        return await client.files.wait_for_description(file_id) if wait else started

    result = _run(ctx, work)
    if as_json:
        _print_json(result.to_dict(exclude_none=False))
    else:
        out.print(f"{file_id}: description {result.description_status.value}")
    sys.exit(SOME_FAILED if result.description_status.value == "failed" else OK)


def _file_link(ctx: click.Context, file_id: str) -> str:
    """The file's page in the server's web console, where the base URL shows where it is."""
    base = (ctx.obj.get("base_url") or os.environ.get("SCOPIX_BASE_URL") or "").rstrip("/")
    if base.endswith("/api/v2"):
        return f"{base[: -len('/api/v2')]}/#/files/{file_id}"
    return ""


def _citations(ctx: click.Context, citations: Sequence[dict[str, Any]]) -> None:
    if not citations:
        return
    # (plain lines, never wrapped: ids and links stay whole for copying and for scripts)
    click.echo("\nCited:")
    for number, cited in enumerate(citations, 1):
        pages = cited.get("pages") or []
        where = f" pages {','.join(map(str, pages))}" if pages else ""
        link = _file_link(ctx, str(cited.get("file_id")))
        click.echo(
            f"  [{number}] {cited.get('filename')} ({cited.get('media_type')}{where}) "
            f"{cited.get('file_id')}" + (f"  {link}" if link else "")
        )


async def _turn(ctx: click.Context, client: Scopix, session_id: str, question: str) -> bool:
    """One question, its answer printed as it streams, then what it cites; False on error."""
    ok = True
    async for token in client.chats.send_stream(question, session_id=session_id):
        if token.type is ChatTokenType.TOKEN and token.content:
            sys.stdout.write(token.content)
            sys.stdout.flush()
        elif token.type is ChatTokenType.STATUS and token.content and out.is_terminal:
            err.print(f"[dim]{token.content}[/]", highlight=False)
        elif token.type is ChatTokenType.ERROR:
            message = token.data.get("message") or token.content or "the answer failed"
            err.print(f"[bold red]error:[/] {message}", highlight=False)
            ok = False
        elif token.type is ChatTokenType.COMPLETE:
            sys.stdout.write("\n")
            _citations(ctx, token.data.get("citations") or [])
    return ok


@main.command()
@click.argument("question", required=False)
@click.option("--session", "session_id", help="Go on with this session (default: a new one).")
@click.option("--image", "images", multiple=True, help="Pin an image id (repeatable).")
@click.option("--document", "documents", multiple=True, help="Pin a document id (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Ask QUESTION; print the answer as JSON.")
@click.pass_context
def chat(
    ctx: click.Context,
    question: str | None,
    session_id: str | None,
    images: tuple[str, ...],
    documents: tuple[str, ...],
    as_json: bool,
) -> None:
    """Ask about your library: QUESTION once, or, without it, a conversation (an empty line or
    Ctrl-D ends it). Answers stream as they come, then the files they cite (ids and links)."""
    if as_json and not question:
        _fail("--json needs a QUESTION", USAGE)

    async def work(client: Scopix) -> bool:
        ident = session_id
        if ident is None:
            created = await client.chats.create_session(
                title=question[:60] if question else None, image_ids=list(images) or None
            )
            ident = created.session_id
            if out.is_terminal and not as_json:
                err.print(f"[dim]session {ident}[/]", highlight=False)
        elif images:
            await client.chats.update_images(ident, list(images))
        if documents:
            await client.chats.update_documents(ident, list(documents))
        if as_json:
            assert question is not None
            _print_json((await client.chats.send(question, session_id=ident)).to_dict())
            return True
        if question:
            return await _turn(ctx, client, ident, question)
        ok = True
        while True:
            try:
                asked = await anyio.to_thread.run_sync(lambda: input("you> "))
            except EOFError:
                break
            if not asked.strip():
                break
            ok = await _turn(ctx, client, ident, asked) and ok
        return ok

    sys.exit(OK if _run(ctx, work) else SOME_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()

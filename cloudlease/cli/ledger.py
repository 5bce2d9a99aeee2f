"""``cloudlease ledger dump|backup|resolve|migrate|schema``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cloudlease.cli.common import STATE, Result, command, ctx

app = typer.Typer(help="The ledger itself: snapshots, backups, migration, repairs.",
                  no_args_is_help=True)


@command(app, "dump")
def dump(
    fmt: Annotated[str, typer.Option("--format", "-f", help="toml or json.",
                                     metavar="[toml|json]")] = "toml",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to this file instead of stdout.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output.")
                     ] = False,
) -> Result:
    """Write every record as a readable, diffable snapshot.

    One table per record, in a stable order.

    Example: cloudlease ledger dump -o ledger-$(date +%F).toml
    """
    from cloudlease.ops.invoicing import write_output
    from cloudlease.ops.ledgertools import dump as do_dump

    text = do_dump(ctx(), fmt)
    if output is not None:
        write_output(output, text, force=force)
        return Result({"written": str(output), "format": fmt,
                       "message": f"wrote {output}"})
    if STATE.json_mode:
        return Result({"format": fmt, "content": text})
    return Result({"content": text}, "document")


@command(app, "backup")
def backup(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write the copy.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing FILE.")
                     ] = False,
) -> Result:
    """Take an online copy of the ledger as a SQLite file.

    Works from SQLite or PostgreSQL; the copy verifies on its own.

    Example: cloudlease ledger backup /backups/ledger-$(date +%F).db
    """
    from cloudlease.ops.ledgertools import backup as do_backup

    out = do_backup(ctx(), file, force=force)
    out["message"] = (f"backed up {out['audit_entries']:,} audit entries to {out['file']} "
                      f"({out['bytes']:,} bytes)")
    return Result(out)


@command(app, "resolve")
def resolve(
    accept: Annotated[bool, typer.Option(
        "--accept", help="Record edited rows as they are now (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the edits are accepted.")] = None,
) -> Result:
    """After a change made outside cloudlease: clear it, or accept it with a reason.

    Clears the change once it was reverted; --accept records the rows as they are now, with
    the reason, in the audit chain.

    Example: cloudlease ledger resolve --accept --reason "fixed a typo in an e-mail"
    """
    from cloudlease.ops.ledgertools import resolve as do_resolve

    res = do_resolve(ctx(), accept=accept, reason=reason)
    done = res.reverted + res.accepted
    msg = ("nothing to resolve: no change outside cloudlease is logged" if not done else
           f"resolved: {len(res.reverted)} reverted, {len(res.accepted)} accepted")
    return Result({"reverted": res.reverted, "accepted": res.accepted, "message": msg})


@command(app, "migrate")
def migrate(
    check: Annotated[bool, typer.Option(
        "--check", help="Verify the first-format ledger and say what would move; write "
        "nothing.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Migrate even if the old ledger fails verification (recorded in "
        "the new audit chain).")] = False,
) -> Result:
    """Move a home from ledger.toml to ledger.db (done on first use anyway).

    Example: cloudlease ledger migrate --check
    """
    from cloudlease.ops.ledgertools import migrate as do_migrate

    out = do_migrate(ctx(), check=check, force=force)
    if "message" not in out:
        verb = "would migrate" if check else "migrated"
        out["message"] = (f"{verb} {out['leases']:,} leases and {out['requests']:,} payment "
                          f"requests ({out['records']:,} records)"
                          + (f"; old files in {out['moved_to']}/" if out.get("moved_to")
                             else ""))
    return Result(out)


@command(app, "schema")
def schema_() -> Result:
    """Print the SQL schema of the ledger (the tables operators may query).

    Example: cloudlease ledger schema
    """
    from cloudlease.ops.ledgertools import schema_ddl

    out = schema_ddl(STATE.context(create_default=False))
    if STATE.json_mode:
        return Result(out)
    return Result({"content": out["ddl"]}, "document")

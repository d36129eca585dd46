"""Starting the app (`make run`, `nerloop serve`): the address Streamlit will listen on is checked before it starts,
and a server reachable from other machines without an admin account is refused there and then."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from core import access, paths, users
from core.store import Store

APP = paths.APP_DIR / "app.py"
FLAG = "--server.address"
ENV = "STREAMLIT_SERVER_ADDRESS"


def config_files(app: Path = APP) -> tuple[Path, ...]:
    """Streamlit's config files in the order it reads them (a later one wins): the user's, then the app's own."""
    return Path.home() / ".streamlit" / "config.toml", app.parent / ".streamlit" / "config.toml"


def address(args: Sequence[str], environ: Mapping[str, str] = os.environ,
            configs: Sequence[Path] = config_files()) -> str | None:
    """The server.address Streamlit will use, by its own precedence: the last --server.address flag in `args`, else
    $STREAMLIT_SERVER_ADDRESS, else the last config file that sets it; None (every interface) when nothing does."""
    chosen = None
    for i, arg in enumerate(args):
        if arg.startswith(FLAG + "="):
            chosen = arg.split("=", 1)[1]
        elif arg == FLAG and i + 1 < len(args):
            chosen = args[i + 1]
    if chosen is not None:
        return chosen
    if ENV in environ:
        return environ[ENV]
    for file in reversed(configs):
        if file.is_file():
            try:
                server = tomllib.loads(file.read_text(encoding="utf-8")).get("server", {})
            except tomllib.TOMLDecodeError as e:
                raise ValueError(f"{file}: {e}") from None
            if "address" in server:
                return str(server["address"])
    return None


def refusal(address: str | None, store: Store) -> str | None:
    """Why a server on `address` must not serve (it reaches beyond this machine and no admin account exists), or
    None. The app says the same at a visit when it was started without this check (`streamlit run app.py`)."""
    if access.local_address(address) or users.has_admin(store):
        return None
    return (f"refusing to serve on {address or 'every network interface'}: a server reachable from other machines "
            "needs at least one admin account (`nerloop users add NAME --role admin`); without accounts nerloop "
            "listens on 127.0.0.1 only")


def start_note(address: str | None, store: Store) -> str:
    """What the server will be, said once at start."""
    count = len(store.users())
    accounts = f"{count} account{'' if count == 1 else 's'}"
    where = address or "every network interface"
    if access.local_address(address):
        return (f"serving on {where} (this machine only); "
                + (f"{accounts}, log in required" if count else "single-user, no login"))
    return (f"serving on {where}, reachable from other machines: {accounts}, log in required; put it behind "
            "a reverse proxy with TLS (docs/teams.md, 'A team deployment')")


def run(args: Sequence[str]) -> None:
    """Replace this process with `streamlit run app.py ARGS` from the app's folder, so that its own
    .streamlit/config.toml applies wherever nerloop was started; a relative data folder or database keeps its meaning."""
    for name in ("NERLOOP_HOME", "NERLOOP_DB"):
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())
    os.chdir(APP.parent)
    os.execv(sys.executable, [sys.executable, "-m", "streamlit", "run", str(APP), *args])

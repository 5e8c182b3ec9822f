"""The review queue for a team: each analyst signs in as themselves, and ``vax review-app`` (Voilà).

:func:`review_session` is what ``notebooks/02-review-queue.ipynb`` calls.  In
JupyterLab (``sign_in = False``) it opens the ledger URL of the parameters
cell at once.  In the web app (``sign_in = True``) it first shows a sign-in
form: the login and password typed there open *that analyst's own*
PostgreSQL connection, so

* every decision is recorded under the database role (``current_user``),
  never a typed or shared name;
* row-level security limits the ledger to the role's provinces, and the
  tables come from what the operator published into the same database
  (``vax ledger publish``, :mod:`vaxlib.review.published`), read as that
  role: the page never holds another province's records, and neither does a
  hand-edited notebook, which can only ask the database what its role may read.
  The run folder is not read at all (its files are the operator's).

The password travels only over the widget channel to this kernel (put the app
behind TLS for anything but 127.0.0.1), is not kept after the connection is
open, and nothing about a sign-in (name, password, reason it failed) is
logged.

:func:`serve` (``vax review-app``, ``make review``) writes the notebook with
its parameters filled in (``sign_in = True``, no data folder, the ledger's
address *without* credentials) into a private temporary folder and serves it
with Voilà on 127.0.0.1.  Voilà runs one kernel per browser page and accepts
only widget messages from the page, never code, so an analyst cannot run
their own queries through the app.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ipywidgets as W

from vaxlib import i18n as _i18n
from vaxlib.errors import CommandError
from vaxlib.runs import die_with_parent

__all__ = ["ReviewSession", "review_session", "credentials_url", "serve", "app_notebook"]

log = logging.getLogger(__name__)

#: seconds a failed sign-in waits before the form answers (slows password guessing)
FAILED_SIGN_IN_DELAY = 1.0


def _t(key: str, lang: str, **kw: Any) -> str:
    return _i18n.t(f"team.{key}", lang, **kw)


def credentials_url(ledger_url: str, user: str, password: str) -> str:
    """``ledger_url`` (a ``postgresql://`` address without credentials) with ``user:password@`` put in."""
    scheme, sep, rest = ledger_url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise CommandError.say("app_needs_pg_url")
    host = rest.split("/", 1)[0]
    if "@" in host:
        raise CommandError.say("app_url_has_login")
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


def _scope_text(scope: tuple[str, ...] | None, lang: str) -> str:
    if scope is None:
        return _t("scope_all", lang)
    from vaxlib.widgets import _province_label

    return _t("scope_some", lang, provinces=", ".join(_province_label(p) for p in scope))


class ReviewSession:
    """The review notebook's state: the sign-in, the scoped tables, the review and feedback panels.

    Attributes
    ----------
    widget
        What the review cell shows: the sign-in form, then the review panel.
    feedback_box
        What the feedback cell shows (filled once the tables are loaded).
    ledger, workspace, panel, feedback
        Set once signed in (at once without ``sign_in``).
    """

    def __init__(self, data_dir: str | os.PathLike[str], ledger_url: str, *, analyst: str = "analyst",
                 lang: str = "vi", status: str = "review", create_ledger: bool = False, sign_in: bool = False):
        _i18n.check_lang(lang)
        self.data_dir, self.ledger_url, self.lang, self.status = data_dir, ledger_url, lang, status
        self.ledger: Any = None
        self.workspace: Any = None
        self.panel: Any = None
        self.feedback: Any = None
        self.widget = W.VBox()
        self.widget.add_class("vax-review-session")
        self.feedback_box = W.VBox()
        self.signed_in = W.HTML()
        self.signed_in.add_class("vax-signed-in")
        if sign_in:
            self._build_form()
        else:
            from vaxlib.review.ledger import Ledger

            self.start(Ledger.open(ledger_url, create=create_ledger), analyst)

    # ------------------------------------------------------------ sign-in
    def _build_form(self) -> None:
        lang = self.lang
        wide = {"description_width": "9em"}
        self.user = W.Text(description=_t("login_user", lang), style=wide, layout=W.Layout(width="26em"))
        self.password = W.Password(description=_t("login_password", lang), style=wide,
                                   layout=W.Layout(width="26em"))
        self.button = W.Button(description=_t("login_button", lang), button_style="primary", icon="sign-in")
        self.message = W.HTML()
        for w, name in ((self.user, "user"), (self.password, "password"), (self.button, "button")):
            w.add_class(f"vax-login-{name}")
        self.button.on_click(lambda _: self.sign_in(self.user.value, self.password.value))
        self.form = W.VBox([W.HTML(f"<h3>{_t('login_title', lang)}</h3><p>{_t('login_intro', lang)}</p>"),
                            self.user, self.password, self.button, self.message],
                           layout=W.Layout(border="1px solid #90caf9", padding="10px", width="34em"))
        self.form.add_class("vax-login")
        self.widget.children = [self.form]

    def _refuse(self, key: str, **kw: Any) -> bool:
        self.message.value = f"<span style='color:#b71c1c'>{_t(key, self.lang, **kw)}</span>"
        self.button.disabled = False
        return False

    def sign_in(self, user: str, password: str) -> bool:
        """Open the ledger as ``user``; on success load that role's provinces and show the panel."""
        from vaxlib.review.ledger import Ledger, LedgerBackendError, LedgerError

        user = (user or "").strip()
        self.password.value = ""  # never kept in the page's widget state
        if not user or not password:
            return self._refuse("login_failed")
        self.button.disabled = True
        self.message.value = ""
        try:
            ledger = Ledger.open(credentials_url(self.ledger_url, user, password))
        except LedgerBackendError as exc:
            text = str(exc)
            log.warning("review app: a sign-in failed")  # no name, no reason: nothing personal in logs
            time.sleep(FAILED_SIGN_IN_DELAY)
            bad_login = "authentication" in text or ("role" in text and "does not exist" in text)
            return self._refuse("login_failed" if bad_login else "login_unreachable")
        except LedgerError:
            log.warning("review app: a sign-in failed")
            time.sleep(FAILED_SIGN_IN_DELAY)
            return self._refuse("login_unreachable")
        scope = ledger.scope()
        if scope == ():
            who = ledger.identity()
            ledger.close()
            return self._refuse("login_no_scope", user=who)
        self.message.value = f"<i>{_t('loading', self.lang, scope=_scope_text(scope, self.lang))}</i>"
        try:
            self.start(ledger, ledger.identity())
        except LedgerError:  # nothing published yet (or the read refused): say so, keep the form
            ledger.close()
            self.ledger = None
            return self._refuse("not_published")
        return True

    # ------------------------------------------------------------ the panels
    def start(self, ledger: Any, analyst: str) -> None:
        """Load the tables ``ledger``'s role may see and build the review and feedback panels."""
        from vaxlib.widgets import feedback_panel, review_panel
        from vaxlib.workspace import load_feedback, load_workspace

        self.ledger = ledger
        scope = ledger.scope()
        # a team (PostgreSQL) ledger: the tables come from the database as this role, never from files
        self.workspace = ws = load_workspace(self.data_dir, scope=scope, ledger=ledger)
        self.panel = review_panel(ws.vaccinations, ws.matches, ws.candidates, ledger, analyst, self.lang,
                                  registry=ws.registry, status=self.status)
        queue, messages = load_feedback(self.data_dir, scope=scope,
                                        record_ids=set(ws.vaccinations["record_id"].astype(str)), ledger=ledger)
        self.feedback = feedback_panel(queue, self.panel, self.lang, messages=messages) \
            if queue is not None else None
        self.feedback_box.children = [self.feedback.widget] if self.feedback is not None else [
            W.HTML(_t("no_feedback", self.lang))]
        who = ledger.identity()
        if who is not None:
            self.signed_in.value = (f"<span style='color:#1b5e20'>"
                                    f"{_t('signed_in', self.lang, user=who, scope=_scope_text(scope, self.lang))}"
                                    f"</span>")
        self.widget.children = [self.signed_in, self.panel.widget]

    def summary(self) -> str:
        """Progress and the ledger check as text ("" before sign-in)."""
        from vaxlib.review.ledger import LedgerError

        if self.panel is None:
            return ""
        try:
            check = self.ledger.verify().describe(self.lang)
        except LedgerError as exc:  # an analyst's role sees only its provinces' events: no whole-chain check
            check = exc.message(self.lang)
        return f"{self.panel.summary()}\n{check}"

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a frontend
        from IPython.display import display

        display(self.widget)


def review_session(data_dir: str | os.PathLike[str], ledger_url: str, *, analyst: str = "analyst",
                   lang: str = "vi", status: str = "review", create_ledger: bool = False,
                   sign_in: bool = False) -> ReviewSession:
    """The review queue of the notebook (see :class:`ReviewSession` and the module docstring)."""
    return ReviewSession(data_dir, ledger_url, analyst=analyst, lang=lang, status=status,
                         create_ledger=create_ledger, sign_in=sign_in)


# --------------------------------------------------------------------------- vax review-app

def app_notebook(folder: Path, ledger_url: str, lang: str, status: str) -> Path:
    """Write the review notebook with the app's parameters injected (papermill's form) into ``folder``."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from vaxlib.config import NOTEBOOKS_DIR

    source = NOTEBOOKS_DIR / "02-review-queue.ipynb"
    nb = load_notebook_node(str(source))
    # data_dir is empty: the app reads the published queue from the database, never a run folder
    nb = parameterize_notebook(nb, {"data_dir": "", "ledger_url": ledger_url, "create_ledger": False,
                                    "analyst": "", "lang": lang, "status": status, "sign_in": True},
                               kernel_name="python3", language="python")
    path = folder / source.name
    nbformat.write(nb, path)
    return path


def _check_app_ledger(url: str) -> None:
    if not str(url).startswith(("postgresql://", "postgres://")):
        raise CommandError.say("app_needs_pg")
    credentials_url(url, "x", "x")  # refuses a login in the URL


def voila_command(notebook: Path, port: int) -> list[str]:
    """The Voilà command line: 127.0.0.1 only, no browser, no sources, no tracebacks in the page."""
    return [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1", "--strip_sources=True", "--VoilaConfiguration.show_tracebacks=False",
            "--theme=light"]


def serve(ledger_url: str, *, port: int = 8866, lang: str = "vi", status: str = "review",
          extra_args: Sequence[str] = ()) -> int:
    """Serve the review queue with Voilà until interrupted (``vax review-app``); returns Voilà's exit code.

    The app reads no run folder: each signed-in analyst's queue comes from what
    the operator published into the team database (``vax ledger publish``).
    """
    _check_app_ledger(ledger_url)
    _i18n.check_lang(lang)
    folder = Path(tempfile.mkdtemp(prefix="vax-review-app-"))  # 0700: the notebook names the ledger's address
    try:
        nb = app_notebook(folder, ledger_url, lang, status)
        print(_i18n.t("cli.app_serving", lang, port=port), flush=True)
        # Voilà gets SIGTERM (and shuts its kernels down) even if vax itself is killed
        proc = subprocess.Popen([*voila_command(nb, port), *extra_args], cwd=folder,
                                preexec_fn=lambda: die_with_parent(signal.SIGTERM))
        # SIGTERM to vax stops Voilà too (it then shuts its kernels down), never an orphaned server
        previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            return proc.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""The review queue and the error explorer as ipywidgets.

Each view is built by a function returning a small object of named widgets
(:func:`review_panel` -> :class:`ReviewPanel`, :func:`explore_panel` ->
:class:`ExplorePanel`); the callbacks call the library —
:class:`vaxlib.review.ledger.Ledger` for every decision,
:mod:`vaxlib.review.clusters` for clusters and drill-down,
:func:`vaxlib.match.explain.waterfall_figure` and :mod:`vaxlib.plots` for the
figures — so tests drive a panel in plain Python (``panel.accept.click()``)
and check the ledger and the widgets' state.

Personal data: ID numbers are shown masked (``0791******89``) unless the
analyst presses *Hiện số giấy tờ* for the record on screen; nothing personal
is logged.  Wording comes from :mod:`vaxlib.i18n` (Vietnamese by
default, ``lang="en"`` for English).
"""
from __future__ import annotations

import difflib
import html
import logging
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np
import pandas as pd

from vaxlib.cells import cell_text
from vaxlib import i18n as _i18n
from vaxlib.privacy import mask_id  # noqa: F401 - part of this module's API
from vaxlib.review.labels import (
    NO_CODE,
    action_label,
    check_lang,
    error_label,
    status_label,
    ui_label,
)

__all__ = [
    "mask_id",
    "highlight_diff",
    "display_dob",
    "display_sex",
    "ReviewFilters",
    "EditForm",
    "ReviewPanel",
    "review_panel",
    "ExplorePanel",
    "explore_panel",
    "records_html",
    "clusters_html",
    "clusters_table",
    "ThresholdExplorer",
    "threshold_explorer",
    "SHORTCUTS",
]

log = logging.getLogger(__name__)

#: button -> Alt+key shortcut (digits: the same keys in both languages and on any keyboard layout)
SHORTCUTS: dict[str, str] = {"accept": "1", "reject": "2", "edit": "3", "defer": "4", "undo": "u",
                             "next": "n", "prev": "p", "reveal": "h"}

_FIELDS = ("full_name", "dob", "sex", "id_number")
_FIELD_KEYS = {"full_name": "name", "dob": "dob", "sex": "sex", "id_number": "id"}
#: the record fields an analyst edits, worded by vaxlib.i18n (``review.field_<name>``)
_FIELD_LABELS = frozenset(("full_name", "dob", "sex", "id_number"))
_MARK_DEL = "background:#ffcc80;color:#000;border-radius:2px;padding:0 1px"
_MARK_INS = "background:#a5d6a7;color:#000;border-radius:2px;padding:0 1px"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEXT_STYLE = "font-family:Noto Sans,DejaVu Sans,Arial,sans-serif;font-size:15px"


def _t(key: str, lang: str, /, **kw: Any) -> str:
    return _i18n.t(f"review.{key}", lang, **kw)


def _field_label(field: str, lang: str) -> str:
    return _i18n.t(f"review.field_{field}", lang)


# --------------------------------------------------------------------------- text helpers

def _masked_positions(text: str, keep_start: int = 4, keep_end: int = 2) -> set[int]:
    masked = mask_id(text, keep_start=keep_start, keep_end=keep_end)
    return {i for i, (a, b) in enumerate(zip(text, masked)) if a != b or (b == "*" and a != "*")}


def highlight_diff(typed: str | None, register: str | None, *, mask: bool = False) -> tuple[str, str]:
    """HTML of two values with the characters that differ highlighted.

    Both texts are NFC-normalised first, so a precomposed ``ễ`` is one
    character and a wrong or missing diacritic highlights exactly that letter.
    Characters of ``typed`` that are replaced or missing in ``register`` are
    marked orange; characters of ``register`` that differ are marked green.
    With ``mask=True`` (ID numbers) the middle characters are shown as ``*``
    — a highlighted ``*`` tells that a hidden digit differs without showing it.
    """
    a = unicodedata.normalize("NFC", cell_text(typed))
    b = unicodedata.normalize("NFC", cell_text(register))
    hide_a = _masked_positions(a) if mask else set()
    hide_b = _masked_positions(b) if mask else set()

    def render(text: str, hidden: set[int], lo: int, hi: int, style: str | None) -> str:
        chars = "".join("*" if i in hidden else html.escape(text[i]) for i in range(lo, hi))
        if not chars:
            return ""
        return f'<mark style="{style}">{chars}</mark>' if style else chars

    out_a: list[str] = []
    out_b: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        marked = op != "equal"
        out_a.append(render(a, hide_a, i1, i2, _MARK_DEL if marked else None))
        out_b.append(render(b, hide_b, j1, j2, _MARK_INS if marked else None))
    return "".join(out_a), "".join(out_b)


def display_dob(iso: str | None) -> str:
    """Register date ``1990-03-05`` as Vietnamese users type it: ``05/03/1990`` (partial: ``03/1990``, ``1990``)."""
    text = cell_text(iso)
    parts = text.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return f"{parts[2]}/{parts[1]}/{parts[0]}"
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return f"{parts[1]}/{parts[0]}"
    return text


def display_sex(code: str | None, lang: str = "vi") -> str:
    """``M``/``F`` -> ``Nam``/``Nữ`` (``Male``/``Female``)."""
    text = cell_text(code)
    if text == "M":
        return _t("male", lang)
    if text == "F":
        return _t("female", lang)
    return text


def _parse_sex(text: str) -> str | None:
    from vaxlib.vn.sex import parse_sex  # the one implementation (no fallback copy)

    return parse_sex(text)


def _province_label(code: str) -> str:
    from vaxlib.vn.provinces import BY_GSO

    p = BY_GSO.get(code)
    return f"{code} · {p.name}" if p else (code or "?")


# --------------------------------------------------------------------------- keyboard

def _accesskey_widget(keys: Mapping[str, str]) -> W.DOMWidget | None:
    """An invisible anywidget that puts ``accesskey`` attributes on the panel's buttons.

    ipywidgets has no accesskey trait; this sets the HTML attribute (and
    ``aria-keyshortcuts``) on every element carrying the CSS class named in
    ``keys``, also on buttons rendered later.  Browsers then click a button on
    Alt+key (Chromium, Firefox on Linux/Windows).  None without anywidget.
    """
    try:
        import anywidget
        import traitlets
    except ImportError:  # pragma: no cover - anywidget is a dependency
        return None

    class AccessKeys(anywidget.AnyWidget):
        _esm = """
        function apply(keys) {
          for (const [cls, key] of Object.entries(keys)) {
            for (const el of document.querySelectorAll('.' + cls)) {
              const b = el.tagName === 'BUTTON' ? el : el.querySelector('button');
              if (b && b.getAttribute('accesskey') !== key) {
                b.setAttribute('accesskey', key);
                b.setAttribute('aria-keyshortcuts', 'Alt+' + key.toUpperCase());
              }
            }
          }
        }
        export default {
          render({ model, el }) {
            const keys = model.get('shortcuts');
            let pending = false;
            const obs = new MutationObserver(() => {
              if (pending) return;
              pending = true;
              requestAnimationFrame(() => { pending = false; apply(keys); });
            });
            obs.observe(document.body, { childList: true, subtree: true });
            apply(keys);
            return () => obs.disconnect();
          }
        };
        """
        shortcuts = traitlets.Dict().tag(sync=True)

    return AccessKeys(shortcuts=dict(keys), layout=W.Layout(width="0px", height="0px"))


# --------------------------------------------------------------------------- review panel

@dataclass
class ReviewFilters:
    """The filter dropdowns of the review queue (``value`` ``""`` means all)."""

    province: W.Dropdown
    facility: W.Dropdown
    error: W.Dropdown
    cluster: W.Dropdown
    status: W.Dropdown

    def all(self) -> tuple[W.Dropdown, ...]:
        return (self.province, self.facility, self.error, self.cluster, self.status)


@dataclass
class EditForm:
    """The analyst's edit form; values are validated by :func:`vaxlib.review.ledger.validate_edit`."""

    full_name: W.Text
    dob: W.Text
    sex: W.Dropdown
    id_number: W.Text
    save: W.Button
    cancel: W.Button
    title: W.HTML
    error: W.HTML
    box: W.VBox
    preview: W.HTML

    def values(self) -> dict[str, str]:
        """Non-empty fields as typed."""
        out = {}
        for f in _FIELDS:
            v = cell_text(getattr(self, f).value).strip()
            if v:
                out[f] = v
        return out


class RegisterSearch:
    """Search the register by name, date of birth and province, to link an unmatched record by hand.

    Names compare without diacritics, case or spacing (``nguyen van a``
    finds ``Nguyễn Văn A``); the date accepts ``dd/mm/yyyy`` or a year.
    Results show ID numbers masked.  ``on_link(person_id)`` is called when
    the analyst presses *Ghép với người này*.
    """

    LIMIT = 20

    def __init__(self, registry: pd.DataFrame, lang: str, on_link: Callable[[str], None]) -> None:
        from vaxlib.vn.text import fold_key

        self.lang = lang
        self._registry = registry
        self._folded = registry["full_name"].astype(str).map(fold_key)
        self._on_link = on_link
        wide = {"description_width": "initial"}
        provinces = sorted(p for p in registry.get("province_code", pd.Series(dtype=str)).dropna().astype(str).unique() if p)
        self.name = W.Text(description=_t("search_name", lang), style=wide, layout=W.Layout(width="22em"))
        self.dob = W.Text(description=_t("search_dob", lang), placeholder="dd/mm/yyyy", style=wide,
                          layout=W.Layout(width="16em"))
        self.province = W.Dropdown(options=[(_t("all", lang), "")] + [(_province_label(p), p) for p in provinces],
                                   value="", description=ui_label("province", lang), style=wide)
        self.find = W.Button(description=_t("search_find", lang), icon="search", layout=W.Layout(width="auto"))
        self.results = W.Select(options=[], rows=6, layout=W.Layout(width="100%", max_width="40em"))
        self.link = W.Button(description=_t("search_link", lang), button_style="success", icon="link",
                             disabled=True, layout=W.Layout(width="auto"))
        self.note = W.HTML()
        self.find.on_click(lambda _: self.run())
        self.results.observe(lambda ch: setattr(self.link, "disabled", ch["new"] is None), names="value")
        self.link.on_click(lambda _: self.results.value and self._on_link(self.results.value))
        self.box = W.VBox([W.HTML(f"<b style='{_TEXT_STYLE}'>{html.escape(_t('search_title', lang))}</b>"),
                           W.Box([self.name, self.dob, self.province, self.find],
                                 layout=W.Layout(flex_flow="row wrap")),
                           self.results, self.link, self.note],
                          layout=W.Layout(display="none", border="1px solid #ccc", padding="6px"))
        self.box.add_class("vax-register-search")

    def prefill(self, record: Mapping[str, Any]) -> None:
        """Start from the record's typed name, date of birth and province."""
        self.name.value = cell_text(record.get("full_name"))
        self.dob.value = cell_text(record.get("dob"))
        prov = cell_text(record.get("province_code"))
        self.province.value = prov if prov in [v for _, v in self.province.options] else ""
        self.results.options = []
        self.note.value = ""

    def matches(self) -> pd.DataFrame:
        """Register rows matching the search fields (all given fields must match)."""
        from vaxlib.review.ledger import InvalidEditError, validate_edit
        from vaxlib.vn.text import fold_key

        reg = self._registry
        mask = pd.Series(True, index=reg.index)
        name = fold_key(cell_text(self.name.value))
        if name:
            mask &= self._folded.str.contains(name, regex=False)
        dob = cell_text(self.dob.value).strip()
        if dob:
            try:
                iso = validate_edit({"dob": dob})["dob"]
            except InvalidEditError:
                iso = dob
            mask &= reg["dob"].astype(str).str.startswith(iso)
        if self.province.value and "province_code" in reg:
            mask &= reg["province_code"].astype(str) == self.province.value
        return reg[mask.to_numpy()]

    def run(self) -> None:
        found = self.matches()
        lang = self.lang
        shown = found.head(self.LIMIT)
        self.results.options = [
            (f"{cell_text(r['full_name'])} · {display_dob(cell_text(r['dob']))} · {display_sex(cell_text(r['sex']), lang)} · "
             f"{mask_id(cell_text(r['person_id']))} · {cell_text(r.get('province_code'))}", cell_text(r["person_id"]))
            for _, r in shown.iterrows()]
        self.results.value = None
        self.link.disabled = True
        self.note.value = html.escape(_t("search_count", lang, n=_i18n.fmt_int(len(found), lang),
                                         shown=len(shown)) if len(found) else _t("search_none", lang))


class ReviewPanel:
    """Review queue widgets and their behaviour; build with :func:`review_panel`.

    Named widgets (attributes): ``filters`` (:class:`ReviewFilters`),
    ``progress`` (IntProgress), ``progress_label``, ``position``, ``record``
    (HTML comparison), ``candidate`` (candidate chooser), ``waterfall``
    (``go.FigureWidget``), ``accept``, ``reject``, ``edit``, ``defer``,
    ``prev``, ``next``, ``undo``, ``reveal`` (ToggleButton), ``bulk``,
    ``bulk_confirm``, ``bulk_cancel``, ``bulk_question``, ``bulk_box``,
    ``edit_form`` (:class:`EditForm`), ``message`` (HTML status line) and
    ``widget`` (the whole panel, to display).

    ``current`` is the record on screen (None when the queue is empty);
    ``last_events`` the ledger events written by the last action.
    """

    def __init__(
        self,
        vaccinations: pd.DataFrame,
        matches: pd.DataFrame,
        candidates: pd.DataFrame | None,
        ledger: Any,
        analyst: str,
        *,
        registry: pd.DataFrame | None = None,
        clusters: pd.DataFrame | None = None,
        lang: str = "vi",
        status: str = "review",
    ) -> None:
        from vaxlib.review.clusters import MISMATCH_STATUSES, find_clusters, mismatch_records

        check_lang(lang)
        if not analyst or not str(analyst).strip():
            raise ValueError("review_panel needs the analyst's name (recorded with every decision)")
        if status not in ("", *MISMATCH_STATUSES):
            raise ValueError(f"status must be one of {MISMATCH_STATUSES} or '' (all), not {status!r}")
        self.lang = lang
        self.analyst = str(analyst).strip()
        self.ledger = ledger
        # team mode: events carry their record's province, and the panel shows only the provinces
        # the database role may decide (row-level security refuses the others anyway)
        from vaxlib.review.ledger import scope_tables

        vaccinations, matches = scope_tables(ledger, vaccinations, matches)
        self._vacc = vaccinations.assign(record_id=vaccinations["record_id"].astype(str)).set_index(
            "record_id", drop=False)
        self._matches = matches.assign(record_id=matches["record_id"].astype(str)).set_index(
            "record_id", drop=False)
        from vaxlib.review.clusters import facility_names

        self._facility_names = facility_names(vaccinations)  # empty when the data has none
        self._mis = mismatch_records(vaccinations, matches).assign(
            record_id=lambda d: d["record_id"].astype(str)).set_index("record_id", drop=False).sort_index()
        if candidates is not None and len(candidates):
            c = candidates.assign(record_id=candidates["record_id"].astype(str)).sort_values(
                ["record_id", "rank"], kind="stable")
            self._cands: dict[str, pd.DataFrame] = {k: g for k, g in c.groupby("record_id", sort=False)}
        else:
            self._cands = {}
        self._registry = (registry.assign(person_id=registry["person_id"].astype(str))
                          .drop_duplicates("person_id").set_index("person_id", drop=False)
                          if registry is not None else None)
        if clusters is None:
            clusters = find_clusters(vaccinations, matches, min_size=2, top=200)
        self.clusters = clusters
        self._vaccinations, self._matches_table = vaccinations, matches
        self._cluster_ids: dict[str, set[str]] = {}
        self._undo_stack: list[tuple[str, Any, str, str]] = []  # (kind, event id | bulk id, record_id, what)
        self._pending_bulk: tuple[str, list[str]] | None = None
        self._decided: dict[str, str] = {}
        self._order: list[str] = []
        self._pos: dict[str, int] = {}
        self.current: str | None = None
        self.last_events: list[Any] = []
        self._uid = uuid.uuid4().hex[:8]
        self._build(status)
        self.refresh()

    # ------------------------------------------------------------ construction
    def _button(self, name: str, description: str, tip: str, style: str = "", icon: str = "",
                width: str = "auto") -> W.Button:
        key = SHORTCUTS.get(name)
        tooltip = f"{tip} — {_t('shortcut', self.lang, key=key.upper())}" if key else tip
        # flex 0 0 auto: a button in a crowded row keeps its full label (was shrunk to "Duyệt …")
        b = W.Button(description=description, tooltip=tooltip, button_style=style, icon=icon,
                     tabbable=True, layout=W.Layout(width=width, flex="0 0 auto", min_width="fit-content"))
        b.add_class(f"vax-{self._uid}-{name}")
        return b

    def _build(self, status: str) -> None:
        lang = self.lang
        all_ = _t("all", lang)
        provinces = sorted(p for p in self._mis["facility_province"].unique() if p)
        codes = sorted({c for cs in self._mis["codes"] for c in cs})
        wide = {"description_width": "initial"}
        self.filters = ReviewFilters(
            province=W.Dropdown(options=[(all_, "")] + [(_province_label(p), p) for p in provinces],
                                value="", description=ui_label("province", lang), style=wide),
            facility=W.Dropdown(options=[(all_, "")], value="", description=ui_label("facility", lang),
                                style=wide),
            error=W.Dropdown(options=[(all_, "")] + [(f"{error_label(c, lang)} ({c})", c) for c in codes],
                             value="", description=ui_label("error", lang), style=wide),
            cluster=W.Dropdown(options=self._cluster_options(), value="", description=ui_label("cluster", lang),
                               style=wide, layout=W.Layout(width="46em")),
            status=W.Dropdown(options=[(_t("all_mismatch", lang), "")] + [
                (status_label(s, lang), s) for s in ("review", "fix", "unmatched")], value=status,
                description=_t("status", lang), style=wide),
        )
        self._update_facility_options()
        self.progress = W.IntProgress(value=0, min=0, max=1, layout=W.Layout(width="18em"))
        self.progress_label = W.HTML()
        self.position = W.HTML()
        self.record = W.HTML(layout=W.Layout(min_width="26em", max_width="540px"))
        self.candidate = W.ToggleButtons(options=[], style={"button_width": "auto"})
        import plotly.graph_objects as go

        # a fixed size (it was squeezed to ~370x90 px in a wrapping row) and the title in its own
        # top margin, clear of the toolbar, which sits vertically at the right
        self.waterfall = go.FigureWidget(data=[go.Waterfall(x=[], y=[])],
                                         layout=dict(height=380, width=520, template="plotly_white",
                                                     margin=dict(l=50, r=40, t=70, b=110), showlegend=False,
                                                     modebar=dict(orientation="v"),
                                                     font=dict(size=11),
                                                     title=dict(x=0, xanchor="left", y=0.97, yanchor="top")))
        self.accept = self._button("accept", action_label("accept", lang), _t("tip_accept", lang), "success",
                                   "check")
        self.reject = self._button("reject", action_label("reject", lang), _t("tip_reject", lang), "danger",
                                   "times")
        self.edit = self._button("edit", action_label("edit", lang), _t("tip_edit", lang), "info", "pencil")
        self.defer = self._button("defer", action_label("defer", lang), _t("tip_defer", lang), "warning",
                                  "clock-o")
        self.prev = self._button("prev", _t("prev", lang), _t("tip_prev", lang))
        self.next = self._button("next", _t("next", lang), _t("tip_next", lang))
        self.undo = self._button("undo", action_label("undo", lang), _t("tip_undo", lang), "", "undo")
        self.reveal = W.ToggleButton(value=False, description=_t("reveal", lang), icon="eye",
                                     tooltip=f"{_t('reveal_tip', lang)} — "
                                             f"{_t('shortcut', lang, key=SHORTCUTS['reveal'].upper())}",
                                     tabbable=True)
        self.reveal.add_class(f"vax-{self._uid}-reveal")
        from vaxlib.review.ledger import REASON_CODES

        codes = list(dict.fromkeys(c for cs in REASON_CODES.values() for c in cs))
        self.reason = W.Dropdown(options=[(_t("reason_pick", lang), "")]
                                 + [(_i18n.t(f"reason.{c}", lang), c) for c in codes], value="")
        self.reason_text = W.Text(placeholder=_t("reason_text", lang))
        self.bulk = self._button("bulk", action_label("bulk_accept", lang), _t("tip_bulk", lang), "primary",
                                 "check-square-o")
        self.bulk_question = W.HTML()
        self.bulk_confirm = self._button("bulk_confirm", _t("confirm", lang), "", "success")
        self.bulk_cancel = self._button("bulk_cancel", _t("cancel", lang), "")
        self.bulk_box = W.HBox([self.bulk_question, self.bulk_confirm, self.bulk_cancel],
                               layout=W.Layout(display="none", align_items="center"))
        self.edit_form = self._build_edit_form()
        self.accept_why = W.HTML()
        self.search = RegisterSearch(self._registry, self.lang, self._link_person) \
            if self._registry is not None else None
        self.message = W.HTML()
        self._keys = _accesskey_widget({f"vax-{self._uid}-{k}": v for k, v in SHORTCUTS.items()})
        # the second person of the two-person rule; only for roles that may confirm
        self.supervisor = BulkConfirmBox(self.ledger, self.analyst, lang, self.refresh) \
            if getattr(self.ledger, "can_confirm", lambda: False)() else None

        for f in self.filters.all():
            f.observe(self._on_filter, names="value")
        self.candidate.observe(lambda ch: (self._render_waterfall(), self._update_accept_label(),
                                           self._render_edit_preview()), names="value")
        self.accept.on_click(lambda _: self._decide("accept"))
        self.reject.on_click(lambda _: self._decide("reject"))
        self.defer.on_click(lambda _: self._decide("defer"))
        self.edit.on_click(lambda _: self._open_edit())
        self.edit_form.save.on_click(lambda _: self._save_edit())
        self.edit_form.cancel.on_click(lambda _: self._close_edit())
        self.next.on_click(lambda _: self._step(+1))
        self.prev.on_click(lambda _: self._step(-1))
        self.undo.on_click(lambda _: self._undo())
        self.reveal.observe(self._on_reveal, names="value")
        self.bulk.on_click(lambda _: self._ask_bulk())
        self.bulk_confirm.on_click(lambda _: self._confirm_bulk())
        self.bulk_cancel.on_click(lambda _: self._cancel_bulk())

        title = W.HTML(f"<h3 style='margin:4px 0'>{html.escape(_t('title', lang))}</h3>")
        filters = W.Box(list(self.filters.all()), layout=W.Layout(flex_flow="row wrap"))
        # the reason first: Từ chối and Sửa need one, so the analyst sees the list before pressing them
        reason_row = W.HBox([W.HTML(f"<span style='{_TEXT_STYLE}'>{html.escape(_t('reason_label', lang))}</span>"),
                             self.reason, self.reason_text],
                            layout=W.Layout(align_items="center", flex_flow="row wrap"))
        self.decisions = W.VBox([reason_row, W.HBox([self.accept, self.reject, self.edit, self.defer, self.undo],
                                                    layout=W.Layout())])
        decisions = self.decisions
        nav = W.HBox([self.prev, self.next, self.reveal], layout=W.Layout())
        # the chart sits in a box of its own, hidden when there is nothing to explain (an empty
        # waterfall drew bare axes with made-up ticks); the record pane then says why
        self.waterfall_box = W.Box([self.waterfall], layout=W.Layout(display="none"))
        right = W.VBox([self.candidate, self.waterfall_box], layout=W.Layout(min_width="520px"))
        body = W.HBox([self.record, right], layout=W.Layout(align_items="flex-start", flex_flow="row wrap"))
        children = [title, filters, W.HBox([self.progress, self.progress_label], layout=W.Layout()),
                    self.position, body, decisions, self.accept_why,
                    *([self.search.box] if self.search is not None else []), self.edit_form.box, nav,
                    W.HBox([self.bulk, self.bulk_box], layout=W.Layout()), self.message,
                    *([self.supervisor.box] if self.supervisor is not None else [])]
        if self._keys is not None:
            children.append(self._keys)
        self.widget = W.VBox(children, layout=W.Layout())
        self.widget.add_class("vax-review-panel")

    def _build_edit_form(self) -> EditForm:
        lang = self.lang
        wide = {"description_width": "9em"}
        sex = W.Dropdown(options=[(_t("sex_keep", lang), ""), (_t("male", lang), "M"), (_t("female", lang), "F")],
                         value="", description=_field_label("sex", lang), style=wide)
        form = EditForm(
            full_name=W.Text(description=_field_label("full_name", lang), style=wide,
                             layout=W.Layout(width="32em")),
            dob=W.Text(description=_field_label("dob", lang), placeholder="dd/mm/yyyy", style=wide),
            sex=sex,
            id_number=W.Text(description=_field_label("id_number", lang), style=wide),
            save=self._button("edit_save", _t("save", lang), "", "success", "save"),
            cancel=self._button("edit_cancel", _t("cancel", lang), ""),
            title=W.HTML(),
            error=W.HTML(),
            box=W.VBox(layout=W.Layout(display="none", border="1px solid #90caf9", padding="6px")),
            preview=W.HTML(),
        )
        form.box.add_class("vax-edit-form")
        form.box.children = [form.title, form.full_name, form.dob, form.sex, form.id_number, form.preview,
                             W.HBox([form.save, form.cancel], layout=W.Layout()), form.error]
        for w in (form.full_name, form.dob, form.sex, form.id_number):
            w.observe(lambda ch: self._render_edit_preview(), names="value")
        return form

    def _cluster_options(self) -> list[tuple[str, str]]:
        col = "description_vi" if self.lang == "vi" else "description_en"
        opts = [(_t("all", self.lang), "")]
        if self.clusters is not None and len(self.clusters):
            opts += [(f"#{r['rank']} · {r[col]}", str(r["cluster_id"])) for _, r in self.clusters.iterrows()]
        return opts

    def _update_facility_options(self) -> None:
        prov = self.filters.province.value
        m = self._mis if not prov else self._mis[self._mis["facility_province"] == prov]
        facilities = sorted(f for f in m["facility_id"].unique() if f)
        current = self.filters.facility.value
        self.filters.facility.options = [(_t("all", self.lang), "")] + [(self._facility_label(f), f)
                                                                        for f in facilities]
        self.filters.facility.value = current if current in facilities else ""

    def _facility_label(self, code: str) -> str:
        """``"Trạm Y tế phường Tân Định (CS-79-0123)"``; the code alone when the data has no name."""
        name = str(self._facility_names.get(code, "") or "")
        return f"{name} ({code})" if name and code else code

    # ------------------------------------------------------------ queue
    def _records_of_cluster(self, cluster_id: str) -> set[str]:
        if cluster_id not in self._cluster_ids:
            from vaxlib.review.clusters import cluster_record_ids

            self._cluster_ids[cluster_id] = set(cluster_record_ids(
                self.clusters, cluster_id, self._vaccinations, self._matches_table))
        return self._cluster_ids[cluster_id]

    def filtered_ids(self) -> list[str]:
        """Record ids passing the filters, in queue order (record id)."""
        m = self._mis
        f = self.filters
        mask = pd.Series(True, index=m.index)
        if f.status.value:
            mask &= m["status"] == f.status.value
        if f.province.value:
            mask &= m["facility_province"] == f.province.value
        if f.facility.value:
            mask &= m["facility_id"] == f.facility.value
        if f.error.value:
            code = f.error.value
            mask &= pd.Series([code in cs or (code == NO_CODE and not cs) for cs in m["codes"]], index=m.index)
        if f.cluster.value:
            mask &= m.index.isin(list(self._records_of_cluster(f.cluster.value)))
        return [str(r) for r in m.index[mask.to_numpy()]]

    def queue(self) -> list[str]:
        """Records still to review under the filters: undecided first, then deferred."""
        undecided = [r for r in self._order if r not in self._decided]
        deferred = [r for r in self._order if self._decided.get(r) == "defer"]
        return undecided + deferred

    def counts(self) -> dict[str, int]:
        """``total`` in the filters, ``reviewed`` (decided, not deferred), ``deferred``, ``queued``."""
        total = len(self._order)
        deferred = sum(1 for r in self._order if self._decided.get(r) == "defer")
        reviewed = sum(1 for r in self._order if self._decided.get(r) not in (None, "defer"))
        # queued is the queue's own length, so the progress line and "Bản ghi i / n" always agree
        return {"total": total, "reviewed": reviewed, "deferred": deferred, "queued": len(self.queue())}

    def summary(self) -> str:
        """The progress line as text."""
        return _t("progress", self.lang, **self.counts())

    def empty_hint(self) -> str:
        """Why the queue is empty and which filter to change (with the counts it would show)."""
        lang = self.lang
        st = self.filters.status.value
        others = self._mis["status"].value_counts()
        options = [f"«{status_label(k, lang)}» ({_i18n.fmt_int(n, lang)})" for k, n in others.items()
                   if k != st and k in ("review", "fix", "unmatched") and n]
        if not options:
            return _t("empty_filter", lang)
        narrowed = any(f.value for f in (self.filters.province, self.filters.facility, self.filters.error,
                                         self.filters.cluster))
        key = "empty_other_filters" if narrowed else "empty_status"
        return _t(key, lang, status=status_label(st, lang) if st else _t("all_mismatch", lang),
                  options=_i18n.t("review.or", lang).join(options))

    def _load_decisions(self) -> None:
        d = self.ledger.current_decisions()
        self._decided = dict(zip(d["record_id"].astype(str), d["action"].astype(str)))

    def refresh(self, show: str | None = None) -> None:
        """Re-read the ledger and the filters; show ``show`` or keep the current record if still queued."""
        self._load_decisions()
        if getattr(self, "supervisor", None) is not None:
            self.supervisor.refresh()
        self._order = self.filtered_ids()
        self._pos = {r: i for i, r in enumerate(self._order)}
        q = self.queue()
        target = show if show is not None else (self.current if self.current in q else (q[0] if q else None))
        self._update_progress()
        self.show(target)

    def _update_progress(self) -> None:
        c = self.counts()
        self.progress.max = max(c["total"], 1)
        self.progress.value = c["reviewed"]
        self.progress_label.value = f"<span style='{_TEXT_STYLE}'>{html.escape(self.summary())}</span>"

    def _next_after(self, rid: str | None) -> str | None:
        pos = self._pos.get(rid, -1) if rid is not None else -1
        undecided = [r for r in self._order if r not in self._decided]
        deferred = [r for r in self._order if self._decided.get(r) == "defer"]
        for group in (undecided, deferred):
            after = [r for r in group if self._pos[r] > pos and r != rid]
            if after:
                return after[0]
            rest = [r for r in group if r != rid]
            if rest:
                return rest[0]
        return None

    def _step(self, delta: int) -> None:
        self.message.value = ""
        q = self.queue()
        if not q:
            return
        if self.current in q:
            i = (q.index(self.current) + delta) % len(q)
        else:
            i = 0
        self.show(q[i])

    # ------------------------------------------------------------ display
    def _suggested_person(self, rid: str) -> str | None:
        pid = cell_text(self._matches.at[rid, "person_id"]) if rid in self._matches.index else ""
        return pid or None

    def candidate_values(self, rid: str) -> list[dict[str, Any]]:
        """Candidates of a record, best first: rank, person_id, probability and the register's values.

        Values come from the registry when the panel has it; otherwise the
        suggested person's values are the matches' ``corrected_*`` (or the
        typed value where nothing is corrected) and other candidates' values
        are unknown (None).
        """
        rows: list[dict[str, Any]] = []
        cands = self._cands.get(rid)
        suggested = self._suggested_person(rid)
        if cands is not None:
            for _, c in cands.iterrows():
                rows.append({"rank": int(c["rank"]), "person_id": cell_text(c["person_id"]),
                             "probability": float(c["match_probability"]), "row": c})
        elif suggested:
            p = float(self._matches.at[rid, "match_probability"]) if "match_probability" in self._matches else 0.0
            rows.append({"rank": 1, "person_id": suggested, "probability": p, "row": None})
        typed = self._vacc.loc[rid] if rid in self._vacc.index else None
        m = self._matches.loc[rid] if rid in self._matches.index else None
        for r in rows:
            pid = r["person_id"]
            if self._registry is not None and pid in self._registry.index:
                reg = self._registry.loc[pid]
                r.update(full_name=cell_text(reg["full_name"]), dob=cell_text(reg["dob"]), sex=cell_text(reg["sex"]), id_number=pid)
            elif pid == suggested and m is not None and typed is not None:
                # corrected_* hold the register's values where they differ from the record;
                # None for dob/sex means "same as typed" (shown as typed, not highlighted)
                r.update(full_name=cell_text(m.get("corrected_full_name")) or cell_text(typed.get("full_name")),
                         dob=cell_text(m.get("corrected_dob")) or None, sex=cell_text(m.get("corrected_sex")) or None,
                         id_number=cell_text(m.get("corrected_id_number")) or cell_text(typed.get("id_number")))
            else:
                r.update(full_name=None, dob=None, sex=None, id_number=pid)
        return rows

    def _render_record(self) -> None:
        rid = self.current
        lang = self.lang
        if rid is None:
            text = _t("done", lang) if self._order else self.empty_hint()
            self.record.value = f"<p style='{_TEXT_STYLE}'>{html.escape(text)}</p>"
            return
        v = self._vacc.loc[rid]
        m = self._matches.loc[rid]
        cands = self.candidate_values(rid)
        reveal = bool(self.reveal.value)
        head = _t("record_head", lang, rid=rid, facility=self._facility_label(cell_text(v.get("facility_id"))) or "?",
                  date=_i18n.fmt_date(cell_text(v.get("vaccination_date")), lang) or "?", dose=cell_text(v.get("dose_number")) or "?",
                  status=status_label(cell_text(m.get("status")), lang))
        cols = "".join(
            f"<th style='text-align:left;padding:4px 8px'>{html.escape(_t('candidate', lang, n=c['rank']))}"
            f"{' (' + html.escape(_t('suggested', lang)) + ')' if c['person_id'] == self._suggested_person(rid) else ''}"
            f"<br><small>{html.escape(_t('prob', lang, p=_i18n.fmt_pct(c['probability'], lang)))}</small></th>"
            for c in cands)
        rows_html = []
        for f in _FIELDS:
            typed = cell_text(v.get(f))
            cells = []
            typed_cell = None
            for c in cands:
                reg = c.get(f)
                if f == "dob" and reg is not None:
                    # the register's date in the shape the facility typed, so the diff shows digits not format
                    reg = reg if _ISO_DATE.fullmatch(typed.strip()) else display_dob(reg)
                elif f == "dob" and reg is None and c["person_id"] == self._suggested_person(rid):
                    reg = typed
                if f == "sex":
                    typed_sex = _parse_sex(typed) if typed else None
                    reg_text = display_sex(reg, lang) if reg else (typed if reg is None and c["person_id"] ==
                                                                    self._suggested_person(rid) else None)
                    if reg_text is None:
                        cells.append(html.escape(_t("unknown", lang)))
                        continue
                    same = reg is None or typed_sex == reg
                    cell = html.escape(reg_text) if same else f'<mark style="{_MARK_INS}">{html.escape(reg_text)}</mark>'
                    cells.append(cell)
                    if typed_cell is None:
                        typed_cell = html.escape(typed) if same and typed else (
                            f'<mark style="{_MARK_DEL}">{html.escape(typed or _t("empty", lang))}</mark>')
                    continue
                if reg is None:
                    cells.append(html.escape(_t("unknown", lang)))
                    continue
                a, b = highlight_diff(typed, reg, mask=(f == "id_number" and not reveal))
                cells.append(b or html.escape(_t("empty", lang)))
                if typed_cell is None:
                    typed_cell = a
            if typed_cell is None:
                typed_cell = html.escape(mask_id(typed) if f == "id_number" and not reveal else typed)
            if not typed:
                typed_cell = f"<i style='color:#888'>{html.escape(_t('empty', lang))}</i>"
            tds = "".join(f"<td style='padding:4px 8px'>{c}</td>" for c in cells)
            rows_html.append(f"<tr><th style='text-align:left;padding:4px 8px'>{html.escape(_field_label(f, lang))}</th>"
                             f"<td style='padding:4px 8px'>{typed_cell}</td>{tds}</tr>")
        codes = [c for c in cell_text(m.get("error_codes")).split(";") if c]
        errors = ", ".join(html.escape(error_label(c, lang)) for c in codes) or html.escape(_t("none", lang))
        decision = self._decided.get(rid)
        decision_text = action_label(decision, lang) if decision else _t("none", lang)
        no_cand = "" if cands else f"<p><i>{html.escape(_t('no_candidate', lang))}</i></p>"
        self.record.value = (
            f"<div style='{_TEXT_STYLE}'><p><b>{html.escape(head)}</b></p>"
            f"<table style='border-collapse:collapse;border:1px solid #ddd'>"
            f"<tr><th style='text-align:left;padding:4px 8px'>{html.escape(_t('field', lang))}</th>"
            f"<th style='text-align:left;padding:4px 8px'>{html.escape(_t('typed', lang))}</th>{cols}</tr>"
            f"{''.join(rows_html)}</table>{no_cand}"
            f"<p>{html.escape(_t('errors', lang))}: {errors}<br>"
            f"{html.escape(_t('decision', lang))}: {html.escape(decision_text)}</p></div>"
        )

    def _render_waterfall(self) -> None:
        from vaxlib.match.explain import waterfall_figure

        rid = self.current
        cands = self._cands.get(rid) if rid is not None else None
        fw = self.waterfall
        trace = fw.data[0]
        box = getattr(self, "waterfall_box", None)
        if cands is None or not len(cands) or self.candidate.value is None:
            with fw.batch_update():
                trace.x, trace.y, trace.measure, trace.text = [], [], [], []
                fw.layout.title.text = _t("no_candidate", self.lang)
            if box is not None:
                box.layout.display = "none"
            return
        if box is not None:
            box.layout.display = "flex"
        rank = int(self.candidate.value)
        row = cands[cands["rank"] == rank]
        row = row.iloc[0] if len(row) else cands.iloc[0]
        try:
            new = waterfall_figure(row, lang=self.lang)
        except (KeyError, ValueError, TypeError) as exc:  # a candidates table of another match version
            log.warning("cannot draw the explanation waterfall: %s", type(exc).__name__)
            with fw.batch_update():
                trace.x, trace.y, trace.measure, trace.text = [], [], [], []
                fw.layout.title.text = ""
            return
        src = new.data[0]
        with fw.batch_update():
            trace.x, trace.y, trace.measure, trace.text = src.x, src.y, src.measure, src.text
            trace.textposition = src.textposition
            fw.layout.title.text = new.layout.title.text
            fw.layout.title.font.size = 13
            fw.layout.yaxis.title.text = new.layout.yaxis.title.text

    def show(self, rid: str | None) -> None:
        """Put a record on screen (masked again, edit form closed)."""
        if rid is not None and rid not in self._matches.index:
            raise KeyError(f"record {rid!r} is not in the matches table")
        self.current = rid
        self.reveal.value = False  # re-masks; triggers a render
        self._close_edit()
        lang = self.lang
        cands = self._cands.get(rid) if rid is not None else None
        opts = ([(_t("candidate", lang, n=int(r)), int(r)) for r in cands["rank"]] if cands is not None else [])
        self.candidate.options = opts
        self.candidate.value = opts[0][1] if opts else None
        self._render_record()
        self._render_waterfall()
        q = self.queue()
        if rid is None:
            self.position.value = ""
        elif rid in q:
            self.position.value = f"<span style='{_TEXT_STYLE}'>{html.escape(_t('position', lang, i=q.index(rid) + 1, n=len(q)))}</span>"
        else:  # decided, or opened from elsewhere (feedback) outside the filters
            key = "position_out" if self._decided.get(rid) not in (None, "defer") else "position_filtered"
            self.position.value = f"<span style='{_TEXT_STYLE}'>{html.escape(_t(key, lang))}</span>"
        has = rid is not None
        self.accept.disabled = not (has and (self._suggested_person(rid) or opts))
        self._update_accept_label()
        no_cands = has and not self.candidate_values(rid)
        self.accept_why.value = (f"<span style='{_TEXT_STYLE};color:#555'>ⓘ "
                                 f"{html.escape(_t('accept_disabled', lang))}</span>") if no_cands else ""
        if self.search is not None:
            self.search.box.layout.display = "flex" if no_cands else "none"
            if no_cands:
                self.search.prefill(self._vacc.loc[rid])
        for b in (self.reject, self.edit, self.defer):
            b.disabled = not has
        self.prev.disabled = self.next.disabled = len(q) < 2 and (not q or q[0] == rid)
        self.undo.disabled = not self._undo_stack

    def _update_accept_label(self) -> None:
        rid = self.current
        rank = self.candidate.value
        other = rid is not None and rank is not None and self.chosen_person(rid) != self._suggested_person(rid)
        self.accept.description = (_t("accept_candidate", self.lang, n=rank) if other
                                   else action_label("accept", self.lang))

    def _link_person(self, person_id: str) -> None:
        """Link the record on screen to a person found by the register search (an edit with their values)."""
        rid = self.current
        if rid is None or self._registry is None or person_id not in self._registry.index:
            return
        reg = self._registry.loc[person_id]
        values = {"full_name": cell_text(reg["full_name"]), "dob": display_dob(cell_text(reg["dob"])),
                  "sex": cell_text(reg["sex"]), "id_number": person_id}
        try:
            plan = self.edit_plan({k: v for k, v in values.items() if v})
        except Exception as exc:  # InvalidEditError: a register value the validator refuses
            self._say(_t("invalid", self.lang, field=getattr(exc, "field", "?"), reason=getattr(exc, "reason", "")),
                      error=True)
            return
        if not plan:
            self._say(_t("no_change", self.lang), error=True)
            return
        ev = self._append(lambda: self.ledger.edit(rid, {f: v for f, (v, _) in plan.items()},
                                                   analyst=self.analyst, reason_code="register_match",
                                                   reason="register search",
                                                   idempotency_key=uuid.uuid4().hex))
        if ev is not None:
            self._after_decision([ev], rid, "edit")

    def _say(self, text: str, error: bool = False) -> None:
        color = "#b71c1c" if error else "#1b5e20"
        self.message.value = f"<span style='{_TEXT_STYLE};color:{color}'>{html.escape(text)}</span>"

    # ------------------------------------------------------------ actions
    def _append(self, fn: Callable[[], Any]) -> Any:
        from vaxlib.review.ledger import LedgerError

        try:
            return fn()
        except LedgerError as exc:
            if type(exc).__name__ == "InvalidEditError":
                raise
            log.warning("ledger write failed: %s", type(exc).__name__)
            self._say(_t("ledger_error", self.lang, error=str(exc)), error=True)
            return None

    def _decide(self, action: str) -> None:
        rid = self.current
        self.message.value = ""
        if rid is None:
            return
        key = uuid.uuid4().hex
        kw = {"analyst": self.analyst, "idempotency_key": key}
        if action == "accept":
            pid = self._suggested_person(rid)
            chosen = self.chosen_person(rid)
            if chosen and chosen != pid:
                self._accept_other(rid, chosen, kw)
                return
            ev = self._append(lambda: self.ledger.accept(rid, values={"person_id": pid} if pid else None, **kw))
        elif action == "reject":
            reason = self._reason("reject")
            if reason is None:
                return
            ev = self._append(lambda: self.ledger.reject(rid, **reason, **kw))
        elif action == "defer":
            ev = self._append(lambda: self.ledger.defer(rid, **kw))
        else:  # pragma: no cover - buttons only send the three above
            raise ValueError(action)
        if ev is None:
            return
        self._after_decision([ev], rid, action)

    def chosen_person(self, rid: str) -> str | None:
        """person_id of the candidate chosen in the tabs (the suggestion when none is chosen)."""
        for c in self.candidate_values(rid):
            if c["rank"] == self.candidate.value:
                return c["person_id"] or None
        return self._suggested_person(rid)

    def _accept_other(self, rid: str, person_id: str, kw: dict[str, Any]) -> None:
        """Accept a candidate other than the suggestion: an edit writing that person's register values.

        ``vax apply`` takes the suggestion's ``corrected_*`` values for an
        accept, so another candidate's values are recorded as an ``edit``
        (with the candidate's rank as the reason) and applied as such.
        """
        from vaxlib.review.ledger import InvalidEditError

        rank = self.candidate.value
        try:
            plan = self.edit_plan({})
        except InvalidEditError as exc:  # pragma: no cover - register values always validate
            self._say(_t("invalid", self.lang, field=exc.field, reason=exc.reason), error=True)
            return
        if not plan:
            self._say(_t("no_change", self.lang), error=True)
            return
        values = {f: v for f, (v, _) in plan.items()}
        ev = self._append(lambda: self.ledger.edit(rid, values, reason_code="register_match",
                                                   reason=f"candidate {rank}", **kw))
        if ev is None:
            return
        self._after_decision([ev], rid, "accept")

    def _reason(self, action: str) -> dict[str, Any] | None:
        """The chosen reason for a rejection or an edit, or None (and a message) when missing."""
        from vaxlib.review.ledger import REASON_CODES

        code, text = self.reason.value, self.reason_text.value.strip()
        if code not in REASON_CODES[action] or (code == "other" and not text):
            msg = _t("reason_needed", self.lang, action=action_label(action, self.lang))
            self._say(msg, error=True)
            if action == "edit":
                self.edit_form.error.value = f"<span style='{_TEXT_STYLE};color:#b71c1c'>{html.escape(msg)}</span>"
            return None
        return {"reason_code": code, "reason": text or None}

    def _on_reveal(self, change: Any) -> None:
        """Revealing a full ID number is recorded in the ledger (who saw whose number, when)."""
        if change["new"] and self.current is not None:
            self._append(lambda: self.ledger.reveal(self.current, analyst=self.analyst,
                                                    idempotency_key=uuid.uuid4().hex))
        self._render_record()

    def _after_decision(self, events: list[Any], rid: str, action: str) -> None:
        self.reason.value = ""  # "— Lý do —" (None would show an empty box)
        self.reason_text.value = ""
        self.last_events = events
        self._undo_stack.append(("event", events[0].id, rid, action))
        self._say(_t("decided", self.lang, action=action_label(action, self.lang), rid=rid, eid=events[0].id))
        self._load_decisions()
        self._update_progress()
        self.show(self._next_after(rid))

    def _open_edit(self) -> None:
        self.message.value = ""
        rid = self.current
        if rid is None:
            return
        form = self.edit_form
        lang = self.lang
        cands = self.candidate_values(rid)
        chosen = next((c for c in cands if c["rank"] == self.candidate.value), cands[0] if cands else {})
        typed = self._vacc.loc[rid]
        form.title.value = f"<b style='{_TEXT_STYLE}'>{html.escape(_t('edit_title', lang, rid=rid))}</b>"
        form.full_name.value = cell_text(chosen.get("full_name")) or cell_text(typed.get("full_name"))
        form.dob.value = display_dob(chosen.get("dob")) if chosen.get("dob") else cell_text(typed.get("dob"))
        form.sex.value = cell_text(chosen.get("sex")) if cell_text(chosen.get("sex")) in ("M", "F") else ""
        id_source = cell_text(chosen.get("id_number")) or cell_text(typed.get("id_number"))
        if self.reveal.value:
            form.id_number.value = id_source
            form.id_number.placeholder = ""
        else:  # a masked ID is never put into an editable field
            form.id_number.value = ""
            form.id_number.placeholder = _t("keep_id", lang, masked=mask_id(id_source)) if id_source else \
                _t("keep", lang)
        form.error.value = ""
        form.box.layout.display = "flex"
        self._render_edit_preview()

    def _close_edit(self) -> None:
        self.edit_form.box.layout.display = "none"
        self.edit_form.error.value = ""
        self.edit_form.preview.value = ""

    def _proposed_values(self, rid: str) -> dict[str, str]:
        """What the chosen candidate would write: the register's values (dob as dd/mm/yyyy), empty ones left out."""
        cands = self.candidate_values(rid)
        chosen = next((c for c in cands if c["rank"] == self.candidate.value), cands[0] if cands else {})
        out = {}
        for f in _FIELDS:
            v = cell_text(chosen.get(f))
            if v:
                out[f] = display_dob(v) if f == "dob" else v
        return out

    def edit_plan(self, values: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
        """What *Lưu* would write for the record on screen: field -> (value as typed or proposed, source).

        A field left empty in the form keeps the proposed value (the chosen
        candidate's, e.g. the corrected 12-digit ID behind a masked box), so
        an edit never silently drops an automatic fix; ``source`` is
        ``"typed"`` or ``"proposed"``.  Fields equal to the record as typed
        are left out.  ``values`` replaces the form's (``{}``: the proposal alone).

        Raises
        ------
        InvalidEditError
            A typed value does not parse.
        """
        from vaxlib.review.ledger import validate_edit

        rid = self.current
        if rid is None:
            return {}
        typed = self._vacc.loc[rid]
        raw = dict(self.edit_form.values() if values is None else values)
        proposed = self._proposed_values(rid)
        # a prefilled value the analyst left alone is still the proposal
        merged = {f: (raw[f], "proposed" if raw[f] == proposed.get(f) else "typed") if f in raw
                  else (proposed[f], "proposed") for f in _FIELDS if f in raw or f in proposed}
        clean = validate_edit({f: v for f, (v, _) in merged.items()}, record_id=rid) if merged else {}

        def unchanged(f: str) -> bool:
            was = unicodedata.normalize("NFC", cell_text(typed.get(f))).strip()
            if f == "sex":
                return _parse_sex(was) == clean[f]
            return unicodedata.normalize("NFC", merged[f][0]).strip() == was or clean[f] == was

        return {f: merged[f] for f in clean if not unchanged(f)}

    def _render_edit_preview(self) -> None:
        from vaxlib.review.ledger import InvalidEditError

        form = self.edit_form
        if self.current is None or form.box.layout.display == "none":
            form.preview.value = ""
            return
        lang = self.lang
        try:
            plan = self.edit_plan()
        except InvalidEditError:
            form.preview.value = ""  # the error line says what is wrong when Lưu is pressed
            return
        if not plan:
            form.preview.value = f"<i style='{_TEXT_STYLE}'>{html.escape(_t('no_change', lang))}</i>"
            return
        reveal = bool(self.reveal.value)
        items = []
        for f, (value, source) in plan.items():
            shown = display_sex(_parse_sex(value) or value, lang) if f == "sex" else (
                mask_id(value) if f == "id_number" and not reveal else value)
            items.append(f"<li>{html.escape(_field_label(f, lang))}: <b>{html.escape(shown)}</b> "
                         f"<small>({html.escape(_t('source_' + source, lang))})</small></li>")
        form.preview.value = (f"<div style='{_TEXT_STYLE}'>{html.escape(_t('will_write', lang))}"
                              f"<ul style='margin:2px 0'>{''.join(items)}</ul></div>")

    def _save_edit(self) -> None:
        from vaxlib.review.ledger import InvalidEditError

        rid = self.current
        if rid is None:
            return
        try:
            plan = self.edit_plan()
        except InvalidEditError as exc:
            self._show_invalid(exc)
            return
        if not plan:
            self.edit_form.error.value = f"<span style='color:#b71c1c'>{html.escape(_t('no_change', self.lang))}</span>"
            return
        values = {f: v for f, (v, _) in plan.items()}
        reason = self._reason("edit")
        if reason is None:
            return
        try:
            ev = self._append(lambda: self.ledger.edit(rid, values, analyst=self.analyst, **reason,
                                                       idempotency_key=uuid.uuid4().hex))
        except InvalidEditError as exc:
            self._show_invalid(exc)
            return
        if ev is None:
            return
        self._after_decision([ev], rid, "edit")

    def _show_invalid(self, exc: Any) -> None:
        label = _field_label(exc.field, self.lang) if exc.field in _FIELD_LABELS else exc.field
        self.edit_form.error.value = (f"<span style='{_TEXT_STYLE};color:#b71c1c'>"
                                      f"{html.escape(_t('invalid', self.lang, field=label, reason=exc.reason))}</span>")

    def bulk_targets(self) -> list[str]:
        """Records the bulk button would accept: the chosen cluster's queued records that have a suggestion."""
        cid = self.filters.cluster.value
        if not cid:
            return []
        members = self._records_of_cluster(cid)
        return [r for r in self.queue() if r in members and self._suggested_person(r)
                and cell_text(self._mis.at[r, "status"]) in ("fix", "review")]

    def _ask_bulk(self) -> None:
        cid = self.filters.cluster.value
        if not cid:
            self._say(_t("bulk_need_cluster", self.lang), error=True)
            return
        targets = self.bulk_targets()
        if not targets:
            self._say(_t("bulk_none", self.lang), error=True)
            return
        col = "description_vi" if self.lang == "vi" else "description_en"
        desc = cell_text(self.clusters.loc[self.clusters["cluster_id"] == cid, col].iloc[0])
        self._pending_bulk = (cid, targets)
        self.bulk_question.value = (f"<b style='{_TEXT_STYLE}'>"
                                    f"{html.escape(_t('bulk_confirm', self.lang, n=len(targets), desc=desc))}</b>")
        self.bulk_box.layout.display = "flex"

    def _cancel_bulk(self) -> None:
        self._pending_bulk = None
        self.bulk_box.layout.display = "none"
        self._say(_t("bulk_cancelled", self.lang))

    def _confirm_bulk(self) -> None:
        if self._pending_bulk is None:
            return
        cid, targets = self._pending_bulk
        self._pending_bulk = None
        self.bulk_box.layout.display = "none"
        events = self._append(lambda: self.ledger.bulk_accept(targets, analyst=self.analyst, cluster_id=cid,
                                                              idempotency_key=uuid.uuid4().hex))
        if not events:
            return
        self.last_events = list(events)
        self._undo_stack.append(("bulk", events[0].bulk_id, self.current or targets[0], "bulk_accept"))
        if events[0].values.get("needs_confirmation"):
            self._say(_t("bulk_pending", self.lang, n=len(events)))
            if self.supervisor is not None:
                self.supervisor.refresh()
        else:
            self._say(_t("bulk_done", self.lang, n=len(events), first=events[0].id, last=events[-1].id))
        keep = self.current
        self._load_decisions()
        self._update_progress()
        self.show(keep if keep in self.queue() else self._next_after(keep))

    def _undo(self) -> None:
        if not self._undo_stack:
            self._say(_t("nothing_to_undo", self.lang), error=True)
            return
        kind, ref, rid, what = self._undo_stack[-1]
        if kind == "bulk":
            events = self._append(lambda: self.ledger.undo_bulk(ref, analyst=self.analyst,
                                                                idempotency_key=uuid.uuid4().hex))
        else:
            ev = self._append(lambda: self.ledger.undo(ref, analyst=self.analyst, idempotency_key=uuid.uuid4().hex))
            events = [ev] if ev is not None else None
        if not events:
            return
        self._undo_stack.pop()
        self.last_events = list(events)
        self._say(_t("undone", self.lang, what=action_label(what, self.lang), eid=events[-1].id))
        self._load_decisions()
        self._update_progress()
        self.show(rid if rid in self._matches.index else self._next_after(None))

    def _on_filter(self, change: dict) -> None:
        if change["owner"] is self.filters.province:
            self._update_facility_options()
        self._pending_bulk = None
        self.bulk_box.layout.display = "none"
        self.message.value = ""
        self.refresh()

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a frontend
        from IPython.display import display

        display(self.widget)


def review_panel(
    vaccinations: pd.DataFrame,
    matches: pd.DataFrame,
    candidates: pd.DataFrame | None,
    ledger: Any,
    analyst: str,
    lang: str = "vi",
    *,
    registry: pd.DataFrame | None = None,
    clusters: pd.DataFrame | None = None,
    status: str = "review",
) -> ReviewPanel:
    """Build the review queue.

    Parameters
    ----------
    vaccinations, matches
        Contract tables (``matches`` from ``vax match``).
    candidates
        ``candidates.parquet`` from ``vax match`` (for the candidates and the
        waterfall); None shows only the suggested person.
    ledger
        An open :class:`vaxlib.review.ledger.Ledger`; every button appends to it.
    analyst
        Who decides; recorded with every event.
    lang
        ``"vi"`` (default) or ``"en"``.
    registry
        The register, to show every candidate's values (optional).
    clusters
        Output of :func:`vaxlib.review.clusters.find_clusters` (computed when None).
    status
        Initial match-status filter: ``"review"`` (default), ``"fix"``,
        ``"unmatched"`` or ``""`` for all mismatches.

    Returns
    -------
    ReviewPanel
        Display ``panel.widget`` (or the panel itself in a notebook).
    """
    return ReviewPanel(vaccinations, matches, candidates, ledger, analyst, registry=registry,
                       clusters=clusters, lang=lang, status=status)


class BulkConfirmBox:
    """A supervisor's list of other people's bulk acceptances waiting for confirmation.

    Named widgets: ``choice`` (Dropdown of waiting bulk ids), ``confirm``
    (Button), ``row`` (the two, hidden while nothing waits), ``message``
    (HTML) and ``box`` (hidden while nothing waits and nothing was said).
    ``on_change`` is called after a confirmation (the review panel re-reads
    its queue: the confirmed records now count as decided).
    """

    def __init__(self, ledger: Any, analyst: str, lang: str, on_change: Callable[[], None] | None = None):
        self.ledger, self.analyst, self.lang, self.on_change = ledger, analyst, lang, on_change
        self.title = W.HTML(f"<b style='{_TEXT_STYLE}'>{html.escape(_i18n.t('team.sup_title', lang))}</b>")
        self.choice = W.Dropdown(options=[], layout=W.Layout(width="46em"))
        self.confirm = W.Button(description=_i18n.t("team.sup_confirm", lang), button_style="success",
                                icon="check", tooltip=_i18n.t("team.sup_tip", lang))
        self.confirm.add_class("vax-bulk-supervisor-confirm")
        self.message = W.HTML()
        self.row = W.HBox([self.choice, self.confirm])
        self.box = W.VBox([self.title, self.row, self.message],
                          layout=W.Layout(display="none", border="1px solid #ffb74d", padding="6px"))
        self.box.add_class("vax-bulk-supervisor")
        self.confirm.on_click(lambda _: self.confirm_selected())
        self.refresh()

    def _me(self) -> str:
        return self.ledger.identity() or self.analyst

    def refresh(self) -> None:
        """Re-read the waiting bulk acceptances (this role's provinces only, on PostgreSQL)."""
        waiting = self.ledger.pending_bulks()
        waiting = waiting[waiting["analyst"].astype(str) != self._me()]  # one's own needs another person
        lang = self.lang
        self.choice.options = [
            (_i18n.t("team.sup_item", lang, n=_i18n.fmt_int(r.records, lang), province=_province_label(
                cell_text(r.province)) if cell_text(r.province) else "-", analyst=r.analyst,
                time=_i18n.fmt_datetime(pd.Timestamp(r.time).tz_convert("Asia/Ho_Chi_Minh").tz_localize(None),
                                        lang)), str(r.bulk_id))  # the ledger's UTC, shown in Viet Nam time
            for r in waiting.itertuples(index=False)]
        self._owners = dict(zip(waiting["bulk_id"].astype(str), waiting["analyst"].astype(str)))
        if self.choice.value not in self._owners:
            self.choice.value = next(iter(self._owners), None)
        self.row.layout.display = "flex" if len(waiting) else "none"
        # stays up after the last confirmation, so its message can be read
        self.box.layout.display = "flex" if len(waiting) or self.message.value else "none"

    def confirm_selected(self) -> Any:
        """Confirm the chosen bulk acceptance; returns the ``confirm_bulk`` event (None when refused)."""
        from vaxlib.review.ledger import LedgerError

        bulk_id = self.choice.value
        if not bulk_id:
            return None
        try:
            ev = self.ledger.confirm_bulk(bulk_id, analyst=self.analyst, idempotency_key=uuid.uuid4().hex)
        except LedgerError as exc:
            log.warning("bulk confirmation refused: %s", type(exc).__name__)
            self.message.value = f"<span style='{_TEXT_STYLE};color:#b71c1c'>" \
                                 f"{html.escape(_t('ledger_error', self.lang, error=str(exc)))}</span>"
            return None
        self.message.value = f"<span style='{_TEXT_STYLE};color:#1b5e20'>" + html.escape(_i18n.t(
            "team.sup_done", self.lang, n=_i18n.fmt_int(ev.values.get("records", 0), self.lang),
            analyst=self._owners.get(bulk_id, "?"), eid=ev.id)) + "</span>"
        self.refresh()
        if self.on_change is not None:
            self.on_change()
        return ev


# --------------------------------------------------------------------------- explore panel

_DRILL_COLUMNS = ("record_id", "facility_id", "vaccination_date", "full_name", "dob", "sex", "id_number",
                  "status", "error_codes")


def _drill_heads(lang: str) -> dict[str, str]:
    return {
        "record_id": _t("record_id", lang), "facility_id": ui_label("facility", lang),
        "vaccination_date": _t("date", lang), "full_name": _field_label("full_name", lang),
        "dob": _field_label("dob", lang), "sex": _field_label("sex", lang),
        "id_number": _field_label("id_number", lang), "status": _t("status", lang),
        "error_codes": _t("errors", lang),
    }


def records_html(records: pd.DataFrame, lang: str = "vi", *, limit: int = 50) -> str:
    """HTML table of records for a drill-down, ID numbers masked, error codes labelled."""
    check_lang(lang)
    head_labels = _drill_heads(lang)
    cols = [c for c in _DRILL_COLUMNS if c in records.columns]
    th = "".join(f"<th style='text-align:left;padding:3px 6px'>{html.escape(head_labels[c])}</th>" for c in cols)
    body = []
    for _, r in records.head(limit).iterrows():
        cells = []
        for c in cols:
            v = cell_text(r[c])
            if c == "id_number":
                v = mask_id(v)
            elif c == "status":
                v = status_label(v, lang)
            elif c == "error_codes":
                v = ", ".join(error_label(x, lang) for x in v.split(";") if x)
            elif c == "vaccination_date":
                v = _i18n.fmt_date(v, lang)
            cells.append(f"<td style='padding:3px 6px'>{html.escape(v)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = len(records) - limit
    tail = f"<p>{html.escape(_t('drill_more', lang, n=more))}</p>" if more > 0 else ""
    return (f"<div style='{_TEXT_STYLE};font-size:13px'><table style='border-collapse:collapse'>"
            f"<tr style='border-bottom:1px solid #ccc'>{th}</tr>{''.join(body)}</table>{tail}</div>")


class FullTextTable(pd.DataFrame):
    """A DataFrame whose notebook display shows every cell whole.

    pandas cuts cells at 50 characters in its display ("CS-01-0002 typed dates
    of birth in another for..."); a cluster's description is the point of the
    table, so it is shown in full, in HTML and as text.
    """

    @property
    def _constructor(self):
        return FullTextTable

    def _repr_html_(self):
        with pd.option_context("display.max_colwidth", None):
            return super()._repr_html_()

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None):
            return super().__repr__()


def clusters_table(clusters: pd.DataFrame, lang: str = "vi", *, limit: int = 20) -> pd.DataFrame:
    """The largest clusters as a table with headers in ``lang`` (the text twin of :func:`clusters_html`);
    displayed in a notebook, descriptions are never cut (:class:`FullTextTable`)."""
    check_lang(lang)
    col = "description_vi" if lang == "vi" else "description_en"
    heads = [_t("rank", lang), _t("description", lang), ui_label("records", lang), _t("n_fix", lang),
             _t("n_review", lang), _t("n_unmatched", lang)]
    c = clusters.head(limit)[["rank", col, "n_records", "n_fix", "n_review", "n_unmatched"]]
    return FullTextTable(c.set_axis(heads, axis=1).reset_index(drop=True))


def clusters_html(clusters: pd.DataFrame, lang: str = "vi", *, limit: int = 20) -> str:
    """HTML table of the largest clusters (rank, description, counts by status)."""
    check_lang(lang)
    if clusters is None or not len(clusters):
        return f"<p>{html.escape(_t('no_clusters', lang))}</p>"
    col = "description_vi" if lang == "vi" else "description_en"
    heads = [_t("rank", lang), _t("description", lang), ui_label("records", lang), _t("n_fix", lang),
             _t("n_review", lang), _t("n_unmatched", lang)]
    th = "".join(f"<th style='text-align:left;padding:3px 6px'>{html.escape(h)}</th>" for h in heads)
    rows = []
    for _, r in clusters.head(limit).iterrows():
        vals = [r["rank"], r[col], r["n_records"], r["n_fix"], r["n_review"], r["n_unmatched"]]
        rows.append("<tr>" + "".join(f"<td style='padding:3px 6px'>{html.escape(cell_text(v))}</td>" for v in vals) + "</tr>")
    return (f"<div style='{_TEXT_STYLE};font-size:13px'><table style='border-collapse:collapse'>"
            f"<tr style='border-bottom:1px solid #ccc'>{th}</tr>{''.join(rows)}</table></div>")


class ExplorePanel:
    """Cluster table, figures and drill-down; build with :func:`explore_panel`.

    Named widgets: ``table`` (HTML of the largest clusters), ``cluster``
    (Dropdown choosing the cluster to drill into), ``records`` (HTML of the
    chosen cluster's records, IDs masked), ``figures`` (Tab of
    ``go.FigureWidget``: clusters, treemap, heatmap, timeline; clicking a
    cluster bar drills down), ``bar``, ``treemap``, ``heatmap``,
    ``timeline`` and ``widget``.  ``drilled`` is the drill-down DataFrame.
    """

    def __init__(self, vaccinations: pd.DataFrame, matches: pd.DataFrame, *, lang: str = "vi", top: int = 20,
                 clusters: pd.DataFrame | None = None, drill_limit: int = 50,
                 export_dir: str | None = None, ledger: Any = None) -> None:
        import plotly.graph_objects as go

        from vaxlib import plots
        from vaxlib.review.clusters import find_clusters

        check_lang(lang)
        self.lang = lang
        self._vaccinations, self._matches = vaccinations, matches
        self.clusters = clusters if clusters is not None else find_clusters(vaccinations, matches, top=max(top, 1))
        self.drill_limit = drill_limit
        self.drilled: pd.DataFrame | None = None
        col = "description_vi" if lang == "vi" else "description_en"
        self.table = W.HTML(clusters_html(self.clusters, lang, limit=top))
        options = [("—", "")] + [
            (f"#{r['rank']} · {r[col]}", str(r["cluster_id"])) for _, r in self.clusters.head(top).iterrows()]
        self.cluster = W.Dropdown(options=options, value="", description=_t("drill", lang),
                                  style={"description_width": "initial"}, layout=W.Layout(width="52em"))
        self.cluster.add_class("vax-cluster-chooser")
        self.records = W.HTML(f"<p>{html.escape(_t('drill_none', lang))}</p>")
        self.bar = go.FigureWidget(plots.cluster_bar(self.clusters, top=min(top, 15), lang=lang)) \
            if len(self.clusters) else go.FigureWidget()
        self.treemap = go.FigureWidget(plots.error_treemap(vaccinations, matches, lang=lang))
        self.heatmap = go.FigureWidget(plots.facility_error_heatmap(vaccinations, matches, lang=lang))
        self.timeline = go.FigureWidget(plots.errors_over_time(vaccinations, matches, lang=lang))
        self.figures = W.Tab(children=[self.bar, self.treemap, self.heatmap, self.timeline])
        for i, key in enumerate(("clusters_title", "treemap", "heatmap", "timeline")):
            self.figures.set_title(i, ui_label(key, lang) if key == "clusters_title" else _t(key, lang))
        if len(self.bar.data):
            self.bar.data[0].on_click(self._on_bar_click)
        self.cluster.observe(lambda ch: self.drill(ch["new"]), names="value")
        from vaxlib.config import OUTPUTS_DIR

        self.export_dir = Path(export_dir) if export_dir else OUTPUTS_DIR / "exports"
        self._ledger = ledger
        self.export = W.Button(description=_t("export", lang), icon="file-excel-o", button_style="primary",
                               disabled=True, tooltip=_t("export_tip", lang),
                               layout=W.Layout(width="auto", flex="0 0 auto"))
        self.export.add_class("vax-export-cluster")
        self.export_message = W.HTML()
        self.export.on_click(lambda _: self._export_clicked())
        # OpenRefine-style: sort the drill-down by any column, facet it by match status and error
        head = _drill_heads(lang)
        self.sort_by = W.Dropdown(options=[(head[c], c) for c in _DRILL_COLUMNS], value="record_id",
                                  description=_t("sort_by", lang), style={"description_width": "initial"})
        self.descending = W.Checkbox(value=False, description=_t("descending", lang), indent=False,
                                     layout=W.Layout(width="auto"))
        self.facet_status = W.Dropdown(options=[(_t("all", lang), "")], value="", description=_t("status", lang),
                                       style={"description_width": "initial"})
        self.facet_error = W.Dropdown(options=[(_t("all", lang), "")], value="", description=_t("errors", lang),
                                      style={"description_width": "initial"})
        for w in (self.sort_by, self.descending, self.facet_status, self.facet_error):
            w.observe(lambda ch: self._render_records(), names="value")
        self.tools = W.Box([self.sort_by, self.descending, self.facet_status, self.facet_error],
                           layout=W.Layout(flex_flow="row wrap", display="none"))
        title = W.HTML(f"<h3 style='margin:4px 0'>{html.escape(_t('explore_title', lang))}</h3>")
        self.widget = W.VBox([title, self.table, self.figures, self.cluster,
                              W.Box([self.export, self.export_message], layout=W.Layout(flex_flow="row wrap",
                                                                                      align_items="center")),
                              self.tools, self.records], layout=W.Layout())
        self.widget.add_class("vax-explore-panel")

    def _on_bar_click(self, trace: Any, points: Any, selector: Any) -> None:
        inds = list(getattr(points, "point_inds", []) or [])
        if inds:
            self.cluster.value = str(trace.customdata[inds[0]])

    def drill(self, cluster_id: str) -> pd.DataFrame | None:
        """Show the records of one cluster (``""`` clears); returns them."""
        from vaxlib.review.clusters import cluster_records

        if self.cluster.value != cluster_id:
            self.cluster.value = cluster_id  # observer calls back here
            return self.drilled
        self.export_message.value = ""
        if not cluster_id:
            self.drilled = None
            self.export.disabled = True
            self.records.value = f"<p>{html.escape(_t('drill_none', self.lang))}</p>"
            return None
        self.drilled = cluster_records(self.clusters, cluster_id, self._vaccinations, self._matches)
        self._update_facets()
        self._render_records()
        self.export.disabled = False
        return self.drilled

    def _update_facets(self) -> None:
        d = self.drilled
        lang = self.lang
        st = d["status"].astype(str).value_counts() if "status" in d else pd.Series(dtype=int)
        codes = pd.Series([c for cs in d.get("error_codes", pd.Series(dtype=str)).fillna("").astype(str)
                           for c in cs.split(";") if c]).value_counts()
        with self.facet_status.hold_trait_notifications(), self.facet_error.hold_trait_notifications():
            self.facet_status.value = ""
            self.facet_status.options = [(_t("all", lang), "")] + [
                (f"{status_label(k, lang)} ({_i18n.fmt_int(n, lang)})", k) for k, n in st.items()]
            self.facet_error.value = ""
            self.facet_error.options = [(_t("all", lang), "")] + [
                (f"{error_label(k, lang)} ({_i18n.fmt_int(n, lang)})", k) for k, n in codes.items()]
        self.tools.layout.display = "flex"

    def visible_records(self) -> pd.DataFrame:
        """The drilled records under the facets, in the chosen order."""
        d = self.drilled
        if d is None:
            return pd.DataFrame()
        if self.facet_status.value:
            d = d[d["status"].astype(str) == self.facet_status.value]
        if self.facet_error.value:
            code = self.facet_error.value
            d = d[[code in str(x).split(";") for x in d["error_codes"].fillna("")]]
        col = self.sort_by.value
        if col in d:
            if col in ("dob", "vaccination_date"):  # by date, however the day and month were typed
                key = pd.to_datetime(d[col].astype(str), errors="coerce", dayfirst=True, format="mixed")
            else:
                key = d[col].astype(str)
            d = d.assign(_k=key.to_numpy()).sort_values("_k", ascending=not self.descending.value,
                                                         kind="stable", na_position="last").drop(columns="_k")
        return d

    def _render_records(self) -> None:
        if self.drilled is None:
            return
        self.records.value = records_html(self.visible_records(), self.lang, limit=self.drill_limit)

    def export_cluster(self, cluster_id: str | None = None) -> Path:
        """Write the records of a cluster to ``export_dir`` as .xlsx for the facility that must fix them.

        The platform's re-import layout (Vietnamese headers, every cell text,
        formula-like values neutralised by :func:`vaxlib.io.write_table`),
        with the proposed corrections applied (automatic fixes, and the
        ledger's decisions when the panel has a ledger): the facility can
        compare, correct its own system and re-import.  Written to a temporary
        name and moved into place.  Returns the file's path.
        """
        import os

        from vaxlib.io import write_table
        from vaxlib.review.apply import apply_decisions
        from vaxlib.review.clusters import cluster_record_ids

        cid = cluster_id or self.cluster.value
        if not cid:
            raise ValueError("choose a cluster first")
        ids = set(cluster_record_ids(self.clusters, cid, self._vaccinations, self._matches))
        v = self._vaccinations[self._vaccinations["record_id"].astype(str).isin(ids)]
        m = self._matches[self._matches["record_id"].astype(str).isin(ids)]
        decisions = self._ledger.current_decisions() if self._ledger is not None else None
        table = apply_decisions(v, m, decisions).table
        row = self.clusters.loc[self.clusters["cluster_id"] == cid].iloc[0]
        stem = "-".join(p for p in ("cum", cell_text(row.get("facility_id")), cell_text(row.get("pattern")),
                                    cell_text(row.get("period"))) if p)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", stem) + ".xlsx"
        self.export_dir.mkdir(parents=True, exist_ok=True)
        path = self.export_dir / name
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            write_table(table, tmp, "vaccinations", format="xlsx")
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    def _export_clicked(self) -> None:
        lang = self.lang
        try:
            path = self.export_cluster()
        except (OSError, ValueError) as exc:
            self.export_message.value = (f"<span style='{_TEXT_STYLE};color:#b71c1c'>"
                                         f"{html.escape(_t('export_failed', lang, error=type(exc).__name__))}</span>")
            return
        n = len(self.drilled) if self.drilled is not None else 0
        row = self.clusters.loc[self.clusters["cluster_id"] == self.cluster.value].iloc[0]
        self.export_message.value = (f"<span style='{_TEXT_STYLE};color:#1b5e20'>"
                                     f"{html.escape(_t('exported', lang, n=_i18n.fmt_int(n, lang), path=str(path), facility=cell_text(row.get('facility_id'))))}"
                                     f"</span>")

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a frontend
        from IPython.display import display

        display(self.widget)


def explore_panel(vaccinations: pd.DataFrame, matches: pd.DataFrame, lang: str = "vi", *, top: int = 20,
                  clusters: pd.DataFrame | None = None, export_dir: str | None = None,
                  ledger: Any = None) -> ExplorePanel:
    """Build the error explorer of notebook 01.

    Parameters
    ----------
    vaccinations, matches
        Contract tables.
    lang
        ``"vi"`` (default) or ``"en"``.
    top
        Number of clusters in the table, the bar chart and the drill-down list.
    clusters
        Output of :func:`vaxlib.review.clusters.find_clusters` (computed when None).
    export_dir
        Where *Xuất cụm ra Excel* writes (default ``outputs/exports``).
    ledger
        A :class:`vaxlib.review.ledger.Ledger` whose decisions the export applies (optional).
    """
    return ExplorePanel(vaccinations, matches, lang=lang, top=top, clusters=clusters, export_dir=export_dir,
                        ledger=ledger)


# ------------------------------------------------------------ feedback queue
def _ft(key: str, lang: str, **kw: Any) -> str:
    return _i18n.t(f"feedback.{key}", lang, **kw)


def _category(code: Any, lang: str) -> str:
    from vaxlib.review.labels import FEEDBACK_CATEGORY_LABELS

    code = cell_text(code)
    if not code:
        return "—"
    return FEEDBACK_CATEGORY_LABELS.get(code, {"vi": code, "en": code})["vi" if lang == "vi" else "en"]


@dataclass
class FeedbackPanel:
    """The feedback queue of ``vax feedback`` beside the review panel.

    ``items`` lists the queued feedback; the details show the citizen's own
    message (from ``messages``, the contract's feedback table, when given:
    the queue file holds no personal text), how long it has waited in days
    and hours, and every linked dose record; choosing one in ``records`` and
    pressing *open* puts it on the review panel, where the analyst decides it.
    """

    queue: pd.DataFrame
    lang: str
    review: "ReviewPanel | None"
    show_filter: W.Dropdown
    items: W.Select
    details: W.HTML
    records: W.Dropdown
    open_record: W.Button
    message: W.HTML
    widget: W.VBox
    messages: dict[str, str]

    def visible(self) -> pd.DataFrame:
        q = self.queue
        if self.show_filter.value == "overdue":
            q = q[q["overdue"].astype(bool)]
        elif self.show_filter.value == "open":
            q = q[~q["overdue"].astype(bool)]
        return q

    def refresh(self) -> None:
        q = self.visible()
        lang = self.lang
        self.items.options = [
            (f"{r.feedback_id} · {_category(r.category_citizen, lang)} · {r.reason_vi if lang == 'vi' else r.reason_en}"
             + (" · ⚠" if bool(r.overdue) else ""), r.feedback_id)
            for r in q.itertuples()
        ]
        self.items.value = self.items.options[0][1] if self.items.options else None
        self._render()

    def _render(self) -> None:
        lang = self.lang
        fid = self.items.value
        self.message.value = ""
        if fid is None:
            self.details.value = f"<i>{_ft('none', lang)}</i>"
            self.records.options = []
            self.open_record.disabled = True
            return
        row = self.queue[self.queue["feedback_id"] == fid].iloc[0]
        text = self.messages.get(str(fid), "")
        said = (f"<tr><td style='vertical-align:top'><b>{_ft('message', lang)}</b></td>"
                f"<td style='white-space:pre-wrap;max-width:40em'>«{html.escape(text)}»</td></tr>") if text else ""
        records = self.linked_records(fid)
        self.details.value = (
            f"<table style='{_TEXT_STYLE}'>"
            f"<tr><td><b>{_ft('category', lang)}</b></td><td>{html.escape(_category(row['category_citizen'], lang))}"
            f" / {html.escape(_category(row['category_system'], lang))}</td></tr>{said}"
            f"<tr><td><b>{_ft('reason', lang)}</b></td>"
            f"<td>{html.escape(cell_text(row['reason_vi'] if lang == 'vi' else row['reason_en']))}</td></tr>"
            f"<tr><td><b>{_ft('age', lang)}</b></td><td>{html.escape(_i18n.fmt_duration(row['age_hours'], lang))}"
            f"{' · ⚠ ' + html.escape(_ft('overdue', lang)) if bool(row['overdue']) else ''}</td></tr>"
            f"<tr><td><b>{_ft('linked', lang)}</b></td><td>{_i18n.fmt_int(len(records), lang)}</td></tr></table>"
        )
        self.records.options = [(r, r) for r in records]
        known = [r for r in records if self.review is not None and r in self.review._matches.index]
        self.records.value = (known or records or [None])[0]
        self.open_record.disabled = not records

    def linked_records(self, feedback_id: str) -> list[str]:
        row = self.queue[self.queue["feedback_id"] == feedback_id]
        if row.empty:
            return []
        ids = row.iloc[0]["record_ids"]
        if isinstance(ids, str):
            return [x for x in ids.split(";") if x]
        return [str(x) for x in (ids if ids is not None else [])]

    def open_selected(self) -> str | None:
        """Show the linked record chosen in ``records`` on the review panel; returns its id."""
        lang = self.lang
        rid = self.records.value
        if rid is not None and self.review is not None and rid in self.review._matches.index:
            self.review.show(rid)
            self.message.value = _ft("shown", lang, rid=html.escape(rid))
            return rid
        self.message.value = _ft("no_record", lang)
        return None


def feedback_panel(queue: pd.DataFrame, review: "ReviewPanel | None" = None, lang: str = "vi",
                   *, sla_hours: float = 48.0, messages: pd.DataFrame | None = None) -> FeedbackPanel:
    """Build the feedback-queue view (see :class:`FeedbackPanel`).

    ``queue`` is ``DIR/feedback/queue.parquet`` from ``vax feedback``;
    ``messages`` the contract's feedback table (``DIR/data/feedback.parquet``),
    whose ``message`` column is shown for the chosen item.
    """
    queue = queue.reset_index(drop=True)
    late = int(queue["overdue"].astype(bool).sum()) if len(queue) else 0
    show_filter = W.Dropdown(options=[(_ft("all", lang), "all"), (_ft("overdue", lang), "overdue"),
                                      (_ft("open", lang), "open")], value="all",
                             description=_ft("filter", lang))
    items = W.Select(options=[], rows=8, layout=W.Layout(width="100%", max_width="720px"))
    details = W.HTML()
    records = W.Dropdown(options=[], description=_ft("record", lang), style={"description_width": "initial"})
    button = W.Button(description=_ft("open_record", lang), icon="folder-open", button_style="info",
                      layout=W.Layout(width="auto", flex="0 0 auto"))
    message = W.HTML()
    header = W.HTML(f"<h3>{_ft('title', lang)}</h3><p>"
                    f"{_ft('summary', lang, n=_i18n.fmt_int(len(queue), lang), late=_i18n.fmt_int(late, lang), sla=_i18n.fmt_decimal(sla_hours, lang, 0))}</p>")
    texts: dict[str, str] = {}
    if messages is not None and len(messages) and "message" in messages:
        texts = {str(k): cell_text(v) for k, v in zip(messages["feedback_id"], messages["message"]) if cell_text(v)}
    panel = FeedbackPanel(queue=queue, lang=lang, review=review, show_filter=show_filter, items=items,
                          details=details, records=records, open_record=button, message=message,
                          widget=W.VBox([header, show_filter, items, details,
                                         W.Box([records, button], layout=W.Layout(flex_flow="row wrap")), message]),
                          messages=texts)
    show_filter.observe(lambda change: panel.refresh(), names="value")
    items.observe(lambda change: panel._render(), names="value")
    button.on_click(lambda _b: panel.open_selected())
    panel.refresh()
    return panel


# ------------------------------------------------------------ threshold explorer (researchers)
@dataclass
class ThresholdExplorer:
    """Two sliders (automatic-fix and review thresholds) and what they would give, as they move.

    ``summary`` shows precision and recall of the automatic links, the review
    load (records per status) and how often the review queue's top candidate
    is right; ``figure`` is the precision–recall curve with the chosen
    threshold marked.  ``values()`` returns the same numbers as a dict.
    """

    auto: W.FloatSlider
    review: W.FloatSlider
    summary: W.HTML
    figure: Any
    widget: W.VBox
    matches: pd.DataFrame
    truth: pd.DataFrame
    candidates: pd.DataFrame | None
    lang: str

    def values(self) -> dict[str, float]:
        from vaxlib.match import evaluate as ev
        from vaxlib.match.tuning import review_load, review_sweep

        a, r = float(self.auto.value), float(self.review.value)
        pr = ev.threshold_sweep(self.matches, self.truth, thresholds=np.array([a])).iloc[0]
        load = review_load(self.matches, a, r, self.lang).set_index("status")["share_value"]
        rs = review_sweep(self.matches, self.truth, self.candidates, thresholds=(r,)).iloc[0]
        return {"auto": a, "review": r, "precision": float(pr["precision"]), "recall": float(pr["recall"]),
                "fix": float(load["fix"]), "review_share": float(load["review"]),
                "unmatched": float(load["unmatched"]), "review_rows": int(rs["review_rows"]),
                "top_candidate_right": float(rs["top_candidate_right"])}

    def update(self) -> None:
        if self.review.value > self.auto.value:
            self.review.value = self.auto.value
        v = self.values()
        L = self.lang
        pct, dec = _i18n.fmt_pct, _i18n.fmt_decimal
        rows = [
            (_t("te_auto", L), dec(v["auto"], L, 3)), (_t("te_review", L), dec(v["review"], L, 3)),
            (_t("te_precision", L), pct(v["precision"], L, 2)), (_t("te_recall", L), pct(v["recall"], L, 2)),
            (status_label("fix", L), pct(v["fix"], L)),
            (status_label("review", L), f"{pct(v['review_share'], L)} ({_i18n.fmt_int(v['review_rows'], L)})"),
            (status_label("unmatched", L), pct(v["unmatched"], L)),
            (_t("te_top_right", L), pct(v["top_candidate_right"], L)),
        ]
        self.summary.value = (f"<table style='{_TEXT_STYLE}'>" + "".join(
            f"<tr><td style='padding:2px 10px 2px 0'>{html.escape(k)}</td><td style='text-align:right'>"
            f"<b>{html.escape(x)}</b></td></tr>" for k, x in rows) + "</table>")
        with self.figure.batch_update():
            self.figure.data[1].x = [v["recall"]]
            self.figure.data[1].y = [v["precision"]]


def threshold_explorer(matches: pd.DataFrame, truth: pd.DataFrame, candidates: pd.DataFrame | None = None,
                       lang: str = "vi", *, auto: float = 0.99, review: float = 0.5) -> ThresholdExplorer:
    """Build the Splink-style threshold slider of notebook 03 (see :class:`ThresholdExplorer`)."""
    import plotly.graph_objects as go

    from vaxlib.match import evaluate as ev

    check_lang(lang)
    sweep = ev.threshold_sweep(matches, truth, thresholds=np.unique(np.concatenate(
        [np.linspace(0.5, 0.99, 50), np.linspace(0.99, 1.0, 51)])))
    fig = go.FigureWidget(ev.pr_figure(sweep, lang=lang))
    fig.add_scatter(x=[], y=[], mode="markers", marker=dict(size=14, color="#c62828", symbol="x"),
                    name=_t("te_chosen", lang))
    fig.update_layout(height=360, width=520, showlegend=False, margin=dict(l=60, r=20, t=30, b=50))
    style = {"description_width": "14em"}
    a = W.FloatSlider(value=auto, min=0.5, max=1.0, step=0.001, description=_t("te_auto", lang), style=style,
                      readout=False, continuous_update=False, layout=W.Layout(width="36em"))
    r = W.FloatSlider(value=review, min=0.0, max=1.0, step=0.01, description=_t("te_review", lang), style=style,
                      readout=False, continuous_update=False, layout=W.Layout(width="36em"))
    summary = W.HTML()
    te = ThresholdExplorer(auto=a, review=r, summary=summary, figure=fig,
                           widget=W.VBox([a, r, W.Box([summary, fig], layout=W.Layout(flex_flow="row wrap"))]),
                           matches=matches, truth=truth, candidates=candidates, lang=lang)
    a.observe(lambda ch: te.update(), names="value")
    r.observe(lambda ch: te.update(), names="value")
    te.update()
    return te

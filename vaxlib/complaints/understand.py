"""Reading a citizen's complaint into claims the data can answer.

A message such as "Em tiêm mũi thứ ba Modena ngày 12/11 mà app ko hiện" says:
*dose 3* was given, the product was *Moderna*, on *12 November*, and it is
*missing*.  :func:`read_message` turns it into :class:`Claims`; the feedback
job (:mod:`vaxlib.feedback`) answers each claim against the person's
consolidated dose history and closes the complaint only when every claim is
answered.

Vietnamese as citizens type it:

* the text is folded with :func:`vaxlib.vn.text.fold_key` (lower case, no
  diacritics), so ``mũi``, ``mui`` and ``MŨI`` are one word; texting
  abbreviations (``ko``, ``k``, ``dc``, ``m3``, ``vx``, ``tt``, ``e``) are
  expanded first;
* dose ordinals in digits and words: ``mũi 3``, ``mũi thứ 3``, ``mũi thứ
  ba``, ``mũi ba``, ``liều 3``, ``M3``, ``lần tiêm thứ 3``, ``mũi đầu``;
  booster words (``mũi nhắc lại``, ``tăng cường``, ``booster``); counts
  (``đủ 3 mũi``, ``chỉ hiển thị 2 mũi``) are counts, not ordinals;
* dates ``20/04/2022``, ``20/4/22``, ``20-04-2022``, ``20.04.2022``,
  ``2022-04-20``, ``20 tháng 4 năm 2022``, ``20/4`` (year unknown);
* products by name, short name and misspelling (``AZ``, ``Astra``,
  ``Phizer``, ``Modena``, ``Vero``, ``Sinopharm``), each with its role: the
  product received (``tiêm Pfizer``, ``mà là Pfizer``) or the one recorded /
  denied (``ghi là AZ``, ``nhầm thành AZ``, ``không phải Pfizer``);
* who the complaint is about: the writer, a child (``con tôi``, ``bé``,
  ``cháu``) or another relative (``bố tôi``, ``mẹ em``, ``vợ tôi``).

Questions and account problems (vaccine passport procedure, VNeID locked,
OTP) are recognised so that they are routed, never closed as fixed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from vaxlib.vn.text import fold_key

__all__ = ["Claims", "read_message", "child_named", "INTENTS", "CATEGORY_OF_INTENT"]

#: what a complaint asks for, in the order they are recognised
INTENTS = ("account", "question", "duplicate_record", "wrong_vaccine", "not_mine", "wrong_personal_info",
           "missing_dose", "no_certificate", "vague")
#: intent -> contract feedback category
CATEGORY_OF_INTENT = {
    "account": "other", "question": "other", "vague": "other", "duplicate_record": "duplicate_record",
    "wrong_vaccine": "wrong_vaccine", "not_mine": "wrong_personal_info", "wrong_personal_info": "wrong_personal_info",
    "missing_dose": "missing_dose", "no_certificate": "wrong_personal_info",
}


@dataclass(frozen=True)
class Claims:
    """What a message claims (see the module docstring)."""

    intent: str
    doses: tuple[int, ...] = ()  #: dose numbers named ("mũi 3", "mũi thứ ba")
    booster: bool = False  #: a booster / additional dose is named without its number
    total_doses: int | None = None  #: "đủ 3 mũi": the citizen had this many doses
    fields: tuple[str, ...] = ()  #: personal fields said to be wrong: name, dob, id, sex, phone
    received: tuple[str, ...] = ()  #: products the citizen says they received (vaccine codes)
    recorded: tuple[str, ...] = ()  #: products said to be recorded wrongly or denied ("không phải AZ")
    dates: tuple[tuple[int, int, int | None], ...] = ()  #: (day, month, year or None)
    subject: str = "self"  #: "self", "child", or "relative" (an adult the writer writes for)
    topics: tuple[str, ...] = field(default=())  #: passport, account, schedule, ...

    @property
    def category(self) -> str:
        return CATEGORY_OF_INTENT[self.intent]


# ---------------------------------------------------------------- normalising
_TEXTING = [
    (r"\b(ko|k|hok|hong|khg|kh|kg)\b", "khong"), (r"\b(dc|duoc|dk)\b", "duoc"), (r"\bvx\b", "vac xin"),
    (r"\bvacxin\b|\bvaccine\b|\bvacin\b|\bvac-xin\b", "vac xin"), (r"\btt\b", "thong tin"),
    (r"\b(e|em|mk|mik)\b", "toi"), (r"\bj\b", "gi"), (r"\br\b", "roi"), (r"\bnhg\b", "nhung"),
    (r"\bvs\b", "voi"), (r"\bjup\b", "giup"), (r"\bng\s+(?=\d)", "ngay "), (r"\bcmt\b", "cmnd"),
    (r"\bsdt\b", "so dien thoai"), (r"\bcn\b", "chung nhan"), (r"\bng sinh\b", "ngay sinh"),
    (r"\bm\s?(\d)\b", r"mui \1"),  # M3, m 3
]
_TEXTING_RE = [(re.compile(a), b) for a, b in _TEXTING]


def normalise(message: str) -> str:
    """Fold and expand texting abbreviations: the text the patterns below read."""
    t = fold_key(message or "")
    t = re.sub(r"[“”\"'`]", " ", t)
    for rx, rep in _TEXTING_RE:
        t = rx.sub(rep, t)
    return re.sub(r"\s+", " ", t).strip()


# ---------------------------------------------------------------- doses
_WORD_NUM = {"nhat": 1, "mot": 1, "dau": 1, "hai": 2, "ba": 3, "tu": 4, "bon": 4, "nam": 5, "sau": 6, "bay": 7}
_ORDINAL_RE = re.compile(
    r"\b(?:mui|lieu|lan tiem|tiem lan)\s*(?:thu|so)?\s*(?:(\d)\b|(nhat|mot|hai|ba|tu|bon|nam|sau|bay)\b(?!\s*\d)"
    r"|(dau)\b)")
_COUNT_RE = re.compile(r"(?<![\d/.\-])\b([1-7]|mot|hai|ba|bon)\s*(?:mui|lieu|m)\b")
_SHOWN_RE = re.compile(r"\b(?:chi|ghi|hien thi|hien|con)\s*(?:co|la)?\s*([0-7])\b")
_BOOSTER_RE = re.compile(r"\b(nhac lai|mui nhac|tang cuong|booster|bo sung)\b")


def _doses(t: str) -> tuple[tuple[int, ...], int | None, bool]:
    doses = []
    spans = []
    for m in _ORDINAL_RE.finditer(t):
        n = int(m.group(1)) if m.group(1) else _WORD_NUM[m.group(2) or m.group(3)]
        if 1 <= n <= 7:
            doses.append(n)
            spans.append(m.span())
    counts = []
    for m in _COUNT_RE.finditer(t):
        if any(a <= m.start() < b for a, b in spans):
            continue
        w = m.group(1)
        counts.append(int(w) if w.isdigit() else _WORD_NUM[w])
    total = max(counts) if counts else None
    return tuple(sorted(set(doses))), total, bool(_BOOSTER_RE.search(t))


# ---------------------------------------------------------------- dates
_DATE_RES = [
    re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),
    re.compile(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})\b"),
    re.compile(r"\b(\d{1,2})\s*thang\s*(\d{1,2})(?:\s*(?:nam|/)\s*(\d{4}))?\b"),
    re.compile(r"\b(\d{1,2})/(\d{1,2})\b(?![/.\-]\d)"),
]
_ABOUT_EARLIER = re.compile(r"phan anh\s*(?:tu|vao)?\s*(?:hom|ngay)?\s*$")


def _dates(t: str) -> tuple[tuple[int, int, int | None], ...]:
    out: list[tuple[int, int, int | None]] = []
    taken: list[tuple[int, int]] = []
    for i, rx in enumerate(_DATE_RES):
        for m in rx.finditer(t):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            if _ABOUT_EARLIER.search(t[max(0, m.start() - 30):m.start()]):
                taken.append(m.span())  # the date of an earlier complaint, not of a dose
                continue
            g = m.groups()
            if i == 0:
                y, mo, d = int(g[0]), int(g[1]), int(g[2])
            else:
                d, mo = int(g[0]), int(g[1])
                y = int(g[2]) if len(g) > 2 and g[2] else None
                if y is not None and y < 100:
                    y += 2000
            if 1 <= d <= 31 and 1 <= mo <= 12 and (y is None or 2020 <= y <= 2023):
                out.append((d, mo, y))
                taken.append(m.span())
    return tuple(out)


# ---------------------------------------------------------------- products
_PRODUCT_WORDS: dict[str, tuple[str, ...]] = {
    "AZ": ("astrazeneca", "astra", "az", "vaxzevria", "covishield", "asta", "astrazenica", "zeneca", "azt"),
    "PF": ("pfizer", "phizer", "pfize", "pfizzer", "biontech", "comirnaty", "faizo", "phaizo", "pfizo", "fizer"),
    "MO": ("moderna", "modena", "mordena", "modenna", "spikevax", "moderma"),
    "VC": ("vero", "verocell", "sinopharm", "sinopham", "sino", "veroxeo", "verosel"),
    "SV": ("sputnik", "sputnic", "spudnik"),
    "AB": ("abdala", "adbala", "abdalla"),
    "HV": ("hayat", "hayatvax"),
}
_WORD_PRODUCT = {w: p for p, ws in _PRODUCT_WORDS.items() for w in ws}


def _edit1(a: str, b: str) -> bool:
    """One substitution, insertion, deletion or adjacent swap apart."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    s, l_ = (a, b) if la < lb else (b, a)
    return any(l_[:i] + l_[i + 1:] == s for i in range(len(l_)))


def product_of_word(word: str) -> str | None:
    """A product code for one folded word (misspellings one edit away from a name of 5+ letters)."""
    w = word.replace("-", "")
    if w in _WORD_PRODUCT:
        return _WORD_PRODUCT[w]
    if len(w) >= 5:
        for cand, p in _WORD_PRODUCT.items():
            if len(cand) >= 5 and _edit1(w, cand):
                return p
    return None


_RECORDED_CUES = {"ghi", "nhap"}
_RECORDED_PAIRS = {("nham", "thanh"), ("ghi", "thanh"), ("hien", "thi"), ("bi", "thanh")}
_RECEIVED_CUES = {"tiem", "te", "dung"}


def _products(t: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    words = re.findall(r"[a-z0-9]+", t)
    received: list[str] = []
    recorded: list[str] = []
    prev_product = -1
    for i, w in enumerate(words):
        p = product_of_word(w)
        if p is None:
            continue
        if i > 0 and product_of_word(words[i - 1]) == p:  # "vero cell", "astra zeneca": one mention
            continue
        role = "received"
        for j in range(i - 1, max(prev_product, i - 7), -1):
            c = words[j]
            if c == "phai" and j > 0 and words[j - 1] == "khong":
                role = "recorded"
                break
            if c == "la":
                role = "received" if j > 0 and words[j - 1] in ("ma", "phai", "ra", "te", "dung") else "recorded"
                if j > 0 and words[j - 1] in ("ghi", "thanh", "hien"):
                    role = "recorded"
                break
            if c in _RECORDED_CUES or (j > 0 and (words[j - 1], c) in _RECORDED_PAIRS):
                role = "recorded"
                break
            if c in _RECEIVED_CUES:
                # "ghi toi tiem X": what the system wrote that I received
                role = "recorded" if "ghi" in words[max(0, j - 3):j] else "received"
                break
        (recorded if role == "recorded" else received).append(p)
        prev_product = i
    return tuple(dict.fromkeys(received)), tuple(dict.fromkeys(recorded))


# ---------------------------------------------------------------- the rest
_FIELD_RES = {
    "name": re.compile(r"\b(ho ten|ho va ten|ten cua toi|sai ten|ten)\b"),
    "dob": re.compile(r"\b(ngay sinh|nam sinh|ngay thang nam sinh|sinh nhat)\b"),
    "id": re.compile(r"\b(cccd|cmnd|can cuoc|dinh danh|so cmt|chung minh)\b"),
    "sex": re.compile(r"\b(gioi tinh)\b"),
    "phone": re.compile(r"\b(so dien thoai)\b"),
}
_CHILD_RE = re.compile(r"\b(con toi|con trai|con gai|be nha|con em|cho con|cua con|chau be|chau nha|"
                       r"phan anh giup chau|giup chau|cua chau|ho so cua chau|^chau)\b")
_ACCOUNT_RE = re.compile(r"\b(tai khoan|mat khau|otp|dang nhap|bi khoa|mo khoa)\b")
_QUESTION_RE = re.compile(r"\b(xin hoi|cho hoi|toi muon hoi|muon hoi|thu tuc|lam the nao|lam sao de|lam sao|"
                          r"xin cap|cap lai|bi mat|lam lai|"
                          r"khi nao|o dau|ho chieu|dang ky tiem|to chuc tiem)\b")
_MISSING_RE = re.compile(r"\b(thieu|chua (?:co|thay|duoc|cap nhat|hien|len)|khong (?:hien|thay|co)|"
                         r"chi (?:hien thi|co|hien|ghi)|van chua|mat mui|khong duoc cap nhat)\b")
_DUPLICATE_RE = re.compile(r"\b(hai lan|2 lan|trung|bi lap|lap lai|ghi lap)\b")
_WRONG_VACCINE_RE = re.compile(r"\b(loai vac xin|sai loai|nham vac xin|sai vac xin|ghi nham thanh|nham thanh)\b")
_NOT_MINE_RE = re.compile(r"\b(khong phai cua toi|khong he tiem|khong di tiem|khong tiem mui nay|"
                          r"cua nguoi khac|toi khong tiem|gan voi so)\b")
_WRONG_RE = re.compile(r"\b(sai|nham|khong dung|khong khop|sua lai|dieu chinh)\b")
_CERTIFICATE_RE = re.compile(r"\b(chung nhan|the xanh|giay xac nhan|ho chieu vac xin)\b")


_REFERENCE_ID_RE = re.compile(r"\b(so voi|theo|khac voi|nhu tren|dung voi)\s+(can cuoc cong dan|can cuoc|cccd|cmnd)\b")
_INTRO_NAME_RE = re.compile(r"\b((?:con(?: trai| gai)? (?:toi|em)|be nha toi|chau|toi|con|be)(?: la)?) ten\b")
#: an adult relative the writer writes for ("ba toi" is not "mui ba toi": the third dose)
_RELATIVE_RE = re.compile(r"(?<!mui )(?<!lieu )(?<!thu )\b(bo|ba|me|ma|ong|ba noi|ba ngoai|ong noi|ong ngoai|vo|chong|"
                          r"anh trai|chi gai|em trai|em gai|bo me|ba me)\s+(toi|minh)\b")
_RELATIVE_NAME_RE = re.compile(
    r"(?i:bo|ba|me|ma|ong|vo|chong|anh trai|chi gai|em trai|em gai|ba noi|ba ngoai|ong noi|ong ngoai)"
    r"\s+(?i:toi|em|e|minh)\s*(?i:ten|la)?\s*[:,]?\s*((?:[A-Z][a-z]*\s+){1,4}[A-Z][a-z]*)")
_CHILD_NAME_RE = re.compile(
    r"(?i:con toi|con trai toi|con gai toi|be nha toi|chau|con em|con trai em|con gai em|con trai e|con gai e|"
    r"con e|be|con)"
    r"\s*(?i:ten)?\s*[:,]?\s*((?:[A-Z][a-z]*\s+){1,4}[A-Z][a-z]*)")
_CHILD_DOB_RE = re.compile(r"^\s*(?:\(\s*([\d/.\-]{4,10})\s*\)|,?\s*(?i:sinh)\s*(?i:ngay|nam)?\s*([\d/.\-]{4,10}))")


def child_named(message: str | None) -> tuple[str, str] | None:
    """The name and typed date of birth ("" if not given) of the child (or relative) a message
    is written for, or None.

    Names are read where the writer capitalised them (``Con tôi tên Nguyễn
    Văn An sinh ngày 02/09/2010``, ``Bé nhà tôi Trần Gia Toàn (31102008)``).
    """
    from vaxlib.vn.text import fold_diacritics, nfc

    text = fold_diacritics(nfc(message or ""))
    m = _CHILD_NAME_RE.search(text) or _RELATIVE_NAME_RE.search(text)
    if not m:
        return None
    start, end = m.span(1)
    original = nfc(message or "")
    name = original[start:end].strip() if len(original) == len(text) else m.group(1).strip()
    d = _CHILD_DOB_RE.match(text[end:])
    return name, (d.group(1) or d.group(2)) if d else ""


def read_message(message: str | None) -> Claims:
    """The claims of one complaint message (see the module docstring)."""
    t = normalise(message or "")
    t = _REFERENCE_ID_RE.sub(" ", t)  # "sai so voi CCCD": the ID card is the reference, not the field
    t = _INTRO_NAME_RE.sub(r"\1", t)  # "con toi ten X": introduces a name, says nothing is wrong with it
    doses, total, booster = _doses(t)
    dates = _dates(t)
    received, recorded = _products(t)
    fields = tuple(f for f, rx in _FIELD_RES.items() if rx.search(t))
    subject = "child" if _CHILD_RE.search(t) else ("relative" if _RELATIVE_RE.search(t) else "self")
    topics = tuple(k for k, rx in (("account", _ACCOUNT_RE), ("passport", re.compile(r"\bho chieu\b")),
                                   ("certificate", _CERTIFICATE_RE)) if rx.search(t))
    shown = _SHOWN_RE.search(t)
    missing = bool(_MISSING_RE.search(t)) or bool(total and shown and int(shown.group(1)) < total)
    data_claim = bool(doses or dates or booster or total)
    if _ACCOUNT_RE.search(t) and not data_claim:
        intent = "account"
    elif _QUESTION_RE.search(t) and not (missing and data_claim) and not _NOT_MINE_RE.search(t):
        intent = "question"
    elif _DUPLICATE_RE.search(t):
        intent = "duplicate_record"
    elif recorded or _WRONG_VACCINE_RE.search(t):
        intent = "wrong_vaccine"
    elif _NOT_MINE_RE.search(t):
        intent = "not_mine"
    elif fields and _WRONG_RE.search(t):
        intent = "wrong_personal_info"
    elif subject == "child" and "id" in fields:
        intent = "wrong_personal_info"  # a child's dose entered under a parent's number
    elif missing and (doses or dates or booster or received or shown):
        intent = "missing_dose"
    elif "certificate" in topics or (missing and not data_claim and re.search(r"\b(thong tin tiem)\b", t)):
        intent = "no_certificate"
    elif missing and total:
        intent = "missing_dose"
    elif subject == "child" and (data_claim or fields):
        intent = "missing_dose"
    else:
        intent = "vague"
    return Claims(intent=intent, doses=doses, booster=booster, total_doses=total, fields=fields,
                  received=received, recorded=recorded, dates=dates, subject=subject, topics=topics)

"""Vietnamese syllable structure and repair of Telex / VNI keystroke residue.

When a facility's input method (Unikey, EVKey, …) is switched off, or set to
the wrong method, the keys typed to produce diacritics stay in the text:

* Telex: ``Nguyeenx`` (ee → ê, x → ngã), ``Thij`` (j → nặng), ``Hoangf``
  (f → huyền), ``Truongw`` / ``Truowng`` (w → horn), ``ddao`` (dd → đ);
* VNI: ``Nguye6n4`` / ``Nguye64n`` (6 → circumflex, 4 → ngã; 1 sắc, 2 huyền,
  3 hỏi, 5 nặng, 7 horn, 8 breve, 9 đ), often mixed with VIQR-style tone
  symbols (``Nguye6n~``: ~ ngã, ' sắc, ` huyền, ? hỏi).

The key conventions are the ones of the Telex and VNI methods as implemented
by the open-source input methods xvnkb / MacVNKB (Dao Hai Lam, 2002, GPL:
``telex-standard.h``, ``vni.h``) and Unikey.

:func:`repair_keystrokes` rewrites a token only where that is unambiguous:
the token must *not* already be a Vietnamese syllable (nor the diacritic-free
skeleton of one, so ``Tuyen`` or ``Hoang`` are left alone), and exactly one
reading of its keys must give a valid Vietnamese syllable.  Foreign names
(``Jones``, ``Maria``) do not parse as syllables and are left alone.

Syllable validity (:func:`is_syllable`) follows the standard description of
Vietnamese orthography — onset, rhyme (medial + nucleus + coda) and tone, with
the rule that a syllable closed by a stop (-c, -ch, -p, -t) carries only the
sắc or nặng tone (Đoàn Thiện Thuật, *Ngữ âm tiếng Việt*, 1977; see also
https://en.wikipedia.org/wiki/Vietnamese_phonology#Syllables).  It is
deliberately a little permissive: it is used to tell Vietnamese from
mojibake and keystroke residue, not to proof-read.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from vaxlib.vn.text import TONE_MARKS, fold_diacritics, nfc, set_tone_style, tone_key

__all__ = [
    "is_syllable",
    "is_skeleton",
    "place_tone",
    "repair_token",
    "repair_keystrokes",
]

GRAVE, ACUTE, HOOK, TILDE, DOT = TONE_MARKS

_ONSETS = (
    "", "b", "c", "ch", "d", "đ", "g", "gh", "gi", "h", "k", "kh", "l", "m",
    "n", "ng", "ngh", "nh", "p", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x",
)

_ONSETS_LONGEST_FIRST = tuple(sorted(_ONSETS, key=len, reverse=True))

_OPEN_RHYMES = (
    "a e ê i o ô ơ u ư y "
    "ai ao au ay âu ây eo êu ia iu oa oe oi ôi ơi ua uê ui uơ uy ưa ưi ưu "
    "oai oao oay oeo uây uôi uya uyu ươi ươu iêu yêu"
).split()

_CLOSED = {
    "a": "c ch m n ng nh p t",
    "ă": "c m n ng p t",
    "â": "c m n ng p t",
    "e": "c m n ng p t",
    "ê": "ch m n nh p t",
    "i": "ch m n nh p t",
    "o": "c m n ng p t",
    "ô": "c m n ng p t",
    "ơ": "m n p t",
    "u": "c m n ng p t",
    "ư": "c m n ng t",
    "iê": "c m n ng p t",
    "yê": "m n ng t",
    "uô": "c m n ng t",
    "ươ": "c m n ng p t",
    "oa": "c ch m n ng nh p t",
    "oă": "c m n ng t",
    "oe": "n t",
    "uâ": "n ng t",
    "uê": "ch n nh",
    "uy": "ch n nh p t",
    "uyê": "n t",
    "oo": "c ng",
    "ôô": "c ng",
}

_RHYMES = frozenset(_OPEN_RHYMES) | frozenset(
    nucleus + coda for nucleus, codas in _CLOSED.items() for coda in codas.split()
)
_STOP_CODAS = ("c", "ch", "p", "t")
_FRONT = ("i", "e", "ê", "y")
_VOWELS = frozenset("aăâeêioôơuưy")
_MODIFIED = frozenset("ăâêôơư")


def _split_tone(word: str) -> tuple[str, str, int]:
    """(toneless NFC lower word, tone mark, number of tone marks)."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    tones = [ch for ch in decomposed if ch in TONE_MARKS]
    bare = "".join(ch for ch in decomposed if ch not in TONE_MARKS)
    return unicodedata.normalize("NFC", bare), (tones[-1] if tones else ""), len(tones)


def _parses(bare: str):
    """Yield (onset, rhyme) splits of a toneless lower-case word, longest onset first
    (gi + a before g + ia: giả, not gỉa)."""
    for onset in _ONSETS_LONGEST_FIRST:
        if not bare.startswith(onset):
            continue
        rhyme = bare[len(onset):]
        if onset == "gi" and rhyme[:1] in ("ê", "") and "i" + rhyme in _RHYMES:
            # giếng = gi + iêng, gì = g + i: the i is shared.
            yield onset, "i" + rhyme
        if onset == "qu":
            # quỳnh, quyết: the u of qu doubles as the medial of uy/uyê.
            if not rhyme or rhyme[0] in "uư" or (
                rhyme not in _RHYMES and "u" + rhyme not in _RHYMES
            ):
                continue
            yield onset, rhyme
            continue
        if rhyme not in _RHYMES:
            continue
        if onset in ("k", "gh", "ngh") and not rhyme.startswith(_FRONT):
            continue
        if onset in ("c", "ng") and rhyme.startswith(("i", "e", "ê")):
            continue
        yield onset, rhyme


@lru_cache(maxsize=65536)
def is_syllable(word: str) -> bool:
    """True when ``word`` (any case, NFC or NFD) is a well-formed Vietnamese syllable.

    >>> is_syllable("Nguyễn"), is_syllable("thị"), is_syllable("NguyÔn")
    (True, True, False)
    >>> is_syllable("hoạt"), is_syllable("hoàt")  # stop coda takes sắc/nặng only
    (True, False)
    """
    bare, tone, n_tones = _split_tone(word)
    if not bare or n_tones > 1:
        return False
    for _onset, rhyme in _parses(bare):
        if tone and tone not in (ACUTE, DOT) and rhyme.endswith(_STOP_CODAS):
            continue
        if tone:
            # The mark must sit on the right vowel, in either convention
            # (hòa / hoà), not anywhere: 'leõ' is not 'lẽo'.
            placed = place_tone(bare, tone)
            low = nfc(word.lower())
            if placed is None or (low != placed and low != set_tone_style(placed, "new")):
                continue
        return True
    return False


def _all_skeletons() -> frozenset[str]:
    out = set()
    for onset in _ONSETS:
        for rhyme in _RHYMES:
            word = onset + rhyme
            if any(True for _ in _parses(word)):
                out.add(fold_diacritics(word))
    return frozenset(out)


_SKELETONS = _all_skeletons()


def is_skeleton(word: str) -> bool:
    """True when ``word`` is the diacritic-free spelling of some Vietnamese syllable.

    >>> is_skeleton("Nguyen"), is_skeleton("Tuyen"), is_skeleton("Thij")
    (True, True, False)
    """
    return fold_diacritics(word).lower() in _SKELETONS


def place_tone(bare: str, tone: str) -> str | None:
    """Put ``tone`` (a combining mark, or "") on the right vowel of a toneless syllable.

    Uses the old (kiểu cũ) convention for open oa/oe/uy (hòa, thủy); returns
    None when ``bare`` is not a Vietnamese syllable.

    >>> place_tone("nguyên", "\\u0303")
    'nguyễn'
    >>> place_tone("hoa", "\\u0300"), place_tone("hoan", "\\u0300")
    ('hòa', 'hoàn')
    """
    bare = nfc(bare)
    lower = bare.lower()
    for onset, rhyme in _parses(lower):
        if tone and tone not in (ACUTE, DOT) and rhyme.endswith(_STOP_CODAS):
            continue
        if not tone:
            return bare
        start = len(lower) - len(rhyme)  # for giếng this is the shared i
        cluster_len = 0
        while cluster_len < len(rhyme) and rhyme[cluster_len] in _VOWELS:
            cluster_len += 1
        cluster = rhyme[:cluster_len]
        has_coda = cluster_len < len(rhyme)
        modified = [i for i, ch in enumerate(cluster) if ch in _MODIFIED]
        if modified:
            pos = modified[-1]
        elif has_coda:
            pos = cluster_len - 1
        elif cluster_len == 3:
            pos = 1
        else:
            pos = 0
        idx = start + pos
        out = bare[: idx + 1] + tone + bare[idx + 1:]
        return nfc(out)
    return None


# ---------------------------------------------------------------- Telex
_TELEX_TONES = {"s": ACUTE, "f": GRAVE, "r": HOOK, "x": TILDE, "j": DOT}
_VNI_TONES = {"1": ACUTE, "2": GRAVE, "3": HOOK, "4": TILDE, "5": DOT,
              "'": ACUTE, "`": GRAVE, "?": HOOK, "~": TILDE}
_TELEX_DOUBLE = {"aa": "â", "ee": "ê", "oo": "ô", "dd": "đ"}
_TELEX_ONSETS = sorted((o for o in _ONSETS if o), key=len, reverse=True)


_LONE_W = re.compile(r"^([bcdghklmnpqrstvx]*)w(?!w)")


_HALF_HORN = re.compile(r"ưo(?=[cmnpt])|uơ(?=[cmnpt])|ưo$")


def _smart_horn(word: str) -> str:
    """ưo / uơ before a final consonant is ươ (Unikey's horn rule): the horn key was
    typed once (Truwongf, Tru7o2ng) where the syllable needs it on both vowels."""
    return _HALF_HORN.sub("ươ", word)


def _telex_reading(low: str) -> str | None:
    """The syllable a lower-case ASCII token means under Telex, or None."""
    # Unikey and EVKey read a w typed after a consonant (or first) as ư: Thw = Thư, Hwngf = Hừng.
    low = _LONE_W.sub(r"\1uw", low)
    head, body = "", low
    if body.startswith("dd"):
        head, body = "đ", body[2:]
    onset = None
    for cand in _TELEX_ONSETS + [""]:
        if head and cand:
            continue
        rest = body[len(cand):]
        if body.startswith(cand) and rest[:1] and rest[0] in "aeiouy":
            onset, word = head + cand, rest
            break
    if onset is None:
        return None
    tones = [ch for ch in word if ch in _TELEX_TONES]
    if len(tones) > 1:
        return None
    tone = _TELEX_TONES[tones[0]] if tones else ""
    word = "".join(ch for ch in word if ch not in _TELEX_TONES)
    for keys, letters in (("uwow", "ươ"), ("uow", "ươ"), ("uwo", "ươ"),
                          ("aw", "ă"), ("ow", "ơ"), ("uw", "ư")):
        word = word.replace(keys, letters)
    if word.endswith("w") and word.count("w") == 1:
        # w typed after the coda applies to the vowel cluster (truongw).
        core = word[:-1]
        for plain, horned in (("uo", "ươ"), ("a", "ă"), ("o", "ơ"), ("u", "ư")):
            if plain in core:
                word = core.replace(plain, horned, 1)
                break
    if "w" in word:
        return None
    for double, single in _TELEX_DOUBLE.items():
        word = word.replace(double, single)
    return place_tone(_smart_horn(onset + word), tone)


def _vni_reading(low: str) -> str | None:
    """The syllable a lower-case token with VNI digits / VIQR tone symbols means, or None."""
    letters: list[str] = []
    tone = ""
    n_tones = 0
    for ch in low:
        if ch in _VNI_TONES:
            tone = _VNI_TONES[ch]
            n_tones += 1
        elif ch == "6":
            for i in range(len(letters) - 1, -1, -1):
                if letters[i] in "aeo":
                    letters[i] = {"a": "â", "e": "ê", "o": "ô"}[letters[i]]
                    break
            else:
                return None
        elif ch == "7":
            for i in range(len(letters) - 1, -1, -1):
                if letters[i] in "ou":
                    letters[i] = {"o": "ơ", "u": "ư"}[letters[i]]
                    if letters[i] == "ơ" and i > 0 and letters[i - 1] == "u" and not (
                            i > 1 and letters[i - 2] == "q"):
                        letters[i - 1] = "ư"  # uo7 -> ươ, but the u of qu stays (quới)
                    break
            else:
                return None
        elif ch == "8":
            for i in range(len(letters) - 1, -1, -1):
                if letters[i] == "a":
                    letters[i] = "ă"
                    break
            else:
                return None
        elif ch == "9":
            if "d" not in letters:
                return None
            letters[letters.index("d")] = "đ"
        elif ch.isalpha():
            letters.append(ch)
        else:
            return None
    if n_tones > 1:
        return None
    return place_tone(_smart_horn("".join(letters)), tone)


_HAS_VNI = re.compile(r"[1-9'`?~]")
_TOKEN_OK = re.compile(r"^[A-Za-z][A-Za-z1-9'`?~]*$")


def _restore_case(original: str, repaired: str) -> str:
    letters = [ch for ch in original if ch.isalpha()]
    if len(letters) > 1 and all(ch.isupper() for ch in letters):
        return repaired.upper()
    if letters and letters[0].isupper():
        return repaired[:1].upper() + repaired[1:]
    return repaired


@lru_cache(maxsize=65536)
def _reading(token: str) -> tuple[str, str] | None:
    """(syllable, "vni" or "telex") that ``token``'s keys give, or None.

    A token that is already a syllable, or the bare skeleton of one, has no
    reading, except a skeleton whose only parse is the loan rhyme oong/ooc
    (boong, xoong: pots and decks, not names), which is far more often Telex
    residue of ông/ôc (``Coong`` for Công).
    """
    if not _TOKEN_OK.match(token):
        return None
    low = token.lower()
    if (is_syllable(low) or is_skeleton(low)) and not low.endswith(_LOAN_RHYMES):
        return None
    if _HAS_VNI.search(low):
        vni = _vni_reading(low)
        if vni is not None and vni != low and is_syllable(vni):
            return _restore_case(token, vni), "vni"
        return None
    if low.isalpha():
        telex = _telex_reading(low)
        if telex is not None and telex != low and is_syllable(telex):
            return _restore_case(token, telex), "telex"
    return None


_LOAN_RHYMES = ("oong", "ooc")
# Keys that make a letter (â ê ô đ, w for the horn and breve): rare in foreign names,
# unlike a trailing s, f, r, x or j (Hans, Max).
_MODIFIER_KEYS = re.compile(r"aa|ee|oo|dd|w")


@lru_cache(maxsize=65536)
def repair_token(token: str) -> str:
    """Repair one whitespace-free token without context; unchanged unless its keys
    read as exactly one valid syllable.

    This is the permissive reading; :func:`repair_keystrokes` decides whether a
    name is really keystroke residue.

    >>> repair_token("Nguyeenx"), repair_token("Thij"), repair_token("Nguye6n~")
    ('Nguyễn', 'Thị', 'Nguyễn')
    >>> repair_token("Tuyen"), repair_token("Jones"), repair_token("Coong")
    ('Tuyen', 'Jones', 'Công')
    """
    r = _reading(token)
    return token if r is None else r[0]


_SPLIT = re.compile(r"(\s+)")

# Share a word's reading must have in its place (family name first, given name last)
# when nothing else in the name shows residue: a lone "Max" is not Mã, nor is the
# first word of "Max Nguyen" (Mã is 0.04 % of family names); a lone "Nguyeenx" is
# Nguyễn, a last "Bachs" is Bách (any given name).
_ROLE_SHARE = {"any": 0.002, "family": 0.0005, "middle": 1e-9, "given": 1e-9}
# A Telex tone key typed inside the word, after its vowel (Thafnh, Basch), not last.
_INNER_TONE_KEY = re.compile(r"[aeiouy][a-z]*[sfrxj][a-z]*[a-z]$")


def repair_keystrokes(s: str, reference: str | None = None) -> str:
    """Repair Telex / VNI keystroke residue in a name, only where the repair is
    far more plausible as Vietnamese than the text as typed.

    Per word, a reading of its keys (:func:`repair_token`) is taken when

    * the word matches a word of ``reference`` (the register candidate) once
      repaired; a word already equal to a reference word stays;
    * it was typed with VNI digits or tone symbols (no name has them), unless
      the name holds a word that is not Vietnamese at all;
    * otherwise (Telex keys are ordinary letters: Max, Hans, Rosa) the name
      must look Vietnamese (every other word a Vietnamese syllable, the bare
      skeleton of a name syllable, or residue) and the reading must be a name
      syllable of some weight in :mod:`vaxlib.vn.namedata`; when another
      word of the name is unmistakable residue, any name syllable will do,
      or any syllable typed with letter-making keys (aa, dd, w …).

    >>> repair_keystrokes("Nguyeenx Thij Hoangf")
    'Nguyễn Thị Hoàng'
    >>> repair_keystrokes("Nguye64n Va8n An")
    'Nguyễn Văn An'
    >>> repair_keystrokes("Nguyen Van Tuyen"), repair_keystrokes("Kim Thị Mary"), repair_keystrokes("KIM JI HOON")
    ('Nguyen Van Tuyen', 'Kim Thị Mary', 'KIM JI HOON')
    >>> repair_keystrokes("LEE"), repair_keystrokes("LEE", reference="LEE MIN JUN")
    ('LÊ', 'LEE')
    """
    parts = _SPLIT.split(s)
    words = [i for i, p in enumerate(parts) if p and not p.isspace()]
    if not words:
        return s
    readings = {i: _reading(parts[i]) for i in words}
    if all(r is None for r in readings.values()):
        return s
    ref_keys: dict[str, str] = {}
    ref_lower: set[str] = set()
    if reference:
        for w in reference.split():
            ref_keys.setdefault(tone_key(w), w.lower())
            ref_lower.add(w.lower())
    shares = _name_syllable_shares()
    foreign = False
    for i in words:
        w = parts[i]
        if readings[i] is not None or not w.isascii():
            if readings[i] is None and not is_syllable(w) and any(ch.isalpha() for ch in w):
                foreign = True  # letters with marks that are no Vietnamese syllable (Müller)
            continue
        if not any(ch.isalpha() for ch in w):
            continue
        low = w.lower()
        if not (is_syllable(low) or is_skeleton(low)) or low not in _name_folds():
            foreign = True  # Jones, Min, Seo: not a (bare) name syllable
    n = len(words)
    position = {i: ("any" if n == 1 else "family" if k == 0 else "given" if k == n - 1 else "middle")
                for k, i in enumerate(words)}

    def share(i: int, role: str | None = None) -> float:
        key = tone_key(readings[i][0])
        role = role or position[i]
        if role == "middle":  # a second given-like word (Thu Hà) sits there too
            return max(shares["middle"].get(key, 0.0), shares["given"].get(key, 0.0))
        return shares[role].get(key, 0.0)

    def strong(i: int) -> bool:
        r = readings[i]
        if r is None:
            return False
        if r[1] == "vni":
            return True
        low = parts[i].lower()
        if share(i) >= _ROLE_SHARE[position[i]]:
            return True
        # letter-making keys (Bieen, Dduwcs), a tone key inside the word (Thafnh), or the
        # loan rhyme oong: a name syllable in any place will do
        typed_like_telex = bool(_MODIFIER_KEYS.search(low)) or _INNER_TONE_KEY.search(low) is not None
        return share(i, "any") > 0 and (typed_like_telex or (n > 1 and low.endswith(_LOAN_RHYMES)))

    evidence = {i for i in words if strong(i) and not parts[i].lower().endswith(_LOAN_RHYMES)}
    out = list(parts)
    for i in words:
        r = readings[i]
        if r is None:
            continue
        if reference:
            if parts[i].lower() in ref_lower:
                continue
            if tone_key(r[0]) in ref_keys:
                # in the register's tone convention (Thuy3 for a register Thuỷ is Thuỷ)
                out[i] = _restore_case(parts[i], nfc(ref_keys[tone_key(r[0])]))
                continue
        if foreign:
            continue
        if strong(i) or ((evidence - {i}) and (share(i, "any") > 0 or _MODIFIER_KEYS.search(parts[i].lower()))):
            out[i] = r[0]
    return "".join(out)


@lru_cache(maxsize=1)
def _name_syllable_shares() -> dict[str, dict[str, float]]:
    """tone_key of a name syllable -> its share, by role (family, middle, given, any)."""
    from vaxlib.vn import namedata

    return namedata.syllable_shares()


@lru_cache(maxsize=1)
def _name_folds() -> frozenset[str]:
    return frozenset(fold_diacritics(k) for k in _name_syllable_shares()["any"])

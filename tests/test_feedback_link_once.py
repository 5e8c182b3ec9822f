"""``vax feedback``'s link is one matcher pass (issue #13).

The link fits m and rho on the reports' own candidate pairs with u and the
namesake pi held from the register's match.  Until session 12 it did so with a
first ``run_match`` over every pair (``top_candidates`` = the whole pool) only
to read the pairs' levels back from the candidates table, prepared the reports
a third time, and then ran ``run_match`` again with the fitted model: blocking,
preparation and comparison of the same pairs twice.  Now ``run_match(refit=True)``
fits in its own model stage.  These tests hold the two properties that change
rests on: the pairs are compared once, and the model (and so every answer) is
the one the old two passes gave, float for float.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from vaxlib.feedback import RegisterStats, _frequency_keys, _match_records, _with_register_frequencies, \
    candidate_registry, link_feedback
from vaxlib.match.pipeline import MatchSettings, run_match

from test_feedback_pool import kids_named_in


@pytest.fixture(scope="module")
def synthetic():
    from vaxlib import config
    from vaxlib.synth import generate

    prof = config.load_yaml(config.PARAMETERS_DIR / "errors.yaml")
    prof["feedback"] = {**(prof.get("feedback") or {}), "complaints_per_person": 0.1}  # ~600 reports
    t = generate(6000, 11, provinces=["79", "01", "48"], errors=prof)
    model = run_match(t["registry"], t["vaccinations"]).model  # the register's own match (model.json)
    return t, model


def _two_pass(registry: pd.DataFrame, records: pd.DataFrame, settings: MatchSettings | None, model,
              n_registry: int):
    """The link as main c6ad1f5 computed it, kept here as the reference: ``_reports_model`` (a
    ``run_match`` keeping every candidate pair, levels read back from the candidates table, the
    reports prepared again, m by EM with u held, rho on the refitted weights) and then a second
    ``run_match`` with that model."""
    from vaxlib.match.compare import FIELDS, LEVELS
    from vaxlib.match.model import estimate_rho, fit_counts, fit_from_counts, outside_reference
    from vaxlib.match.pipeline import score_pairs
    from vaxlib.match.prepare import prepare_records
    from vaxlib.vn.text import text_or_empty as _text

    s = settings or MatchSettings()
    ids = pd.Index(_text(records["record_id"]))
    every = dataclasses.replace(s, top_candidates=len(registry) + 1)
    pairs = run_match(registry, records, every, model=model, progress=lambda _: None,
                      n_registry=n_registry).candidates
    levels = pd.DataFrame({f: pd.Index(["null", *LEVELS[f]]).get_indexer(
        pairs[f"level_{f}"].to_numpy(dtype=object)) - 1 for f in FIELDS})
    reg_tf = registry.assign(person_id=_text(registry["person_id"])).drop_duplicates("person_id").set_index(
        "person_id")
    pid = pairs["person_id"].to_numpy(dtype=object)
    tf = {f: reg_tf[f"_tf_{f}"].reindex(pid).to_numpy(dtype=float) for f in ("name", "dob")}
    fitted = fit_from_counts(model.u, fit_counts(levels, tf, seed=s.seed), n_registry,
                             em_iterations=s.em_iterations)
    fitted.namesake = dict(model.namesake)
    rec = prepare_records(records)
    pair_rec = ids.get_indexer(pairs["record_id"].to_numpy(dtype=object))
    reference = outside_reference(rec, pd.DataFrame({"rec": pair_rec}), levels)
    no_id_evidence = (levels["id"].to_numpy() < 0) | reference[pair_rec]
    weight = score_pairs(fitted, levels, tf, no_id_evidence).sum(axis=1).to_numpy()
    fitted.rho, fitted.rho_by_kind = estimate_rho(pair_rec, weight, rec["id_kind"].to_numpy(dtype=object),
                                                  n_registry)
    return fitted, run_match(registry, records, s, model=fitted, progress=lambda _: None, n_registry=n_registry)


def _pool(t, reports: pd.DataFrame, n: int | None = None) -> tuple[pd.DataFrame, int]:
    """The candidate pool of ``reports`` with the whole register's term frequencies, as link_feedback makes
    it, and the register's size (``n``: pretend the register is that large, for the prior odds)."""
    reg = t["registry"]
    n = len(reg) if n is None else n
    counts = {k: v.value_counts() for k, v in _frequency_keys(reg).items()}
    return _with_register_frequencies(candidate_registry(reports, reg), reg, RegisterStats(n, counts)), n


@pytest.mark.parametrize("scale,em_sample", [(1, None), (40, None), (1, 100)],
                         ids=["register as it is", "register 40x larger (prior odds)", "EM on a sample"])
def test_the_held_model_equals_the_old_two_pass_fit(synthetic, monkeypatch, scale, em_sample):
    """m, the dose-history u, u held, pi held, rho and rho per kind of number: every float of the model
    equals the old two passes', and so do the matches and the candidates of the link.

    The register's model carries namesake cells (as a large register's does).  ``em_sample``: EM runs on a
    random sample of each training session's pairs (at national scale, over 500 000 pairs), drawn in the
    pairs' order: the one pass fits in the old candidates table's order, so the sample is the same."""
    import functools

    import vaxlib.match.model as fs

    t, fitted = synthetic
    model = dataclasses.replace(fitted, namesake={(0, 2): 0.5, (0, 3): 0.2, (1, 0): 0.25})
    if em_sample is not None:
        monkeypatch.setattr(fs, "fit_counts", functools.partial(fs.fit_counts, em_sample=em_sample))
    records = _match_records(t["feedback"])
    pool, n = _pool(t, t["feedback"], len(t["registry"]) * scale)
    old_model, old = _two_pass(pool, records, None, model, n)
    new = run_match(pool, records, model=model, progress=lambda _: None, n_registry=n, refit=True)
    assert new.model.to_dict() == old_model.to_dict()
    assert new.model.namesake == old_model.namesake == model.namesake and new.model.u_idless.keys() == \
        old_model.u_idless.keys()
    assert new.model.n_registry == n and new.model.rho != model.rho  # refitted, not the register's
    for f in model.u:  # u held (but the dose-history u, refitted on the reports' look-alikes)
        if f not in ("phone", "dose"):
            assert np.array_equal(new.model.u[f], model.u[f])
    pd.testing.assert_frame_equal(new.matches, old.matches, check_exact=True)
    pd.testing.assert_frame_equal(new.candidates, old.candidates, check_exact=True)


def test_without_pairs_or_with_a_repeated_report_id_the_held_model_stays(synthetic):
    """No candidate pair at all (nothing to fit on), or a report id twice (the old fit kept the register's
    model then): the link scores with the register's model as it is."""
    t, model = synthetic
    reg = t["registry"]
    nobody = pd.DataFrame({"feedback_id": ["X1"], "full_name": ["Zzyx Qwv"], "dob": ["1901-01-01"],
                           "id_number": [None], "sex": [None], "phone": [None]})
    r = run_match(reg.iloc[:50], _match_records(nobody), model=model, progress=lambda _: None, refit=True)
    assert r.model is model
    twice = pd.concat([t["feedback"].iloc[:30], t["feedback"].iloc[:1]], ignore_index=True)
    a = link_feedback(twice, reg, model=model, prefilter=False)
    b = run_match(_with_register_frequencies(reg, reg), _match_records(twice), model=model,
                  progress=lambda _: None).matches
    assert a["match_probability"].tolist() == b["match_probability"].tolist()


def _counting(monkeypatch) -> list[int]:
    """Patch the matcher's pair comparison to record the size of every batch it compares."""
    import vaxlib.match.pipeline as pipeline

    calls: list[int] = []
    real = pipeline.compare_pairs

    def counted(rec, reg, pairs, *args, **kwargs):
        calls.append(len(pairs))
        return real(rec, reg, pairs, *args, **kwargs)

    monkeypatch.setattr(pipeline, "compare_pairs", counted)
    return calls


@pytest.mark.parametrize("narrowed", [False, True], ids=["whole register", "narrowed register"])
def test_the_reports_pairs_are_compared_once(synthetic, monkeypatch, narrowed):
    """link_feedback compares exactly what one run_match over the pool compares (stage 1 and stage 2,
    each pair batch once): not a first pass for the model and a second for the answers."""
    t, model = synthetic
    fb = t["feedback"].iloc[:40]  # (few: a narrowed register this large is masked again)
    reg = t["registry"]
    calls = _counting(monkeypatch)
    if narrowed:
        counts = {k: v.value_counts() for k, v in _frequency_keys(reg).items()}
        link_feedback(fb, reg, model=model, register=RegisterStats(len(reg) + 1, counts))
        pool, _ = _pool(t, fb)
    else:
        link_feedback(fb, reg, model=model, prefilter=False)
        pool = _with_register_frequencies(reg, reg)
    link_calls = list(calls)
    calls.clear()
    run_match(pool, _match_records(fb), model=model, progress=lambda _: None)
    assert len(calls) == 2 and sum(calls) > 0  # the matcher's own single pass: stage 1, stage 2
    assert link_calls == calls


_kids = kids_named_in


def test_the_children_are_linked_against_their_own_candidates_found_in_the_register_scan(synthetic, monkeypatch):
    """load_inputs keeps the candidates of the reports and of the children named in them, and notes the
    children's own while it reads the register (the rows prepared once for both sets of keys); the
    children's link takes its candidates from those rows instead of masking (preparing) the whole narrowed
    register again, with the answers of the narrowed register and of the whole register."""
    from vaxlib.feedback import candidate_keys, candidate_mask

    t, model = synthetic
    reg, fb = t["registry"], t["feedback"]
    kids = _kids(fb)
    assert len(kids) >= 5
    cols = ["full_name", "dob", "id_number"]
    looked_up = pd.concat([fb[cols], kids[cols]], ignore_index=True)
    cache: dict = {}
    narrowed = reg[candidate_mask(looked_up, reg, candidate_keys(looked_up), cache)]  # as load_inputs keeps it
    kid_mask = candidate_mask(kids[cols], reg, candidate_keys(kids[cols]), cache)  # on the same prepared rows
    pd.testing.assert_series_equal(kid_mask, candidate_mask(kids[cols], reg))  # = prepared anew
    pool = reg[kid_mask]
    assert 0 < len(pool) < len(narrowed) and pool.index.isin(narrowed.index).all()
    counts = {k: v.value_counts() for k, v in _frequency_keys(reg).items()}
    register = RegisterStats(len(reg), counts)

    masked: list[int] = []
    real_mask = candidate_mask
    monkeypatch.setattr("vaxlib.feedback.candidate_mask",
                        lambda fb_, rows, *a, **k: masked.append(len(rows)) or real_mask(fb_, rows, *a, **k))
    few = kids.iloc[:4]  # (so few that their own candidates are masked again, within the pool)
    reused = link_feedback(kids, narrowed, model=model, register=register, pool=pool)
    reused_few = link_feedback(few, narrowed, model=model, register=register, pool=pool)
    assert max(masked, default=0) <= len(pool)  # the narrowed register is not masked again
    masked.clear()
    own = link_feedback(few, narrowed, model=model, register=register)  # as main did: the narrowed register
    assert masked == [len(narrowed)]
    monkeypatch.undo()
    pd.testing.assert_frame_equal(reused_few, own, check_exact=True)
    whole = link_feedback(kids, reg, model=model, prefilter=False)
    pd.testing.assert_frame_equal(reused, whole, check_exact=True)
    assert reused["link_status"].isin(["verified", "fix", "review"]).any()


#: (case, typed number, linked writer, confirmed records (person, number typed), the child found)
CHILD_CASES = [
    ("child's dose under the parent's number", "079090001234", "079090001234",
     [("079090001234", "079090001234"), ("079210005678", "079090001234")], "079210005678"),
    ("the parent's own records only: nobody", "079090001234", "079090001234",
     [("079090001234", "079090001234")], None),
    ("two persons on the number: the named child", "079090001234", "079090001234",
     [("079210005678", "079090001234"), ("079212009999", "079090001234")], "079210005678"),
    ("under the writer's number, typed number blank", "", "079090001234",
     [("079210005678", "079090001234")], "079210005678"),
    ("another number's records do not count", "079090001234", "079090001234",
     [("079210005678", "001085004321")], None),
]


@pytest.mark.parametrize("case,typed,writer,records,child", CHILD_CASES, ids=[c[0] for c in CHILD_CASES])
def test_a_child_is_found_on_the_records_typed_with_the_parents_number(case, typed, writer, records, child):
    """The records typed with the number a parent gives (or the parent's own, when linked) name the child:
    a person other than the parent whose registered name is the child's named in the message."""
    from vaxlib.feedback import _link_children
    from vaxlib.complaints.understand import read_message

    registry = pd.DataFrame({"person_id": ["079090001234", "079210005678", "079212009999", "001085004321"],
                             "full_name": ["Trần Văn Hùng", "Trần Minh Khang", "Trần Thị Mai", "Lê Văn Tám"],
                             "dob": ["1990-05-17", "2010-09-02", "2012-01-01", "1985-11-02"],
                             "sex": "", "old_id": "", "province_code": "79"})
    message = "Con tôi tên Trần Minh Khang sinh ngày 02/09/2010 chưa có mũi 2 trên sổ sức khỏe điện tử"
    fb = pd.DataFrame({"feedback_id": ["PA1"], "message": [message], "typed_id": [typed], "person_id": [writer],
                       "phone": [None]})
    rec = pd.DataFrame({"record_id": [f"R{i}" for i in range(len(records))], "status": "verified",
                        "person_id": [p for p, _ in records], "id_digits": [n for _, n in records]})
    claims = [read_message(message)]
    assert claims[0].subject == "child"
    out = _link_children(fb, claims, registry, rec, None)
    if child is None:  # then the matcher looks for the named child (here: by name and dob, in this register)
        assert out.get("PA1", (None,))[0] in (None, "079210005678")
        assert not any(r[0] == "079210005678" and r[1] in {typed, writer} for r in records)
    else:
        assert out["PA1"] == (child, "fix")

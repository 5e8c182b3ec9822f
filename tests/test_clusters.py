"""Mismatch clusters, labels and the cluster figures."""
from __future__ import annotations

import random
import unicodedata

import pandas as pd
import plotly.graph_objects as go
import pytest

from vaxlib import plots
from vaxlib.review.clusters import (
    CLUSTER_COLUMNS,
    UnknownClusterError,
    cluster_record_ids,
    cluster_records,
    describe_cluster,
    find_clusters,
    mismatch_records,
    split_codes,
)
from vaxlib.review.labels import (
    ACTION_LABELS,
    ERROR_LABELS,
    ERROR_PHRASES,
    error_label,
    month_label,
)
from vaxlib.schema import ERROR_CODES, columns

NOISE_CODES = ["name:no_diacritics", "id:lost_leading_zero", "dob:format", "sex:missing", "name:typo"]


def build(habit_n: int = 40, seed: int = 7):
    """A facility habit (CS-79-0123 swaps day and month in October 2021) hidden in noise."""
    rng = random.Random(seed)
    vax, mat = [], []

    def add(facility, prov, date, status, codes):
        rid = f"R{len(vax) + 1:05d}"
        vax.append(dict(record_id=rid, full_name="Nguyễn Văn An", dob="02/03/1990", sex="Nam",
                        id_number="079090000001", phone="", province_code=prov, facility_id=facility,
                        facility_province=prov, dose_number="1", vaccination_date=date,
                        vaccine="Pfizer", lot_number="L1"))
        mat.append(dict(record_id=rid, status=status, person_id="079090000001", match_probability=0.9,
                        error_codes=";".join(codes), corrected_full_name=None, corrected_dob=None,
                        corrected_sex=None, corrected_id_number=None, person_key=rid))

    for i in range(habit_n):
        add("CS-79-0123", "79", f"2021-10-{1 + i % 28:02d}", "fix" if i % 4 else "review",
            ["dob:day_month_swap"] + (["name:no_diacritics"] if i % 10 == 0 else []))
    # the same facility in another month, a little
    for i in range(3):
        add("CS-79-0123", "79", "2021-11-03", "fix", ["dob:day_month_swap"])
    facilities = [("CS-01-0007", "01"), ("CS-48-0002", "48"), ("CS-79-0456", "79")]
    for _ in range(150):
        fac, prov = rng.choice(facilities)
        month = rng.choice(["2021-09", "2021-10", "2021-11", "2021-12"])
        codes = rng.sample(NOISE_CODES, rng.choice([1, 1, 2]))
        add(fac, prov, f"{month}-{rng.randint(1, 28):02d}", rng.choice(["fix", "review", "unmatched"]), codes)
    # records that are not mismatches never count
    for i in range(60):
        add("CS-79-0123", "79", "2021-10-10", "verified", [])
    add("CS-79-0123", "79", "2021-10-10", "invalid", ["id:missing"])
    add("CS-79-0999", "79", "2021-10-11", "unmatched", [])
    v = pd.DataFrame(vax, columns=columns("vaccinations"))
    m = pd.DataFrame(mat)
    return v, m


@pytest.fixture(scope="module")
def data():
    return build()


def test_facility_habit_is_the_top_cluster(data):
    v, m = data
    clusters = find_clusters(v, m)
    assert list(clusters.columns) == list(CLUSTER_COLUMNS)
    top = clusters.iloc[0]
    assert (top["kind"], top["pattern"], top["facility_id"], top["facility_province"], top["period"]) == (
        "code", "dob:day_month_swap", "CS-79-0123", "79", "2021-10")
    assert top["n_records"] == 40 and top["rank"] == 1
    assert (top["n_fix"], top["n_review"], top["n_unmatched"]) == (30, 10, 0)
    assert top["description_vi"] == "CS-79-0123 đảo ngày và tháng sinh ở 40 bản ghi trong tháng 10/2021"
    assert top["description_en"] == "CS-79-0123 swapped day and month on 40 records in October 2021"
    assert unicodedata.is_normalized("NFC", top["description_vi"])
    # ranked by size, deterministic, ids unique
    assert clusters["n_records"].is_monotonic_decreasing
    assert clusters["cluster_id"].is_unique
    assert clusters.equals(find_clusters(v, m))


def test_combination_clusters_and_drill_down(data):
    v, m = data
    clusters = find_clusters(v, m)
    combo = clusters[(clusters["kind"] == "combination") & (clusters["facility_id"] == "CS-79-0123")]
    row = combo.iloc[0]
    assert row["pattern"] == "dob:day_month_swap;name:no_diacritics" and row["n_records"] == 4
    assert row["description_vi"] == (
        "CS-79-0123 đảo ngày và tháng sinh và gõ tên không dấu ở 4 bản ghi trong tháng 10/2021")
    recs = cluster_records(clusters, row["cluster_id"], v, m)
    assert len(recs) == 4
    assert set(recs["error_codes"]) == {"dob:day_month_swap;name:no_diacritics"}
    assert {"full_name", "vaccination_date", "status", "corrected_dob", "person_key"} <= set(recs.columns)
    # the top cluster's drill-down has exactly its records
    top = clusters.iloc[0]
    ids = cluster_record_ids(clusters, top["cluster_id"], v, m)
    assert len(ids) == top["n_records"] == 40 and ids == sorted(ids)
    sub = m[m["record_id"].isin(ids)]
    assert sub["error_codes"].str.contains("dob:day_month_swap").all()
    assert set(sub["status"]) == {"fix", "review"}
    with pytest.raises(UnknownClusterError):
        cluster_records(clusters, "no|such|cluster|id", v, m)


def test_every_cluster_drills_down_to_its_size(data):
    v, m = data
    clusters = find_clusters(v, m, dims=("province", "period"))
    pre = mismatch_records(v, m)
    for row in clusters.itertuples():
        assert len(cluster_records(clusters, row.cluster_id, v, m, mismatches=pre)) == row.n_records
    row = clusters.iloc[-1]
    assert cluster_records(clusters, row["cluster_id"], v, m).equals(
        cluster_records(clusters, row["cluster_id"], v, m, mismatches=pre))


def test_dimensions_can_be_dropped(data):
    v, m = data
    by_facility = find_clusters(v, m, kinds=("code",), dims=("facility",))
    top = by_facility.iloc[0]
    assert (top["pattern"], top["facility_id"], top["period"], top["n_records"]) == (
        "dob:day_month_swap", "CS-79-0123", "*", 43)
    assert top["description_vi"] == "CS-79-0123 đảo ngày và tháng sinh ở 43 bản ghi"
    by_province = find_clusters(v, m, kinds=("code",), dims=("province",))
    hcm = by_province[(by_province["pattern"] == "dob:day_month_swap")].iloc[0]
    assert hcm["description_vi"] == "Hồ Chí Minh đảo ngày và tháng sinh ở 43 bản ghi"
    assert hcm["description_en"] == "Ho Chi Minh City swapped day and month on 43 records"
    # no code and unmatched: the pseudo-code "none"; verified/invalid never count
    everything = find_clusters(v, m, kinds=("code",), dims=())
    assert everything.set_index("pattern").loc["none", "n_records"] == 1
    assert "id:missing" not in set(everything["pattern"])
    total = find_clusters(v, m, kinds=("code",), dims=())["n_records"].sum()
    exploded = sum(max(1, len(split_codes(c))) for c, s in zip(m["error_codes"], m["status"])
                   if s in ("fix", "review", "unmatched"))
    assert total == exploded
    with pytest.raises(ValueError):
        find_clusters(v, m, dims=("district",))


def test_min_size_and_top(data):
    v, m = data
    c = find_clusters(v, m, min_size=3, top=3)
    assert len(c) == 3 and (c["n_records"] >= 3).all() and c["rank"].tolist() == [1, 2, 3]
    full = find_clusters(v, m)
    big = find_clusters(v, m, min_size=10)
    assert big["cluster_id"].tolist() == full.loc[full["n_records"] >= 10, "cluster_id"].tolist()


@pytest.mark.parametrize("cluster, lang, expected", [
    (dict(pattern="dob:day_month_swap", facility_id="CS-79-0123", facility_province="79", period="2021-10",
          n_records=412), "vi", "CS-79-0123 đảo ngày và tháng sinh ở 412 bản ghi trong tháng 10/2021"),
    (dict(pattern="dob:day_month_swap", facility_id="CS-79-0123", facility_province="79", period="2021-10",
          n_records=412), "en", "CS-79-0123 swapped day and month on 412 records in October 2021"),
    (dict(pattern="id:lost_leading_zero", facility_id="CS-01-0001", facility_province="01", period="2022-03",
          n_records=1), "en", "CS-01-0001 lost the leading zero of the ID number on 1 record in March 2022"),
    (dict(pattern="name:tone_placement", facility_id="*", facility_province="01", period="2022-01",
          n_records=7), "vi", "Hà Nội đặt dấu thanh khác kiểu (hoà/hòa) ở 7 bản ghi trong tháng 1/2022"),
    (dict(pattern="sex:missing;id:old_cmnd", facility_id="*", facility_province="*", period="*",
          n_records=9), "vi", "Các cơ sở tiêm nhập số CMND cũ thay cho số CCCD và bỏ trống giới tính ở 9 bản ghi"),
])
def test_describe_cluster(cluster, lang, expected):
    assert describe_cluster(cluster, lang) == expected


def test_labels_cover_every_code_in_both_languages():
    for code in ERROR_CODES:
        for table in (ERROR_LABELS, ERROR_PHRASES):
            vi, en = table[code]["vi"], table[code]["en"]
            assert vi and en and vi != en
            assert unicodedata.is_normalized("NFC", vi)
    assert error_label("dob:day_month_swap") == "Đảo ngày và tháng sinh"
    assert error_label("name:no_diacritics", "en") == "Name without diacritics"
    assert error_label("name:new_code") == "name:new_code"  # a future code still shows
    assert [ACTION_LABELS[a]["vi"] for a in ("accept", "reject", "edit", "defer")] == [
        "Duyệt", "Từ chối", "Sửa", "Để sau"]
    assert month_label("2021-10") == "tháng 10/2021" and month_label("2021-10", "en") == "October 2021"
    with pytest.raises(ValueError):
        error_label("dob:typo", "fr")


# ---------------------------------------------------------------- figures

def test_treemap(data):
    v, m = data
    fig = plots.error_treemap(v, m)
    assert isinstance(fig, go.Figure)
    t = fig.data[0]
    values = dict(zip(t.ids, t.values))
    assert values["dob:day_month_swap"] == 43
    assert values["dob"] == sum(val for i, val in values.items() if i.startswith("dob:"))
    assert values["all"] == sum(values[f] for f in ("id", "name", "dob", "sex", "none") if f in values)
    labels = dict(zip(t.ids, t.labels))
    assert labels["dob:day_month_swap"] == "Đảo ngày và tháng sinh" and labels["dob"] == "Ngày sinh"
    en = plots.error_treemap(v, m, lang="en").data[0]
    assert dict(zip(en.ids, en.labels))["dob:day_month_swap"] == "Day and month swapped"
    assert fig.layout.title.text == "Các loại lỗi trong bản ghi chưa khớp"


def test_heatmap(data):
    v, m = data
    fig = plots.facility_error_heatmap(v, m, top=4)
    h = fig.data[0]
    mism = m["status"].isin(["fix", "review", "unmatched"]).to_numpy()
    per_facility = v.loc[mism, "facility_id"].value_counts()
    assert list(h.y) == per_facility.index[:4].tolist() and "CS-79-0123" in h.y
    col = list(h.x).index("Đảo ngày và tháng sinh")
    assert h.z[list(h.y).index("CS-79-0123")][col] == 43
    assert sum(h.z[i][col] for i in range(4)) == 43
    assert fig.layout.yaxis.title.text == "Cơ sở tiêm"
    assert plots.facility_error_heatmap(v, m, lang="en").layout.yaxis.title.text == "Facility"


def test_errors_over_time(data):
    v, m = data
    fig = plots.errors_over_time(v, m)
    dob = next(tr for tr in fig.data if tr.name == "Ngày sinh")
    by_month = dict(zip(dob.x, dob.y))
    oct_dob = sum(1 for c, s, d in zip(m["error_codes"], m["status"], v["vaccination_date"])
                  if s in ("fix", "review", "unmatched") and d.startswith("2021-10")
                  for code in split_codes(c) if code.startswith("dob:"))
    assert by_month["tháng 10/2021"] == oct_dob >= 40
    assert list(dob.x) == ["tháng 9/2021", "tháng 10/2021", "tháng 11/2021", "tháng 12/2021"]
    by_code = plots.errors_over_time(v, m, by="code", top_codes=2, lang="en")
    assert len(by_code.data) == 3 and by_code.data[-1].name == "Other"
    assert by_code.layout.barmode == "stack"


def test_cluster_bar(data):
    v, m = data
    clusters = find_clusters(v, m)
    fig = plots.cluster_bar(clusters, top=5)
    bar = fig.data[0]
    assert len(bar.y) == 5 and bar.y[-1] == clusters.iloc[0]["description_vi"] and bar.x[-1] == 40


def test_clusters_name_the_facility_when_the_data_has_facility_names(data):
    """A supervisor knows "Trạm Y tế phường Tân Định", not CS-79-0123: descriptions and the cluster tables
    say both where ``facility_name`` is carried (io's extra column), the code alone where it is not."""
    from vaxlib.widgets import clusters_html

    v, m = data
    named = v.assign(facility_name=v["facility_id"].map({"CS-79-0123": "Trạm Y tế phường Tân Định",
                                                          "CS-01-0007": "Bệnh viện quận Ba Đình"}))
    clusters = find_clusters(named, m)
    top = clusters.iloc[0]
    assert top["facility_name"] == "Trạm Y tế phường Tân Định"
    assert top["description_vi"] == ("Trạm Y tế phường Tân Định (CS-79-0123) đảo ngày và tháng sinh ở 40 bản ghi "
                                     "trong tháng 10/2021")
    assert top["description_en"].startswith("Trạm Y tế phường Tân Định (CS-79-0123) swapped day and month")
    other = clusters[clusters["facility_id"] == "CS-48-0002"].iloc[0]  # no name in the data: the code alone
    assert other["facility_name"] == "" and other["description_vi"].startswith("CS-48-0002 ")
    assert "Trạm Y tế phường Tân Định (CS-79-0123)" in clusters_html(clusters, "vi")
    by_province = find_clusters(named, m, dims=("province",))
    assert (by_province["facility_name"] == "").all()
    assert find_clusters(v, m)["facility_name"].eq("").all()

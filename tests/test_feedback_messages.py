"""Reading Vietnamese complaints: table-driven cases written by hand (not by the generator) and
properties of the dose/date readers."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaxlib.complaints.understand import child_named, normalise, product_of_word, read_message

# --------------------------------------------------------------------------- dose ordinals
DOSES = [
    ("Em đã tiêm mũi thứ ba hôm 12/12 mà chưa thấy cập nhật", (3,)),
    ("mũi ba của tôi chưa có trên VNeID", (3,)),
    ("Thiếu liều 3 trên sổ sức khỏe điện tử", (3,)),
    ("Chưa có M3, tiêm ở trạm y tế phường", (3,)),
    ("chua thay m2 tren app", (2,)),
    ("Mũi đầu tiên (AZ) không hiển thị", (1,)),
    ("mui thu nhat chua duoc cap nhat", (1,)),
    ("Tôi tiêm lần tiêm thứ 2 từ tháng 9 năm ngoái mà vẫn chưa có", (2,)),
    ("Thiếu mũi số 4 ạ", (4,)),
    ("MŨI THỨ HAI CHƯA CÓ", (2,)),
    ("Mũi 1 và mũi 2 đều chưa có", (1, 2)),
    ("Làm thế nào để đổi số điện thoại?", ()),
    ("Đã tiêm đủ 3 mũi nhưng hệ thống chỉ hiển thị 2 mũi", ()),  # counts, not ordinals
]


@pytest.mark.parametrize("message,doses", DOSES)
def test_dose_ordinals(message, doses):
    assert read_message(message).doses == doses


COUNTS = [
    ("Đã tiêm đủ 3 mũi nhưng hệ thống chỉ hiển thị 2 mũi", 3, "missing_dose"),
    ("tiem du 2 mui roi ma app chi co 1", 2, "missing_dose"),
    ("Tôi đã tiêm ba mũi nhưng không có chứng nhận", 3, "no_certificate"),
    ("Mũi 2 chưa có", None, "missing_dose"),
]


@pytest.mark.parametrize("message,total,intent", COUNTS)
def test_dose_counts(message, total, intent):
    c = read_message(message)
    assert c.total_doses == total and c.intent == intent


BOOSTERS = [
    ("Tôi tiêm mũi nhắc lại ngày 5/3/2022 rồi mà chưa có", True),
    ("mui tang cuong chua cap nhat", True),
    ("Mũi booster Pfizer không hiện", True),
    ("Thiếu mũi 2", False),
]


@pytest.mark.parametrize("message,booster", BOOSTERS)
def test_booster_words(message, booster):
    c = read_message(message)
    assert c.booster is booster and c.intent == "missing_dose"


# --------------------------------------------------------------------------- dates
DATES = [
    ("tiêm ngày 20/04/2022", ((20, 4, 2022),)),
    ("tiêm ngày 5/3/2022", ((5, 3, 2022),)),
    ("ngày 20-04-2022", ((20, 4, 2022),)),
    ("ngày 20.04.2022", ((20, 4, 2022),)),
    ("2022-04-20", ((20, 4, 2022),)),
    ("ngày 20 tháng 4 năm 2022", ((20, 4, 2022),)),
    ("hôm 20 tháng 4", ((20, 4, None),)),
    ("tiêm hôm 12/11 ở phường", ((12, 11, None),)),
    ("tiêm ngày 20/4/22", ((20, 4, 2022),)),
    ("ng 20/4/2022", ((20, 4, 2022),)),
    # the date of an earlier complaint is not the date of a dose
    ("Tôi đã phản ánh từ hôm 02/04/2022 mà chưa được giải quyết. Mũi 2 ngày 15/08/2021 chưa có",
     ((15, 8, 2021),)),
    ("không có ngày nào", ()),
]


@pytest.mark.parametrize("message,dates", DATES)
def test_dates(message, dates):
    assert read_message(message).dates == dates


# --------------------------------------------------------------------------- products and negation
PRODUCTS = [
    ("Mũi 2 tôi tiêm Modena nhưng app ghi là Pfizer", ("MO",), ("PF",), "wrong_vaccine"),
    ("Mũi 1 không phải pfizer mà là AZ", ("AZ",), ("PF",), "wrong_vaccine"),
    ("mui 3 ko phai vero, e tiem moderna", ("MO",), ("VC",), "wrong_vaccine"),
    ("Loại vắc xin mũi 1 bị ghi nhầm thành Sinopharm, thực tế tôi tiêm Astra", ("AZ",), ("VC",), "wrong_vaccine"),
    ("Tôi tiêm mũi 3 Phizer ngày 1/3/2022 nhưng chưa có", ("PF",), (), "missing_dose"),
    ("Mũi 2 Astra Zeneca chưa được cập nhật", ("AZ",), (), "missing_dose"),
    ("Chưa thấy mũi 1 Vero Cell", ("VC",), (), "missing_dose"),
    ("Thiếu mũi 2 của tôi, tôi tên Nguyễn Thị Thanh Hiền", (), (), "missing_dose"),  # names are not products
    ("app ghi e tiêm moderna mũi 2 nhưng thực ra là pfizer", ("PF",), ("MO",), "wrong_vaccine"),
    ("Tôi tiêm mũi 2 Pfizer nhưng hệ thống ghi là AZ", ("PF",), ("AZ",), "wrong_vaccine"),
]


@pytest.mark.parametrize("message,received,recorded,intent", PRODUCTS)
def test_products_and_negation(message, received, recorded, intent):
    c = read_message(message)
    assert (c.received, c.recorded, c.intent) == (received, recorded, intent)


@pytest.mark.parametrize("word,code", [
    ("modena", "MO"), ("mordena", "MO"), ("phizer", "PF"), ("pfizzer", "PF"), ("az", "AZ"), ("astra", "AZ"),
    ("astrazenica", "AZ"), ("vero", "VC"), ("sinopharm", "VC"), ("sinopham", "VC"), ("sputnik", "SV"),
    ("abdala", "AB"), ("thanh", None), ("hien", None), ("tiem", None), ("moderna", "MO"),
])
def test_product_words(word, code):
    assert product_of_word(word) == code


# --------------------------------------------------------------------------- what the complaint asks
INTENTS = [
    ("Tôi muốn hỏi thủ tục cấp hộ chiếu vắc xin để xuất cảnh", "question", "other"),
    ("cho hỏi làm sao để xin hộ chiếu vaccine ạ", "question", "other"),
    ("Tài khoản VNeID của tôi bị khóa, nhờ mở khóa giúp", "account", "other"),
    ("ko nhan dc ma OTP khi dang nhap", "account", "other"),
    ("Mũi tiêm ngày 3/9/2021 bị ghi 2 lần", "duplicate_record", "duplicate_record"),
    ("App hiện trùng mũi 1", "duplicate_record", "duplicate_record"),
    ("Trên hồ sơ có mũi tiêm ngày 4/10/2021 nhưng tôi không hề tiêm", "not_mine", "wrong_personal_info"),
    ("Sai ngày sinh trên chứng nhận, đề nghị sửa lại", "wrong_personal_info", "wrong_personal_info"),
    ("Họ tên trên thẻ xanh bị sai so với căn cước công dân", "wrong_personal_info", "wrong_personal_info"),
    ("Co so tiem nhap sai ng sinh cua e", "wrong_personal_info", "wrong_personal_info"),
    ("Tại sao mũi thứ ba của tôi không hiển thị?", "missing_dose", "missing_dose"),
    ("Không tải được chứng nhận tiêm chủng", "no_certificate", "wrong_personal_info"),
    ("Thông tin trên app không đúng, kiểm tra giúp", "vague", "other"),
    ("Xin cấp lại chứng nhận tiêm chủng vì bị mất", "question", "other"),  # a request, not a data problem
    ("Nhờ xem lại hồ sơ tiêm giúp tôi", "vague", "other"),
]


@pytest.mark.parametrize("message,intent,category", INTENTS)
def test_intents(message, intent, category):
    c = read_message(message)
    assert (c.intent, c.category) == (intent, category)


FIELDS = [
    ("Sai họ tên và ngày sinh", ("name", "dob")),
    ("Sai năm sinh, sai giới tính", ("dob", "sex")),
    ("Thông tin họ tên bị sai so với CCCD", ("name",)),  # the ID card is the reference, not a field
    ("Mũi 2 bị nhập sai số CCCD", ("id",)),
]


@pytest.mark.parametrize("message,fields", FIELDS)
def test_fields(message, fields):
    assert read_message(message).fields == fields


# --------------------------------------------------------------------------- who the complaint is about
SUBJECTS = [
    ("Con tôi tên Lê Minh Khang sinh ngày 02/09/2010 tiêm mũi 2 bị ghi số CCCD của tôi", "child",
     ("Lê Minh Khang", "02/09/2010")),
    ("Bé nhà tôi Trần Gia Hân (15072012) chưa có mũi 1", "child", ("Trần Gia Hân", "15072012")),
    ("Phản ánh giúp con gái tôi: Phạm Thị Mai Anh, mũi 2 chưa có", "child", ("Phạm Thị Mai Anh", "")),
    ("con trai e Vo Van Toan (3/4/2009) chua co m1", "child", ("Vo Van Toan", "3/4/2009")),
    ("Tôi tiêm mũi 2 chưa có", "self", None),
    ("Ba tôi tên Nguyễn Văn Tư, sinh 1950, tiêm mũi 1 ngày 20/7/2021 chưa có", "relative", ("Nguyễn Văn Tư", "1950")),
    ("Mẹ em tiêm mũi 2 AZ ngày 12/10/2021 nhưng app chưa cập nhật", "relative", None),
    ("mũi ba tôi chưa có", "self", None),  # the third dose, not "my father"
]


@pytest.mark.parametrize("message,subject,named", SUBJECTS)
def test_subject_and_child(message, subject, named):
    assert read_message(message).subject == subject
    assert child_named(message) == named


# --------------------------------------------------------------------------- texting and folding
def test_texting_style_reads_like_the_full_text():
    full = read_message("Tôi tiêm mũi 2 vắc xin Pfizer ngày 15/8/2021 nhưng không được cập nhật")
    texting = read_message("e tiem m2 vx pfizer ng 15/8/2021 nhg ko dc cap nhat")
    no_marks = read_message("Toi tiem mui 2 vac xin Pfizer ngay 15/8/2021 nhung khong duoc cap nhat")
    assert full == texting == no_marks
    assert full.doses == (2,) and full.received == ("PF",) and full.dates == ((15, 8, 2021),)


def test_normalise_folds_and_expands():
    assert normalise("MŨI 3 ko đc cập nhật") == "mui 3 khong duoc cap nhat"
    assert normalise("M3") == "mui 3"


# --------------------------------------------------------------------------- properties
_FORMS = [
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}", lambda d: f"{d.day}/{d.month}/{d.year}",
    lambda d: f"{d.day:02d}-{d.month:02d}-{d.year}", lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: d.isoformat(), lambda d: f"{d.day} tháng {d.month} năm {d.year}",
]


@settings(max_examples=200, deadline=None)
@given(st.dates(dt.date(2021, 3, 8), dt.date(2022, 4, 30)), st.sampled_from(range(len(_FORMS))),
       st.sampled_from(["Mũi 2 tiêm ngày {} chưa có", "tiem ngay {} ma chua thay", "{}: thiếu mũi 1"]))
def test_every_date_form_reads_back(day, form, template):
    c = read_message(template.format(_FORMS[form](day)))
    assert c.dates == ((day.day, day.month, day.year),)


_ORDINALS = {1: ["mũi 1", "mũi thứ 1", "mũi thứ nhất", "mũi đầu", "liều 1", "M1"],
             2: ["mũi 2", "mũi thứ hai", "mũi hai", "liều 2", "M2", "lần tiêm thứ 2"],
             3: ["mũi 3", "mũi thứ ba", "mũi ba", "liều 3", "M3", "mũi số 3"],
             4: ["mũi 4", "mũi thứ tư", "mũi bốn", "liều 4", "M4"]}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(n, f) for n, fs in _ORDINALS.items() for f in fs]), st.booleans(), st.booleans())
def test_every_ordinal_form_reads_back(case, fold, upper):
    from vaxlib.vn.text import fold_diacritics

    n, form = case
    text = f"Tôi đã tiêm {form} ngày 03/01/2022 nhưng chưa có trên PC-Covid"
    text = fold_diacritics(text) if fold else text
    text = text.upper() if upper else text
    c = read_message(text)
    assert c.doses == (n,) and c.intent == "missing_dose"
